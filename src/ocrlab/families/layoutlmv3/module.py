"""LayoutLMv3 multitask: document type, subtype (purchase orders) and BIO field labels per word.

The model owns its label space (:class:`~ocrlab.families.layoutlmv3.labels.DocumentLabelMap`, the
:class:`~ocrlab.families.layoutlmv3.tokenizer.DocumentTokenizer`) and its input spec (window length,
stride, page image size); the data module takes them from it (:meth:`data_encoder`).
Built from a config (``encoder``: sizes) or from a local HF model directory (``pretrained``);
``init_from`` starts from another ocrlab checkpoint's weights (domain fine-tuning; labels
appended to its map keep their trained rows).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ocrlab.errors import CheckpointError, ConfigError
from ocrlab.families.layoutlmv3 import building
from ocrlab.families.layoutlmv3.inputs import IGNORE, DocumentInputSpec
from ocrlab.families.layoutlmv3.labels import DocumentLabelMap
from ocrlab.families.layoutlmv3.metrics import (
    document_metrics,
    document_test_report,
    epoch_metrics,
    group_fields,
)
from ocrlab.families.layoutlmv3.net import (
    LayoutMultitaskNet,
    encoder_config,
    merge_windows,
    plain_encoder_settings,
)
from ocrlab.families.layoutlmv3.tokenizer import DocumentTokenizer
from ocrlab.lightning_modules.base import OcrModule
from ocrlab.utils.io import atomic_write_json

log = logging.getLogger(__name__)

DEFAULT_LOSS_WEIGHTS = {"doc_type": 1.0, "po_subtype": 1.0, "tokens": 1.0}


class LayoutLMv3Multitask(OcrModule):
    task = "documents"
    label_space_keys = ("labels", "tokenizer")

    #: test pages drawn with their predicted fields (the test report's ``test/pages`` table)
    num_test_pages_drawn = 16

    def __init__(self, labels: DocumentLabelMap, tokenizer: DocumentTokenizer,
                 optimizer: Callable[..., torch.optim.Optimizer], scheduler: Callable[..., Any] | None = None,
                 encoder: dict | None = None, pretrained: str | None = None, init_from: str | None = None,
                 max_length: int = 512, stride: int = 128, box_grid: int = 1, context_kernel: int = 0,
                 loss_weights: dict[str, float] | None = None,
                 dropout: float = 0.1, freeze: Sequence[str] = (), gradient_checkpointing: bool = False):
        super().__init__(optimizer, scheduler)
        self.labels = labels
        self.pretrained = pretrained
        unknown = sorted(set(loss_weights or {}) - set(DEFAULT_LOSS_WEIGHTS))
        if unknown:
            raise ConfigError(f"model.loss_weights: unknown {unknown}; expected keys {sorted(DEFAULT_LOSS_WEIGHTS)}")
        self.loss_weights = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
        self.input_spec = DocumentInputSpec(max_length, stride, box_grid)
        if pretrained is not None:
            config, tokenizer = building.pretrained_parts(Path(pretrained))
        else:
            config = encoder_config({**(encoder or {}), "vocab_size": tokenizer.num_embeddings})
        if config.max_position_embeddings < max_length + config.pad_token_id + 1:
            raise ConfigError(f"model.max_length={max_length} needs max_position_embeddings >= "
                              f"{max_length + config.pad_token_id + 1} (the encoder has {config.max_position_embeddings})")
        self.tokenizer = tokenizer
        self.net = LayoutMultitaskNet(config, len(labels.doc_types), len(labels.po_subtypes), len(labels), dropout,
                                      context_kernel)
        if pretrained is not None:
            building.load_pretrained_backbone(self.net, Path(pretrained))
        if init_from:
            building.load_init_from(self.net, self.tokenizer, self.labels, init_from)
        self.freeze = tuple(freeze)
        building.freeze(self.net, self.freeze)
        if gradient_checkpointing:
            building.checkpoint_activations(self.net)
        self._image_processor = None
        self.val_metrics = document_metrics(labels)
        self.test_metrics = document_metrics(labels)
        self.test_rows: list[dict] = []
        self._test_seconds, self._test_docs = 0.0, 0

    # -- building --------------------------------------------------------------------------
    @classmethod
    def label_spaces_to_fit(cls, model_cfg: dict) -> list[str]:
        keys = super().label_spaces_to_fit(model_cfg)
        # a pretrained directory brings its own tokenizer
        return [k for k in keys if k != "tokenizer"] if model_cfg.get("pretrained") else keys

    @classmethod
    def label_spaces_from_weights(cls, model_cfg: dict) -> dict[str, dict]:
        """``init_from``: its checkpoint's tokenizer (the word embeddings were trained with it).
        The label map is not taken: a dataset's may append labels (their rows are added)."""
        if not model_cfg.get("init_from"):
            return {}
        from ocrlab.loading import load_checkpoint
        from ocrlab.model_files import CHECKPOINT_KEY

        path = model_cfg["init_from"]
        stored = load_checkpoint(path, weights=False)[CHECKPOINT_KEY].get("label_space") or {}
        if "tokenizer" not in stored:
            raise CheckpointError(f"model.init_from={path}: the checkpoint has no tokenizer")
        return {"tokenizer": stored["tokenizer"]}

    # -- label space, inputs ---------------------------------------------------------------
    def frozen_config(self) -> dict:
        """The config that rebuilds this network anywhere: the encoder's actual settings (not
        the pretrained directory it came from), no ``init_from``."""
        cfg = super().frozen_config()
        settings = plain_encoder_settings(self.net.backbone.config)
        settings.pop("vocab_size", None)  # the tokenizer reserves the rows
        cfg.update(encoder=settings, pretrained=None, init_from=None)
        return cfg

    @property
    def visual(self) -> bool:
        return bool(self.net.backbone.config.visual_embed)

    @property
    def image_size(self) -> int:
        return int(self.net.backbone.config.input_size)

    @property
    def layer_classes(self) -> frozenset[type[nn.Module]]:
        """The transformer block (FSDP wrap policy, activation checkpointing)."""
        return frozenset({self.net.layer_class})

    def fsdp_units(self) -> list[nn.Module]:
        """The modules sharded one by one (FSDP2's ``fully_shard``), before the network as a whole."""
        return list(self.net.backbone.encoder.layer)

    @property
    def image_processor(self):
        if self._image_processor is None:
            from transformers import LayoutLMv3ImageProcessor

            size = self.image_size
            self._image_processor = LayoutLMv3ImageProcessor(apply_ocr=False, size={"height": size, "width": size})
        return self._image_processor

    def processor(self):
        """The ``LayoutLMv3Processor`` (image processor without OCR + this model's tokenizer)."""
        from transformers import LayoutLMv3Processor

        return LayoutLMv3Processor(image_processor=self.image_processor, tokenizer=self.tokenizer.get())

    def data_encoder(self):
        """Label map + tokenizer + window spec + image processor: what the data module encodes
        documents with."""
        from ocrlab.families.layoutlmv3.inputs import DocumentEncoder

        return DocumentEncoder(self.tokenizer.get(), self.input_spec, self.image_processor if self.visual else None,
                               labels=self.labels)

    # -- forward ---------------------------------------------------------------------------
    def forward(self, input_ids, bbox, attention_mask, pixel_values=None):
        return self.net(input_ids, bbox, attention_mask, pixel_values)

    def _documents(self, batch: dict):
        doc, sub, tok = self.net(batch["input_ids"], batch["bbox"], batch["attention_mask"], batch.get("pixel_values"))
        merged = merge_windows(doc, sub, tok, batch["window_doc"], batch["word_index"], len(batch["num_words"]),
                               batch["num_words"])
        return tok, merged

    def _loss(self, tok_logits, doc_logits, sub_logits, batch: dict) -> dict[str, torch.Tensor]:
        tokens = F.cross_entropy(tok_logits.flatten(0, 1).float(), batch["labels"].flatten(), ignore_index=IGNORE)
        doc_type = F.cross_entropy(doc_logits, batch["doc_type"])
        sub_target = batch["po_subtype"]
        # the subtype loss only on documents of the subtype's type (purchase orders); a batch
        # without one gives 0 (a mean over no document would be NaN), with no device sync
        subtype = (F.cross_entropy(sub_logits.float(), sub_target, ignore_index=IGNORE, reduction="sum")
                   / (sub_target != IGNORE).sum().clamp(min=1))
        w = self.loss_weights
        total = w["doc_type"] * doc_type + w["po_subtype"] * subtype + w["tokens"] * tokens
        return {"loss": total, "loss_doc_type": doc_type, "loss_po_subtype": subtype, "loss_tokens": tokens}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        tok, (doc, sub, _) = self._documents(batch)
        losses = self._loss(tok, doc, sub, batch)
        bs = len(batch["num_words"])
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=True, on_epoch=name == "loss", prog_bar=name == "loss",
                     batch_size=bs)
        self.log_step_stats(bs)
        return losses["loss"]

    def _update(self, metrics: nn.ModuleDict, batch: dict, doc, sub, words) -> dict[str, Any]:
        doc_pred, sub_pred = doc.argmax(-1), sub.argmax(-1)
        word_pred = [w.argmax(-1) for w in words]
        metrics["doc_type"].update(doc_pred, batch["doc_type"])
        metrics["po_subtype"].update(sub_pred, batch["po_subtype"])
        metrics["entity"].update([p.tolist() for p in word_pred], [list(t) for t in batch["word_labels"]])
        metrics["words"].update(torch.cat(word_pred), torch.tensor([x for t in batch["word_labels"] for x in t],
                                                                    device=doc_pred.device))
        return {"doc_type": doc_pred, "po_subtype": sub_pred, "words": word_pred}

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        tok, (doc, sub, words) = self._documents(batch)
        losses = self._loss(tok, doc, sub, batch)
        self.log("val/loss", losses["loss"], on_epoch=True, batch_size=len(words), sync_dist=True)
        self._update(self.val_metrics, batch, doc, sub, words)

    def on_validation_epoch_end(self) -> None:
        self.log_dict(epoch_metrics(self.val_metrics, "val/"), prog_bar=False)
        for m in self.val_metrics.values():
            m.reset()

    def on_test_epoch_start(self) -> None:
        self.test_rows, self._test_seconds, self._test_docs = [], 0.0, 0
        self._test_pages: list[dict] = []  # the first pages, drawn with their predicted fields

    def test_step(self, batch: dict, batch_idx: int) -> None:
        start = time.perf_counter()
        _, (doc, sub, words) = self._documents(batch)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self._test_seconds += time.perf_counter() - start
        self._test_docs += len(words)
        preds = self._update(self.test_metrics, batch, doc, sub, words)
        for i, doc_id in enumerate(batch["id"]):
            doc_words = batch["words"][i]
            truth = self.describe(doc_words, int(batch["doc_type"][i]), int(batch["po_subtype"][i]),
                                  list(batch["word_labels"][i]))
            pred = self.describe(doc_words, int(preds["doc_type"][i]), int(preds["po_subtype"][i]),
                                 preds["words"][i].tolist())
            self.test_rows.append({
                "id": doc_id, "doc_type": truth["doc_type"], "predicted_doc_type": pred["doc_type"],
                "po_subtype": truth["po_subtype"] or "", "predicted_po_subtype": pred["po_subtype"] or "",
                "fields_correct": sum(v == pred["fields"].get(k) for k, v in truth["fields"].items()),
                "fields": len(truth["fields"]),
                "predicted_fields": json.dumps(pred["fields"], ensure_ascii=False, sort_keys=True),
            })
            if len(self._test_pages) < self.num_test_pages_drawn and "image_path" in batch:
                names = self.labels.labels
                self._test_pages.append({
                    **self.test_rows[-1], "image": batch["image_path"][i], "boxes": batch["word_boxes"][i],
                    "truth": [names[j] for j in batch["word_labels"][i]],
                    "predicted": [names[j] for j in preds["words"][i].tolist()]})

    def on_test_epoch_end(self) -> None:
        self.log_dict(epoch_metrics(self.test_metrics, "test/"))
        self.log("test/ms_per_doc", 1000.0 * self._test_seconds / max(1, self._test_docs), sync_dist=True)
        self.log("test/documents", float(self._test_docs), reduce_fx="sum", sync_dist=True)
        # the report's numbers are synced across ranks (collectives: every rank computes them);
        # the TestReports callback writes it on rank 0
        self.test_report = document_test_report(self.test_metrics, self.labels, self._test_pages)
        for m in self.test_metrics.values():
            m.reset()

    # -- inference -------------------------------------------------------------------------
    def describe(self, words: Sequence[str], doc_type: int, po_subtype: int, word_labels: Sequence[int]) -> dict:
        """Ids -> names: doc type, subtype (only for the subtype's document type), ``{field: [values]}``."""
        name = self.labels.doc_types[doc_type]
        sub = (self.labels.po_subtypes[po_subtype]
               if name == self.labels.subtype_of and 0 <= po_subtype < len(self.labels.po_subtypes) else None)
        tags = [self.labels.labels[i] if 0 <= i < len(self.labels) else "O" for i in word_labels]
        return {"doc_type": name, "po_subtype": sub, "fields": group_fields(list(words), tags)}

    @torch.no_grad()
    def predict_step(self, batch: dict, batch_idx: int = 0) -> list[dict]:
        _, (doc, sub, words) = self._documents(batch)
        return [self.describe(batch["words"][i], int(doc[i].argmax()), int(sub[i].argmax()), words[i].argmax(-1).tolist())
                for i in range(len(words))]

    @torch.no_grad()
    def predict_document(self, words: Sequence[str], boxes: Sequence[Sequence[int]], image=None) -> dict:
        """A document (words, 0-1000 boxes, page image) -> ``{"doc_type", "po_subtype", "fields"}``."""
        from ocrlab.families.layoutlmv3.inputs import collate_windows

        was_training = self.training
        self.eval()
        try:
            encoder = self.data_encoder()
            item = {**encoder.encode(words, boxes, None, image), "num_words": len(words), "words": list(words)}
            batch = collate_windows([item], encoder.pad_token_id)
            batch = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            return self.predict_step(batch)[0]
        finally:
            self.train(was_training)

    # -- export ----------------------------------------------------------------------------
    def export(self, directory: str | Path, onnx: bool = False, int8: bool = False, **options: Any) -> Path:
        """weights + config (the base export), the processor (tokenizer + image processor,
        ``save_pretrained``), ``label_map.json``; with ``onnx`` also ``model.onnx`` checked
        against PyTorch, with ``int8`` its dynamically quantized copy."""
        directory = Path(super().export(directory, **options))
        self.processor().save_pretrained(str(directory / "processor"))
        atomic_write_json(directory / "label_map.json", self.labels.to_dict())
        if onnx or int8:
            from ocrlab.onnx_export import export_onnx

            export_onnx(self, directory, int8=int8)
        return directory

    onnx_outputs = ("doc_type_logits", "po_subtype_logits", "token_logits")

    @property
    def onnx_dynamic_axes(self) -> dict[str, dict[int, str]]:
        axes = {"input_ids": {0: "windows", 1: "tokens"}, "bbox": {0: "windows", 1: "tokens"},
                "attention_mask": {0: "windows", 1: "tokens"}, "doc_type_logits": {0: "windows"},
                "po_subtype_logits": {0: "windows"}, "token_logits": {0: "windows", 1: "tokens"}}
        if self.visual:
            axes["pixel_values"] = {0: "windows"}
        return axes

    def example_inputs(self, batch_size: int = 1, length: int | None = None) -> dict[str, torch.Tensor]:
        """Random inputs of this model's shapes (export tracing, latency benchmarks)."""
        length = length or self.input_spec.max_length
        g = torch.Generator().manual_seed(0)
        vocab = len(self.tokenizer.get())
        x0 = torch.randint(0, 900, (batch_size, length, 2), generator=g)
        size = torch.randint(1, 100, (batch_size, length, 2), generator=g)
        inputs = {"input_ids": torch.randint(5, vocab, (batch_size, length), generator=g),
                  "bbox": torch.cat([x0, (x0 + size).clamp(max=1000)], -1),
                  "attention_mask": torch.ones(batch_size, length, dtype=torch.long)}
        if self.visual:
            inputs["pixel_values"] = torch.randn(batch_size, 3, self.image_size, self.image_size, generator=g)
        return inputs
