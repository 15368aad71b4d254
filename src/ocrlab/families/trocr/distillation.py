"""A TrOCR student distilled from a frozen teacher (PaddleOCR's ``DistillationModel`` shape: the
student trains, the teacher only answers).

``distill.mode``:

* ``logits``: token-level KD, α·KL(teacher ‖ student at temperature T)·T² + (1 − α)·CE
  (:func:`~ocrlab.families.trocr.kd_losses.token_kd_loss`); one vocabulary for both (checked);
* ``sequence``: the student learns the teacher's beam-search text for each training image
  (:mod:`~ocrlab.families.trocr.pseudo_labels`: generated once, cached on disk keyed by teacher and
  data), a ``ground_truth_share`` of the lines keeping their own label; or the text of any external
  teacher from a teacher-outputs file (``teacher_outputs``: JSONL image -> text, no teacher model);
  any vocabularies;
* ``on_policy``: GKD — a share λ of the batches trains on the student's own samples, scored token
  by token by the teacher with the generalized Jensen–Shannon divergence (β between forward and
  reverse KL), the others on the ground truth with the same divergence; plus (1 − α)·CE on the
  ground truth. One vocabulary.

The teacher is not a submodule: not in the optimizer, the checkpoints, the exports, nor wrapped by
DDP/FSDP (each rank holds it whole, in eval mode, without gradients). The student's checkpoint is
a plain :class:`~ocrlab.families.trocr.module.TrOCR`'s: it loads, evaluates and exports without
the teacher. ``student.init=from_teacher`` copies evenly spread encoder and decoder layers of the
teacher into the student (the teacher's widths, the student's depths).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import ocrlab.families.trocr.net as trocr_net
from ocrlab.errors import CheckpointError, ConfigError
from ocrlab.families.trocr.kd_losses import generalized_jsd, token_kd_loss
from ocrlab.families.trocr.module import TrOCR, is_hf_directory
from ocrlab.families.trocr.tokenizer import TrOCRTokenizer

log = logging.getLogger(__name__)

MODES = ("logits", "sequence", "on_policy")
DEFAULT_DISTILL = {"mode": "logits", "temperature": 5.0, "alpha": 0.5, "num_beams": 4, "ground_truth_share": 0.0,
                   "cache_dir": None, "on_policy_share": 0.5, "beta": 0.5, "sample_temperature": 1.0}
DEFAULT_STUDENT = {"init": "random", "tokenizer": "teacher"}


def _teacher_kind(path: Path) -> str:
    if not path.exists():
        raise ConfigError(f"model.teacher: {path} does not exist (a TrOCR checkpoint, an ocrlab export dir or a local "
                          "Hugging Face TrOCR model directory)")
    return "hf" if is_hf_directory(path) else "ocrlab"


def load_teacher(path: str | Path) -> TrOCR:
    """The teacher, frozen: a TrOCR checkpoint or export of ocrlab, or a local HF TrOCR directory."""
    path = Path(path)
    if _teacher_kind(path) == "hf":
        from ocrlab.optim import warmup_cosine  # any optimizer factory: the teacher never trains

        teacher = TrOCR(optimizer=warmup_cosine, pretrained=str(path))
    else:
        from ocrlab.loading import load_model

        teacher = load_model(path)
        if not isinstance(teacher, TrOCR):
            raise CheckpointError(f"model.teacher={path} holds a {type(teacher).__name__} ({teacher.task}), another "
                                  "family: the teacher must be a TrOCR model (checkpoint, export or HF directory)")
    teacher.eval().requires_grad_(False)
    return teacher


def teacher_tokenizer_config(path: str | Path) -> dict:
    """The teacher's tokenizer config, read without building the teacher."""
    path = Path(path)
    if _teacher_kind(path) == "hf":
        return TrOCRTokenizer(pretrained=str(path)).to_config()
    from ocrlab.loading import read_metadata

    meta = read_metadata(path)
    stored = (meta.get("label_space") or {}).get("tokenizer")
    target = str((meta.get("model_config") or {}).get("_target_", "?"))
    if stored is None or ".trocr." not in target:
        raise CheckpointError(f"model.teacher={path} holds a {target.rsplit('.', 1)[-1]}, another family: the teacher "
                              "must be a TrOCR model (checkpoint, export or HF directory)")
    return stored


