"""TrOCR: a vision transformer encoder and a text decoder reading a line image (transformers'
``VisionEncoderDecoderModel``), trained with cross-entropy on the line's tokens and evaluated by
generation (greedy or beam, :class:`~ocrlab.lightning_modules.generation.GenerativeModule`).

The model owns its label space, the tokenizer (:class:`~ocrlab.families.trocr.tokenizer.TrOCRTokenizer`),
and its input spec: every line is stretched to the encoder's image size (``model.net.encoder.image_size``,
[height, width]), as the saved ``TrOCRProcessor`` does, so an export read by plain transformers gives
the same text. Built from config (``net``), or from ``pretrained``: a local Hugging Face directory
(weights and tokenizer from there, never a hub), an ocrlab TrOCR checkpoint or export. ``lora`` wraps
the network in peft adapters scoped to the encoder and/or the decoder.

``ctc_weight`` > 0 adds a CTC head on the encoder's columns of patches, trained beside the decoder
((1 - w)·CE + w·CTC: hybrid CTC/attention, Watanabe et al. 2017). Trained from scratch, a decoder
first learns the text's language alone and its cross-attention finds the glyphs late; the CTC term
makes the encoder read from the first steps. Training only: generation, exports and the Hugging Face
directory use the encoder-decoder alone.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

import ocrlab.families.trocr.net as trocr_net
from ocrlab.datamodules.line_images import LineImageSpec
from ocrlab.errors import CheckpointError, ConfigError, DatasetError
from ocrlab.families.trocr.tokenizer import TrOCRTokenizer
from ocrlab.lightning_modules.generation import GenerativeModule
from ocrlab.lightning_modules.text_recognition import TextRecognitionModule
from ocrlab.model_files import EXPORT_META
from ocrlab.utils.io import atomic_write_json

log = logging.getLogger(__name__)

DEFAULT_LORA = {"r": 16, "alpha": 32, "dropout": 0.1, "parts": ["decoder"], "modules": ["q_proj", "k_proj", "v_proj"],
                "target_modules": None}
# the Linear layers of each part (transformers 5 names: ViT/DeiT and the decoder both have q/k/v_proj)
LORA_PART_PREFIXES = {"encoder": r"encoder\.layers\.\d+\.(?:attention|mlp)",
                      "decoder": r"decoder\.model\.decoder\.layers\.\d+(?:\.(?:self_attn|encoder_attn))?"}
LORA_PART_LINEARS = {"encoder": ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"),
                     "decoder": ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")}
MODEL_DIR = "model"


def is_hf_directory(path: Path) -> bool:
    """A plain Hugging Face model directory (``config.json``), not an ocrlab export."""
    return path.is_dir() and (path / "config.json").is_file() and not (path / EXPORT_META).is_file()


def load_base(path: str | Path) -> tuple[Any, TrOCRTokenizer]:
    """(network, tokenizer) of a local Hugging Face TrOCR directory, or of an ocrlab TrOCR
    checkpoint or export (its adapters merged). Anything else is an error naming the path."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"model.pretrained: {path} does not exist (a local TrOCR model directory, or an ocrlab "
                          "TrOCR checkpoint or export, is required: no model hub is contacted)")
    if is_hf_directory(path):
        return trocr_net.load_pretrained(path), TrOCRTokenizer(pretrained=str(path))
    from ocrlab.loading import load_model

    module = load_model(path)
    if not isinstance(module, TrOCR):
        raise CheckpointError(f"{path} holds a {type(module).__name__} ({module.task}), not a TrOCR model")
    return module.merged_network().train(), module.tokenizer


