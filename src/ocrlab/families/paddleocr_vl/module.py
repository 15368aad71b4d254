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

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import torch

from ocrlab.errors import ConfigError
from ocrlab.families.paddleocr_vl.answer_scores import answer_metrics, extraction_report
from ocrlab.families.paddleocr_vl.processor import VLProcessor, pixel_bounds
from ocrlab.lightning_modules.generation import GenerativeModule
from ocrlab.reports import Report
from ocrlab.utils.io import atomic_write_json

log = logging.getLogger(__name__)

MODEL_INPUTS = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")
DEFAULT_LORA = {"r": 8, "alpha": 32, "dropout": 0.05, "parts": ["language_model"], "modules": None,
                "target_modules": None}


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
    def layer_classes(self) -> frozenset[type[torch.nn.Module]]:
        """The decoder block: FSDP's wrap unit (``_no_split_modules`` of the HF model)."""
        return frozenset({type(self.base_model.model.language_model.layers[0])})

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
        """LoRA adapters merged first, then the network quantized (:func:`quantize_network`)."""
        from ocrlab.families.paddleocr_vl.quantized import quantize_network

        merged = bool(self.lora)
        self.net, report = quantize_network(self.net, self.processor, mode, merge=merged)
        self.lora = None
        return {**report, "lora_merged": merged}

    # -- steps ---------------------------------------------------------------------------------
    def _inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        return {k: batch[k] for k in MODEL_INPUTS if k in batch}

    def _loss(self, batch: dict) -> torch.Tensor:
        return self.net(**self._inputs(batch), labels=batch["labels"], use_cache=False).loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        bs = batch["input_ids"].shape[0]
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=bs)
        self.log_step_stats(bs)
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
        return answer_metrics(*(gathered or self._gathered()), prefix=prefix)

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
        return extraction_report(records, self.quantization)

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
        """A Hugging Face directory and ``ocrlab_model.json`` (:func:`export_hf`)."""
        unsupported = sorted(k for k, v in options.items() if v)
        if unsupported:
            raise ValueError(f"{type(self).__name__} has no export option {unsupported} (it has: merge)")
        from ocrlab.families.paddleocr_vl.hf_export import export_hf

        return export_hf(self, Path(directory), merge)

    @classmethod
    def load_export(cls, directory: Path, meta: dict) -> PaddleOCRVL:
        """Rebuild from :meth:`export`'s directory: the merged model, or base + adapter."""
        from ocrlab.families.paddleocr_vl.hf_export import load_hf_export

        return load_hf_export(directory, meta, DEFAULT_LORA)
