"""PaddleOCR-VL (transformers' native classes) answering instruction pairs, optionally with LoRA.

The model owns its label space, the processor (:class:`~ocrlab.families.paddleocr_vl.processor.VLProcessor`:
tokenizer, image processor, chat template), and hands the data module its collator
(:meth:`data_encoder`). Built from a local model directory (``pretrained``: weights and processor
from there, never a hub) or from a size preset (``net``: random weights; a LoRA run on those is a
smoke test only, and says so). ``lora`` wraps the network in peft adapters scoped to model parts
(the language model by default: the vision tower has ``q_proj``/``k_proj``/``v_proj`` too).

Training: the loss on the answer tokens only (the collator masks prompt and image tokens).
Validation and test generate the answers (batched, left padding, KV cache; ``generation``:
``max_new_tokens``, repetition guards) and score them with
:class:`~ocrlab.families.paddleocr_vl.extraction.ExtractionScorer` (field accuracy, Donut F1 / tree accuracy,
TEDS, numeric consistency, one ``overall_score``); text-crop answers get a CER. ``evaluate_base``
scores the weights the run starts from on the validation split before the first step, so a user
sees when fine-tuning made a model worse. Exports are Hugging Face directories (a PEFT adapter, or
the full model), optionally merged (``merge=True``: a plain transformers model directory).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import torch

from ocrlab.errors import CheckpointError, ConfigError
from ocrlab.families.paddleocr_vl.processor import VLProcessor, pixel_bounds
from ocrlab.lightning_modules.generation import GenerativeModule
from ocrlab.model_files import EXPORT_META
from ocrlab.reports import Report, Table
from ocrlab.utils.io import atomic_write_json

log = logging.getLogger(__name__)

MODEL_INPUTS = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")
DEFAULT_LORA = {"r": 8, "alpha": 32, "dropout": 0.05, "parts": ["language_model"], "modules": None,
                "target_modules": None}
ADAPTER_DIR, MODEL_DIR = "adapter", "model"


class PaddleOCRVL(GenerativeModule):
    task = "extraction"
    label_space_keys = ("processor",)
    quantization_modes: ClassVar[dict[str, str]] = {
        "int8": "CPU, dynamic INT8 of every nn.Linear (torch.ao quantize_dynamic, per-channel weights)",
        "int8_cuda": "CUDA, bitsandbytes 8-bit weights (LLM.int8()); needs ocrlab[quant]",
        "nf4": "CUDA, bitsandbytes 4-bit NF4 weights, bf16 compute; needs ocrlab[quant]",
    }

    def __init__(self, optimizer: Callable[..., torch.optim.Optimizer], processor: VLProcessor | None = None,
                 scheduler: Callable[..., Any] | None = None, net: dict | None = None, pretrained: str | None = None,
                 lora: dict | None = None, max_length: int = 2048, gradient_checkpointing: bool = False,
                 generation: dict | None = None, score_tables: bool = True, evaluate_base: bool = False):
        super().__init__(optimizer, scheduler, generation)
        from ocrlab.families.paddleocr_vl import net as vl
        from ocrlab.families.paddleocr_vl.lora import apply_lora, lora_target_regex

        self.pretrained = pretrained
        if pretrained is not None:
            model, loaded = vl.load_pretrained(pretrained)
            low, high = pixel_bounds(loaded.image_processor)
            processor = VLProcessor(pretrained=str(pretrained), vocab_size=model.config.text_config.vocab_size,
                                    min_pixels=low, max_pixels=high)
            processor._processor = loaded
        else:
            if processor is None:
                raise ConfigError("model.processor is required when model.pretrained is not set (the processor "
                                  "a model built from a config is trained with)")
            model = self._from_config(net or {}, processor)
            if lora:
                log.warning("model.pretrained is not set: LoRA adapters on a randomly initialised %s model "
                            "(a smoke test; adapters on random weights learn next to nothing)", (net or {}).get(
                                "preset", "tiny"))
        self.processor = processor
        self.lora = {**DEFAULT_LORA, **lora} if lora else None
        if self.lora:
            unknown = sorted(set(lora) - set(DEFAULT_LORA))
            if unknown:
                raise ConfigError(f"model.lora: unknown key(s) {unknown}; expected {sorted(DEFAULT_LORA)}")
            target = self.lora["target_modules"] or lora_target_regex(self.lora["parts"], self.lora["modules"])
            model = apply_lora(model, self.lora["r"], self.lora["alpha"], self.lora["dropout"], target)
        # from_pretrained returns the model in eval mode and Lightning does not switch modes at fit
        # start: without this a pretrained base trained in eval mode, unless evaluate_base's
        # self.train() ran first (so a resumed run, which skips that, differed from a straight one)
        self.net = model.train()
        if gradient_checkpointing:
            vl.set_gradient_checkpointing(self.net, True)
        self.max_length = int(max_length)
        self.score_tables = score_tables
        self.evaluate_base = evaluate_base
        self.val_records: list[dict] = []  # the last validation's scored answers (mining reads them)
        self._records: list[dict] = []
        self._texts: list[tuple[str, str]] = []  # (prediction, truth) of text-crop answers

    @staticmethod
    def _from_config(net: dict, processor: VLProcessor):
        from transformers import PaddleOCRVLForConditionalGeneration

        from ocrlab.families.paddleocr_vl import net as vl
        from ocrlab.families.paddleocr_vl.hf_processor import align_config

        cfg = vl.model_config(net)
        tok = processor.get().tokenizer
        align_config(cfg, tok, min_vocab_size=processor.vocab_size)
        cfg._attn_implementation = "sdpa"
        model = PaddleOCRVLForConditionalGeneration(cfg)
        gen = model.generation_config
        gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = tok.pad_token_id, tok.eos_token_id, tok.bos_token_id
        return model

    # -- contract ------------------------------------------------------------------------------
    @classmethod
    def label_spaces_to_fit(cls, model_cfg: dict) -> list[str]:
        # a pretrained directory brings its own processor: model.processor is not used then
        return [] if model_cfg.get("pretrained") else super().label_spaces_to_fit(model_cfg)

    @property
    def base_model(self):
        """The PaddleOCR-VL model under the adapters (the network itself without LoRA)."""
        return self.net.get_base_model() if self.lora else self.net

    @property
    def layer_class(self) -> type[torch.nn.Module]:
        """The decoder block: FSDP's wrap unit (``_no_split_modules`` of the HF model)."""
        return type(self.base_model.model.language_model.layers[0])

    def fsdp_units(self) -> list[torch.nn.Module]:
        return list(self.base_model.model.language_model.layers)

    def data_encoder(self):
        """The chat collator (processor, chat format, ``max_length``) the pairs data module batches with."""
        from ocrlab.families.paddleocr_vl.hf_processor import check_consistent
        from ocrlab.families.paddleocr_vl.inputs import VLChatCollator

        processor = self.processor.get()  # trains the tokenizer on first use
        check_consistent(self.base_model.config, processor.tokenizer, "model.processor")
        return VLChatCollator(processor, max_length=self.max_length)

    # -- quantized inference (evaluate.py quantize=...; OcrModule.quantized) ----------------------
    def _quantize(self, mode: str) -> dict[str, Any]:
        """LoRA adapters are merged first: peft's LoRA layers wrap the Linear layers, which then
        are not plain ``nn.Linear`` to quantize (merging is exact within 1e-6). ``int8``: every
        Linear (both towers, projector, head) quantized in place on the CPU. ``int8_cuda`` /
        ``nf4``: bitsandbytes quantizes while ``from_pretrained`` loads, so the current weights go
        through a temporary model directory and come back quantized on the current GPU."""
        from ocrlab import quantization as q
        from ocrlab.families.paddleocr_vl import net as vl
        from ocrlab.families.paddleocr_vl.lora import merge_lora

        if mode in q.BNB_MODES:
            q.require_cuda_bitsandbytes(mode)  # before the merge: the model is unchanged when this fails
        merged = bool(self.lora)
        if self.lora:
            self.net, self.lora = merge_lora(self.net), None
        if mode == q.INT8:
            report = q.dynamic_int8(self.net.cpu())
            return {**report, "lora_merged": merged,
                    # torch's dynamic INT8 kernels are CPU kernels and take fp32 activations
                    "trainer": {"accelerator": "cpu", "devices": 1, "precision": "32-true"}}
        import tempfile

        import bitsandbytes as bnb

        config = q.bitsandbytes_config(mode)
        with tempfile.TemporaryDirectory(prefix="ocrlab_quantize_") as tmp:
            vl.save_pretrained(self.net, self.processor.get(), tmp)
            self.net, _ = vl.load_pretrained(tmp, dtype=torch.bfloat16, quantization_config=config,
                                             device_map={"": torch.cuda.current_device()})
        self.net.eval()
        layers = sum(isinstance(m, (bnb.nn.Linear8bitLt, bnb.nn.Linear4bit)) for m in self.net.modules())
        return {"method": f"transformers BitsAndBytesConfig({q.BNB_MODES[mode]}) in from_pretrained, bf16 otherwise",
                "bitsandbytes": bnb.__version__, "layers": layers, "lora_merged": merged,
                "memory_footprint_mb": round(self.net.get_memory_footprint() / 1e6, 3),
                "trainer": {"accelerator": "gpu", "devices": 1}}

    # -- steps ---------------------------------------------------------------------------------
    def _inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        return {k: batch[k] for k in MODEL_INPUTS if k in batch}

    def _loss(self, batch: dict) -> torch.Tensor:
        return self.net(**self._inputs(batch), labels=batch["labels"], use_cache=False).loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        bs = batch["input_ids"].shape[0]
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=bs)
        self.log_learning_rate(bs)
        return loss

    def generation_inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        return self._inputs(batch)

    def generation_tokenizer(self):
        return self.processor.get().tokenizer

    def generation_config(self):
        return self.base_model.generation_config

    def _score(self, batch: dict) -> list[dict]:
        from ocrlab.families.paddleocr_vl.extraction import TABLE_TASK, TASK_FIELDS, score_answer

        texts = self.generate_texts(batch["generate"])
        rows = []
        for row, text in zip(batch["rows"], texts, strict=True):
            task = row["task"]
            if task in TASK_FIELDS or task == TABLE_TASK:
                truth = row["answer"] if task == TABLE_TASK else json.loads(row["answer"])
                record = score_answer(row["id"], text, truth, task, row["meta"], tables=self.score_tables)
                record["image"] = row["image_paths"][0] if row["image_paths"] else None  # for the answers table
                self._records.append(record)
                errors = sorted(record["errors"])
            else:  # a text crop (OCR): its CER
                from ocrlab.metrics.text import line_cer

                self._texts.append((text, row["answer"]))
                errors = [] if text == row["answer"] else [f"cer={line_cer(text, row['answer']):.3f}"]
            rows.append({"id": row["id"], "task": task, "prediction": text, "truth": row["answer"],
                         "errors": errors, "images": row["image_paths"], **row["meta"]})
        return rows

    @torch.no_grad()
    def predict_step(self, batch: dict, batch_idx: int = 0) -> list[str]:
        """The generated answers of a batch (its ``generate`` part when it has one)."""
        return self.generate_texts(batch.get("generate", batch))

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        bs = batch["input_ids"].shape[0]
        self.log("val/loss", self._loss(batch), on_epoch=True, batch_size=bs, sync_dist=True)
        self._score(batch)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        bs = batch["input_ids"].shape[0]
        self.log("test/loss", self._loss(batch), on_epoch=True, batch_size=bs, sync_dist=True)
        self.test_rows.extend(self._score(batch))

    def on_validation_epoch_start(self) -> None:
        self._reset_scores()

    def on_test_epoch_start(self) -> None:
        self._reset_scores()
        self.test_rows = []

    def _reset_scores(self) -> None:
        self._records, self._texts = [], []
        self.reset_generation_speed()

    def _gathered(self) -> tuple[list[dict], list[tuple[str, str]], float, int]:
        """Every rank's answers (a collective under DDP: every rank calls it)."""
        mine = (self._records, self._texts, self.generation_seconds, self.generated_tokens)
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return mine
        parts: list = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, mine)
        return ([r for p in parts for r in p[0]], [t for p in parts for t in p[1]], max(p[2] for p in parts),
                sum(p[3] for p in parts))

    def epoch_metrics(self, prefix: str, gathered: tuple | None = None) -> dict[str, float]:
        """Metrics of the answers scored since the last reset (all ranks' when distributed)."""
        from ocrlab.families.paddleocr_vl.extraction import ExtractionScorer
        from ocrlab.metrics.text import line_cer

        records, texts, seconds, tokens = gathered or self._gathered()
        out: dict[str, float] = {}
        if records:
            scorer = ExtractionScorer.from_records(records)
            out.update({f"{prefix}{k}": float(v) for k, v in scorer.compute().items()})
        if texts:
            out[f"{prefix}ocr_cer"] = sum(line_cer(p, t) for p, t in texts) / len(texts)
            out.setdefault(f"{prefix}overall_score", 1.0 - min(1.0, out[f"{prefix}ocr_cer"]))
        out[f"{prefix}generated_tokens_per_s"] = tokens / seconds if seconds else 0.0
        return out

    def on_validation_epoch_end(self) -> None:
        gathered = self._gathered()
        metrics = self.epoch_metrics("val/", gathered)
        self.val_records = gathered[0]
        # identical on every rank (gathered above): no further reduction
        self.log_dict(metrics, sync_dist=False, rank_zero_only=False)

    def on_test_epoch_end(self) -> None:
        gathered = self._gathered()
        self.log_dict(self.epoch_metrics("test/", gathered), sync_dist=False)
        self.test_report = self.build_test_report(gathered[0]) if gathered[0] else None

    def build_test_report(self, records: list[dict]) -> Report:
        """``extraction_report.json`` (metrics, breakdowns per field / hard kind / locale /
        currency, per-document errors); tables of the answers (page image, prediction, truth,
        errors) and of each breakdown."""
        from ocrlab.families.paddleocr_vl.extraction import ExtractionScorer

        report = ExtractionScorer.from_records(records).report()
        if self.quantization is not None:  # the scores are the quantized model's
            report["quantization"] = self.quantization
        answers = Table(["image", "id", "task", "prediction", "truth", "errors"],
                        [[r.get("image"), r["id"], r["task"], r["prediction"], json.dumps(r.get("truth"), ensure_ascii=False),
                          ", ".join(sorted(r["errors"]))] for r in records], image_columns=("image",))
        tables = {"test/answers": answers}
        for name, table in report["breakdown"].items():  # per field, group, task, hard kind, locale, currency
            columns = list(dict.fromkeys(k for values in table.values() for k in values))
            tables[f"test/by_{name}"] = Table([name, *columns],
                                              [[key, *(values.get(c) for c in columns)] for key, values in table.items()])
        return Report(files={"extraction_report.json": report}, tables=tables)

    # -- the weights the run starts from, scored first -----------------------------------------
    def on_train_start(self) -> None:
        super().on_train_start()
        if not self.evaluate_base or self.trainer.global_step > 0 or self.trainer.datamodule is None:
            return
        import itertools
        import math

        loader = self.trainer.datamodule.val_dataloader()
        limit = self.trainer.limit_val_batches  # the validation's own sample: the same batches
        batches = len(loader) if isinstance(limit, float) and limit >= 1.0 else (
            math.ceil(limit * len(loader)) if isinstance(limit, float) else int(limit))
        was_training = self.training
        self.eval()
        self._reset_scores()
        # outside a step: under FSDP1 the network's own parameters are gathered only in a forward
        with torch.no_grad():
            self.call_gathered("_score_batches", itertools.islice(loader, batches))
        self.train(was_training)
        metrics = self.epoch_metrics("base/")
        self._reset_scores()
        # at step 0 on the dashboards (self.log here would flush them at the first epoch's end, which
        # is the last step of a max_steps run); in callback_metrics for train()'s returned metrics
        self.trainer.callback_metrics.update({k: torch.tensor(float(v)) for k, v in metrics.items()})
        if self.trainer.is_global_zero:
            for logger in self.loggers:
                logger.log_metrics({k: float(v) for k, v in metrics.items()}, step=0)
            atomic_write_json(Path(self.trainer.default_root_dir) / "reports" / "base_model_scores.json", metrics)
        log.info("before fine-tuning: %s", ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))

    def _score_batches(self, batches: Iterable[dict]) -> None:
        for batch in batches:
            self._score(self.transfer_batch_to_device(batch, self.device, 0))

    # -- export ----------------------------------------------------------------------------------
    def export(self, directory: str | Path, merge: bool = False, **options: Any) -> Path:
        """A Hugging Face directory and ``ocrlab_model.json``: with LoRA the PEFT adapter
        (``adapter/``, the base named by ``pretrained``; a model built from a config has its base
        written too, ``model/``), without LoRA or with ``merge`` the full model (``model/``: a
        plain transformers directory that ``from_pretrained`` loads)."""
        unsupported = sorted(k for k, v in options.items() if v)
        if unsupported:
            raise ValueError(f"{type(self).__name__} has no export option {unsupported} (it has: merge)")
        from ocrlab.families.paddleocr_vl import net as vl
        from ocrlab.families.paddleocr_vl.lora import merge_lora, save_adapter

        directory = Path(directory)
        processor = self.processor.get()
        layout: dict[str, Any] = {"merged": bool(merge or not self.lora)}
        if self.lora and not merge:
            save_adapter(self.net, directory / ADAPTER_DIR)
            processor.save_pretrained(str(directory / ADAPTER_DIR))
            layout["adapter"] = ADAPTER_DIR
            if self.pretrained is None:  # no directory to name as the base: write it (without the
                # LoRA layers peft injected into it, which a plain from_pretrained would not read)
                vl.save_pretrained(copy.deepcopy(self.net).unload(), processor, directory / MODEL_DIR)
                layout["base"] = MODEL_DIR
        else:
            model = merge_lora(copy.deepcopy(self.net)) if self.lora else self.net
            vl.save_pretrained(model, processor, directory / MODEL_DIR)
            layout["model"] = MODEL_DIR
        meta = {**self.checkpoint_metadata(), "export": layout}
        atomic_write_json(directory / EXPORT_META, meta)
        return directory

    @classmethod
    def load_export(cls, directory: Path, meta: dict) -> PaddleOCRVL:
        """Rebuild from :meth:`export`'s directory: the merged model, or base + adapter."""
        from ocrlab.loading import build_model

        layout = meta.get("export") or {}
        config = dict(meta["model_config"])
        if layout.get("model"):  # a full model directory: no adapters left
            config.update(pretrained=str(directory / layout["model"]), lora=None)
            config.pop("processor", None)
            return build_model(config)
        adapter = directory / layout.get("adapter", ADAPTER_DIR)
        base = str(directory / layout["base"]) if layout.get("base") else config.get("pretrained")
        if base is None:
            raise CheckpointError(f"{directory}: an adapter export without a base model")
        config.update(pretrained=base, lora=None)
        config.pop("processor", None)
        module = build_model(config)
        from ocrlab.families.paddleocr_vl.lora import load_adapter

        module.net = load_adapter(module.net, adapter)
        module.lora = {**DEFAULT_LORA, **(meta["model_config"].get("lora") or {})}
        module.model_config = {**module.model_config, "lora": meta["model_config"].get("lora")}
        return module