class _Frozen:
    """Holds the teacher outside the module tree (so Lightning, DDP/FSDP and the checkpoint never see it)."""

    def __init__(self, module: TrOCR):
        self.module = module

    def on(self, device: torch.device) -> TrOCR:
        if next(self.module.parameters()).device != device:
            self.module.to(device)
        return self.module


class TrOCRDistillation(TrOCR):
    def __init__(self, optimizer: Callable[..., torch.optim.Optimizer], tokenizer: TrOCRTokenizer | None = None,
                 scheduler: Callable[..., Any] | None = None, net: dict | None = None, teacher: str | None = None,
                 teacher_outputs: str | None = None, student: dict | None = None, distill: dict | None = None,
                 pretrained: str | None = None, lora: dict | None = None, generation: dict | None = None,
                 label_smoothing: float = 0.0, ctc_weight: float = 0.0, num_val_samples_logged: int = 8):
        student = _checked("model.student", trocr_net.plain(student), DEFAULT_STUDENT)
        distill = _checked("model.distill", trocr_net.plain(distill), DEFAULT_DISTILL)
        _check_distill(distill, student, teacher, teacher_outputs)
        frozen = load_teacher(teacher) if teacher else None
        net = dict(trocr_net.plain(net) or {})
        if student["init"] == "from_teacher":
            if pretrained is not None:
                raise ConfigError(f"model.student.init=from_teacher builds the student from the teacher's layers; "
                                  f"model.pretrained={pretrained} gives it other weights: choose one")
            net = _student_shape(trocr_net.architecture(frozen.base_model), net)
            if len(tokenizer) != len(frozen.tokenizer):
                raise ConfigError(f"model.student.init=from_teacher copies the teacher's embeddings: the student's "
                                  f"tokenizer must be the teacher's (model.student.tokenizer=teacher); it has "
                                  f"{len(tokenizer)} entries, the teacher's {len(frozen.tokenizer)}")
        super().__init__(optimizer, tokenizer, scheduler, net=net, pretrained=pretrained, lora=lora, generation=generation,
                         label_smoothing=label_smoothing, ctc_weight=ctc_weight,
                         num_val_samples_logged=num_val_samples_logged)
        self.student_options, self.distill = student, distill
        if student["init"] == "from_teacher":
            self.copied_layers = trocr_net.copy_from_teacher(self.net, frozen.base_model)
            if self.ctc_head is not None and frozen.ctc_head is not None:  # same width, same vocabulary
                self.ctc_head.load_state_dict(frozen.ctc_head.state_dict())
        if self.distill["mode"] in ("logits", "on_policy"):
            _check_same_vocabulary(self.tokenizer, frozen.tokenizer, self.distill["mode"])
            if frozen.input_spec != self.input_spec:  # both read the same batch of images
                raise ConfigError(f"model.distill.mode={self.distill['mode']}: teacher and student read the same images, "
                                  f"but the teacher's input is {frozen.input_spec.height}x{frozen.input_spec.max_width} "
                                  f"px and the student's {self.input_spec.height}x{self.input_spec.max_width} (set "
                                  "model.net.encoder.image_size to the teacher's, or use model.distill.mode=sequence)")
        self.teacher_path, self.teacher_outputs = teacher, teacher_outputs
        self._teacher = _Frozen(frozen) if frozen is not None else None
        self.teacher_texts: dict[str, str] = {}  # image path -> the teacher's text (sequence mode)

    # -- what the student's checkpoint is -------------------------------------------------------------
    @classmethod
    def label_spaces_from_weights(cls, model_cfg: dict) -> dict[str, dict]:
        """``student.tokenizer=teacher`` (the default with a teacher model): the teacher's tokenizer."""
        student = {**DEFAULT_STUDENT, **(model_cfg.get("student") or {})}
        if not model_cfg.get("teacher") or student["tokenizer"] != "teacher":
            return {}
        return {"tokenizer": teacher_tokenizer_config(model_cfg["teacher"])}

    def frozen_config(self) -> dict:
        """A plain TrOCR's config: the student loads, evaluates and exports without its teacher."""
        cfg = super().frozen_config()
        for key in ("teacher", "teacher_outputs", "student", "distill"):
            cfg.pop(key, None)
        return {**cfg, "_target_": f"{TrOCR.__module__}.{TrOCR.__qualname__}"}

    def teacher(self) -> TrOCR:
        if self._teacher is None:
            raise ConfigError(f"model.distill.mode={self.distill['mode']} needs a teacher model (model.teacher)")
        return self._teacher.on(self.device)

    # -- the teacher's text (sequence mode) -----------------------------------------------------------
    def on_fit_start(self) -> None:
        super().on_fit_start()
        if self.distill["mode"] != "sequence":
            return
        from ocrlab.families.trocr.pseudo_labels import teacher_texts

        self.teacher_texts = teacher_texts(self, self.trainer)

    def sequence_targets(self, batch: dict) -> torch.Tensor:
        """The decoder targets of the teacher's texts (the lines' own labels for a
        ``ground_truth_share``, chosen per line and epoch from the seed, and where no text is known)."""
        share = self.distill["ground_truth_share"]
        rows = []
        for path, label in zip(batch["paths"], batch["labels"], strict=True):
            text = self.teacher_texts.get(path)
            if text is None or (share > 0 and _unit(path, self.current_epoch) < share):
                text = label
            rows.append(torch.tensor(self.tokenizer.encode(text), dtype=torch.long))
        lengths = torch.tensor([len(r) for r in rows])
        return self.decoder_targets({**batch, "targets": torch.cat(rows).to(self.device), "target_lengths": lengths})

    # -- training --------------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        mode = self.distill["mode"]
        images = batch["images"]
        terms: dict[str, torch.Tensor] = {}
        if mode == "sequence":
            targets = self.sequence_targets(batch)
            out = self.teacher_forced(self.net, images, targets)
            loss = terms["ce_loss"] = F.cross_entropy(out.logits.float().flatten(0, 1), targets.flatten(),
                                                      ignore_index=-100, label_smoothing=self.label_smoothing)
            loss = self.with_ctc(loss, out.encoder_last_hidden_state, self.decoder_targets(batch), terms)
        elif mode == "logits":
            logits, targets, states = self.forward_batch(batch)
            with torch.no_grad():
                teacher = self.teacher()
                t_logits = teacher.teacher_forced_logits(teacher.net, images, targets)
            loss, terms["kd_loss"], terms["ce_loss"] = token_kd_loss(logits, t_logits, targets,
                                                                     self.distill["temperature"], self.distill["alpha"])
            loss = self.with_ctc(loss, states, targets, terms)
        else:
            loss, terms = self._on_policy_loss(batch)
        bs = len(batch["labels"])
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=bs)
        for name, value in terms.items():
            self.log(f"train/{name}", value, on_step=True, on_epoch=True, batch_size=bs)
        self.log_step_stats(bs)
        return loss

    def _on_policy_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d = self.distill
        images = batch["images"]
        logits, truth, states = self.forward_batch(batch)
        ce = F.cross_entropy(logits.flatten(0, 1), truth.flatten(), ignore_index=-100)
        on_policy = _unit(f"on_policy:{self.global_step}", 0) < d["on_policy_share"]
        if on_policy:
            targets = self._student_samples(images)
            logits = self.teacher_forced_logits(self.net, images, targets)
        else:
            targets = truth
        with torch.no_grad():
            teacher = self.teacher()
            t_logits = teacher.teacher_forced_logits(teacher.net, images, targets)
        jsd = generalized_jsd(logits, t_logits, targets != -100, d["beta"])
        terms = {"jsd_loss": jsd, "ce_loss": ce, "on_policy_batch": torch.tensor(float(on_policy))}
        loss = self.with_ctc(d["alpha"] * jsd + (1.0 - d["alpha"]) * ce, states, truth, terms)
        return loss, terms

    @torch.no_grad()
    def _student_samples(self, images: torch.Tensor) -> torch.Tensor:
        """Targets of the student's own sampled lines (through ``</s>``; -100 after it)."""
        was_training = self.net.training
        self.net.eval()
        out = self.net.generate(pixel_values=images, do_sample=True, top_k=0,
                                temperature=self.distill["sample_temperature"],
                                max_new_tokens=self.generation["max_new_tokens"])
        self.net.train(was_training)
        ids = self.tokenizer.ids
        targets = out[:, 1:].clone()
        ended = (targets == ids["eos"]).long().cumsum(1)
        after = (ended - (targets == ids["eos"]).long()) > 0  # past the first </s>
        return targets.masked_fill(after, -100)