class TrOCR(TextRecognitionModule, GenerativeModule):
    label_space_keys = ("tokenizer",)
    quantization_modes: ClassVar[dict[str, str]] = {
        "int8": "CPU, dynamic INT8 of every nn.Linear (encoder, decoder, output projection; LoRA merged first)",
    }

    def __init__(self, optimizer: Callable[..., torch.optim.Optimizer], tokenizer: TrOCRTokenizer | None = None,
                 scheduler: Callable[..., Any] | None = None, net: dict | None = None, pretrained: str | None = None,
                 lora: dict | None = None, generation: dict | None = None, label_smoothing: float = 0.0,
                 ctc_weight: float = 0.0, num_val_samples_logged: int = 8):
        super().__init__(optimizer, scheduler, None, num_val_samples_logged, generation=generation)
        self.pretrained = pretrained
        if pretrained is not None:
            model, tokenizer = load_base(pretrained)
        else:
            if tokenizer is None or not isinstance(tokenizer, TrOCRTokenizer):
                raise ConfigError("model.tokenizer is required when model.pretrained is not set (a TrOCRTokenizer, or "
                                  "TokenizerOfTrainingTexts fitted from the training lines)")
            net = trocr_net.plain(net) or {}
            model = trocr_net.build_network(net.get("encoder") or {}, net.get("decoder") or {}, tokenizer)
        if model.config.decoder.vocab_size < len(tokenizer):
            raise CheckpointError(f"the decoder has {model.config.decoder.vocab_size} output rows but the tokenizer "
                                  f"{len(tokenizer)} entries")
        self.tokenizer = tokenizer
        height, width = trocr_net.image_size(model)
        self.input_spec = LineImageSpec(height=height, max_width=width, min_width=width, channels=3, fixed_width=True)
        pooler = getattr(model.encoder, "pooler", None)
        if pooler is not None:  # the decoder reads the token states, never the pooled one: no gradient
            pooler.requires_grad_(False)  # ever reaches it (DDP refuses unused trainable parameters)
        self.lora = None
        if lora:
            model = self._with_lora(model, trocr_net.plain(lora))
        self.net = model.train()
        self.label_smoothing = float(label_smoothing)
        self.ctc_weight = float(ctc_weight)
        if not 0.0 <= self.ctc_weight < 1.0:
            raise ConfigError(f"model.ctc_weight={ctc_weight}: expected 0 <= w < 1 (the CTC share of the loss)")
        # blank = <pad>, which is never a target
        self.ctc_head = torch.nn.Linear(trocr_net.encoder_width(model), len(tokenizer)) if self.ctc_weight else None
        # LoRA on a base that stays on disk: checkpoints hold the adapters only (the base is reloaded
        # from `pretrained`); Lightning then loads them non-strictly (checked: checkpoint_state_keys)
        self.adapter_only = bool(self.lora and pretrained is not None)
        self.strict_loading = not self.adapter_only

    def _with_lora(self, model, lora: dict):
        from ocrlab.lora import apply_lora, target_regex

        unknown = sorted(set(lora) - set(DEFAULT_LORA))
        if unknown:
            raise ConfigError(f"model.lora: unknown key(s) {unknown}; expected {sorted(DEFAULT_LORA)}")
        self.lora = {**DEFAULT_LORA, **lora}
        target = self.lora["target_modules"] or target_regex(LORA_PART_PREFIXES, LORA_PART_LINEARS, self.lora["parts"],
                                                             self.lora["modules"], what="model.lora")
        if self.pretrained is None:
            log.warning("model.pretrained is not set: LoRA adapters on randomly initialised weights (a smoke test)")
        return apply_lora(model, target, self.lora["r"], self.lora["alpha"], self.lora["dropout"])

    # -- contract ------------------------------------------------------------------------------
    @classmethod
    def label_spaces_to_fit(cls, model_cfg: dict) -> list[str]:
        # a pretrained model brings its own tokenizer: model.tokenizer is not used then
        return [] if model_cfg.get("pretrained") else super().label_spaces_to_fit(model_cfg)

    def line_labels(self) -> TrOCRTokenizer:
        return self.tokenizer

    @property
    def base_model(self):
        """The ``VisionEncoderDecoderModel`` under the adapters (the network itself without LoRA)."""
        return self.net.get_base_model() if self.lora else self.net

    def merged_network(self):
        """A copy of the network with any LoRA adapters merged: a plain ``VisionEncoderDecoderModel``."""
        from ocrlab.lora import merge_lora

        return merge_lora(copy.deepcopy(self.net)) if self.lora else copy.deepcopy(self.net)

    def frozen_config(self) -> dict:
        """The architecture as built (not the directory or checkpoint it came from), except for
        adapter-only checkpoints: their base is ``pretrained``, which loading reads again."""
        cfg = super().frozen_config()
        cfg.update(net=trocr_net.architecture(self.base_model))
        if not self.adapter_only:
            cfg["pretrained"] = None
        return cfg

    def checkpoint_state_keys(self) -> set[str]:
        if not self.adapter_only:
            return super().checkpoint_state_keys()
        trainable = {n for n, p in self.named_parameters() if p.requires_grad}
        return {k for k in self.state_dict() if k in trainable}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        state = checkpoint.get("state_dict")
        if self.adapter_only and isinstance(state, dict) and all(type(v) is torch.Tensor for v in state.values()):
            keys = self.checkpoint_state_keys()  # sharded (FSDP) states are saved whole
            checkpoint["state_dict"] = {k: v for k, v in state.items() if k in keys}

    @property
    def layer_classes(self) -> frozenset[type[torch.nn.Module]]:
        """The encoder's and the decoder's blocks: FSDP's two wrap units."""
        base = self.base_model
        return frozenset({type(trocr_net.encoder_layers(base)[0]), type(trocr_net.decoder_layers(base)[0])})

    def fsdp_units(self) -> list[torch.nn.Module]:
        base = self.base_model
        head = [self.ctc_head] if self.ctc_head is not None else []  # outside the network: sharded on its own
        return [*trocr_net.encoder_layers(base), *trocr_net.decoder_layers(base), *head]

    # -- steps ---------------------------------------------------------------------------------
    def decoder_targets(self, batch: dict) -> torch.Tensor:
        """``(batch, tokens)`` target ids, -100 after each line's ``</s>``."""
        lengths = batch["target_lengths"]
        limit = self.base_model.config.decoder.max_position_embeddings
        if int(lengths.max()) > limit:
            i = int(lengths.argmax())
            raise DatasetError(f"{batch['paths'][i]}: label {batch['labels'][i]!r} is {int(lengths[i])} tokens, more "
                               f"than the decoder's {limit} positions (raise model.net.decoder.max_position_embeddings)")
        return pad_targets(batch["targets"], lengths)

    def teacher_forced(self, net, pixel_values: torch.Tensor, targets: torch.Tensor):
        """``net``'s outputs (logits, encoder states) for ``targets`` fed shifted right after ``<s>``."""
        ids = self.tokenizer.ids
        decoder_inputs = shift_right(targets, ids["bos"], ids["pad"])
        return net(pixel_values=pixel_values, decoder_input_ids=decoder_inputs, use_cache=False)

    def teacher_forced_logits(self, net, pixel_values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``net``'s logits for ``targets``, in float32."""
        return self.teacher_forced(net, pixel_values, targets).logits.float()

    def forward_batch(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, targets, the encoder's states)."""
        targets = self.decoder_targets(batch)
        out = self.teacher_forced(self.net, batch["images"], targets)
        return out.logits.float(), targets, out.encoder_last_hidden_state

    def loss(self, outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch: dict) -> torch.Tensor:
        return self.loss_terms(outputs, batch)[0]

    def loss_terms(self, outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                   batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, targets, states = outputs
        ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100,
                             label_smoothing=self.label_smoothing)
        terms = {"ce_loss": ce} if self.ctc_head is not None else {}
        return self.with_ctc(ce, states, targets, terms), terms

    def with_ctc(self, loss: torch.Tensor, encoder_states: torch.Tensor, targets: torch.Tensor,
                 terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """``loss`` mixed with the encoder's CTC loss on ``targets`` (decoder targets, ``</s>``
        last, -100 after) when ``ctc_weight`` > 0 (the CTC term added to ``terms``)."""
        if self.ctc_head is None:
            return loss
        ctc = terms["ctc_loss"] = self.ctc_loss(encoder_states, targets)
        return (1.0 - self.ctc_weight) * loss + self.ctc_weight * ctc

    def ctc_loss(self, encoder_states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        frames = trocr_net.patch_columns(self.base_model, encoder_states)
        log_probs = self.ctc_head(frames).float().log_softmax(-1).transpose(0, 1)  # (frames, batch, vocab)
        lengths = (targets != -100).sum(1) - 1  # without </s>
        frame_counts = torch.full_like(lengths, log_probs.shape[0])
        return F.ctc_loss(log_probs, targets.clamp(min=0), frame_counts, lengths, blank=self.tokenizer.ids["pad"],
                          zero_infinity=True)

    def decode(self, outputs: Any, batch: dict) -> list[str]:
        return self.generate_texts(batch)  # validation reads by generation, as inference does

    @torch.no_grad()
    def recognize_batch(self, batch: dict) -> list[str]:
        return self.generate_texts(batch)

    def generation_inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        return {"pixel_values": batch["images"]}

    def generation_tokenizer(self):
        return self.tokenizer.get()

    def generation_config(self):
        return self.base_model.generation_config

    # -- quantized inference -------------------------------------------------------------------
    def _quantize(self, mode: str) -> dict[str, Any]:
        from ocrlab.quantization import dynamic_int8

        merged = bool(self.lora)
        self.net = self.merged_network().cpu().eval()
        self.lora = None
        report = dynamic_int8(self.net)
        return {**report, "lora_merged": merged, "trainer": {"accelerator": "cpu", "devices": 1, "precision": "32-true"}}

    # -- export --------------------------------------------------------------------------------
    def export(self, directory: str | Path, **options: Any) -> Path:
        """``model/``: a plain transformers directory (adapters merged) with its ``TrOCRProcessor``,
        beside ``ocrlab_model.json``."""
        unsupported = sorted(k for k, v in options.items() if v and k != "merge")
        if unsupported:
            raise ValueError(f"{type(self).__name__} has no export option {unsupported} (adapters are always merged)")
        directory = Path(directory)
        trocr_net.save_pretrained(self.merged_network(), self.tokenizer.get(), directory / MODEL_DIR)
        meta = self.checkpoint_metadata()
        meta["model_config"] = {**meta["model_config"], "lora": None}
        atomic_write_json(directory / EXPORT_META, {**meta, "export": {"model": MODEL_DIR}})
        return directory

    @classmethod
    def load_export(cls, directory: Path, meta: dict) -> TrOCR:
        from ocrlab.loading import build_model

        model_dir = directory / (meta.get("export") or {}).get("model", MODEL_DIR)
        if not (model_dir / "config.json").is_file():
            raise CheckpointError(f"{directory} is not a complete TrOCR export: {model_dir}/config.json is missing")
        config = {**meta["model_config"], "pretrained": str(model_dir), "lora": None}
        module = build_model(config)
        module.model_config = {**module.model_config, "pretrained": None}
        return module


def pad_targets(flat: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Concatenated target ids (the text-line batches' ``targets``) -> ``(batch, longest)``, -100 padded."""
    out = torch.full((len(lengths), max(1, int(lengths.max()))), -100, dtype=torch.long, device=flat.device)
    for i, row in enumerate(torch.split(flat, lengths.tolist())):
        out[i, : len(row)] = row
    return out


def shift_right(targets: torch.Tensor, start: int, pad: int) -> torch.Tensor:
    """Decoder inputs of ``targets``: ``<s>`` then the targets but the last, -100 read as padding."""
    inputs = targets.new_full(targets.shape, pad)
    inputs[:, 1:] = targets[:, :-1]
    inputs[:, 0] = start
    return inputs.masked_fill(inputs == -100, pad)