def _checked(what: str, given: dict | None, defaults: dict) -> dict:
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(f"{what}: unknown key(s) {unknown}; expected {sorted(defaults)}")
    return {**defaults, **given}


def _check_distill(d: dict, student: dict, teacher: str | None, teacher_outputs: str | None) -> None:
    if d["mode"] not in MODES:
        raise ConfigError(f"model.distill.mode={d['mode']!r}: expected one of {MODES}")
    if student["init"] not in ("random", "from_teacher"):
        raise ConfigError(f"model.student.init={student['init']!r}: expected random or from_teacher")
    if student["tokenizer"] not in ("teacher", "own"):
        raise ConfigError(f"model.student.tokenizer={student['tokenizer']!r}: expected teacher (the teacher's "
                          "tokenizer) or own (model.tokenizer, learned from the training lines)")
    for key, low, high in (("alpha", 0, 1), ("ground_truth_share", 0, 1), ("on_policy_share", 0, 1), ("beta", 0, 1)):
        if not low <= float(d[key]) <= high:
            raise ConfigError(f"model.distill.{key}={d[key]}: expected a value in [{low}, {high}]")
    for key in ("temperature", "sample_temperature"):
        if float(d[key]) <= 0:
            raise ConfigError(f"model.distill.{key}={d[key]}: expected > 0")
    if teacher is None and teacher_outputs is None:
        raise ConfigError("distillation needs a teacher: model.teacher=<a TrOCR checkpoint, export dir or local HF "
                          "directory (pretrained)> or model.teacher_outputs=<teacher-outputs JSONL>")
    if teacher is None and (d["mode"] != "sequence" or student["init"] == "from_teacher"):
        raise ConfigError(f"model.teacher_outputs gives the teacher's text only: model.distill.mode={d['mode']} and "
                          f"model.student.init={student['init']} need the teacher model (model.teacher); with a "
                          "teacher-outputs file use model.distill.mode=sequence")
    if teacher is not None and teacher_outputs is not None:
        raise ConfigError("give model.teacher or model.teacher_outputs, not both (the file replaces the teacher's "
                          "generated text)")


def _check_same_vocabulary(student: TrOCRTokenizer, teacher: TrOCRTokenizer, mode: str) -> None:
    if student.fingerprint() != teacher.fingerprint():
        raise ConfigError(f"model.distill.mode={mode} compares the two models token by token and needs one vocabulary, "
                          f"but the teacher's tokenizer has {len(teacher)} entries and the student's {len(student)} "
                          f"({teacher.name} vs {student.name}): use model.distill.mode=sequence (the student learns the "
                          "teacher's text, any vocabulary), or give the student the teacher's tokenizer "
                          "(model.student.tokenizer=teacher)")


def _student_shape(teacher_arch: dict, net: dict) -> dict:
    """The teacher's architecture with the student's depths (``from_teacher``: widths must match to copy)."""
    enc, dec = dict(teacher_arch["encoder"]), dict(teacher_arch["decoder"])
    enc["num_hidden_layers"] = int((net.get("encoder") or {}).get("num_hidden_layers", enc["num_hidden_layers"]))
    dec["decoder_layers"] = int((net.get("decoder") or {}).get("decoder_layers", dec["decoder_layers"]))
    log.info("model.student.init=from_teacher: the teacher's widths, %d encoder and %d decoder layers",
             enc["num_hidden_layers"], dec["decoder_layers"])
    return {"encoder": enc, "decoder": dec}


def _unit(key: str, epoch: int) -> float:
    """A number in [0, 1) fixed by ``key`` and ``epoch``: the same in a resumed run and on every rank."""
    digest = hashlib.sha256(f"{key}|{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
