"""The base of text-line recognizers (CRNN-CTC, TrOCR).

Subclasses supply the network, the loss and the decoding (:meth:`forward_batch`, :meth:`loss`,
:meth:`decode`) and their label space (:meth:`line_labels`: a charset, a tokenizer); this class
owns what every line recognizer shares: the input spec (how images become tensors),
CER/WER/accuracy/NED, ms per line, the W&B sample tables and the per-line prediction rows that
``evaluate.py`` writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar

import torch

from ocrlab.datamodules.line_images import LineEncoding, LineImageSpec, LineLabels
from ocrlab.lightning_modules.base import OcrModule
from ocrlab.metrics.text import TextMetrics, cer_by_length, line_cer, mark_errors, score_texts
from ocrlab.reports import Figure, Report, Table
from ocrlab.text.normalize import normalize_text


class TextRecognitionModule(OcrModule):
    task = "text_lines"
    comparison_columns: ClassVar[dict[str, str]] = {"cer": "test/cer", "wer": "test/wer",
                                                    "line_accuracy": "test/acc"}
    test_unit = "line"

    def __init__(self, optimizer: Callable[..., torch.optim.Optimizer], scheduler: Callable[..., Any] | None = None,
                 input: dict | None = None, num_val_samples_logged: int = 8, num_test_samples_logged: int = 64,
                 **base_options: Any):
        # base_options: a second base's arguments (a generative recognizer's ``generation``)
        super().__init__(optimizer, scheduler, **base_options)
        # how images become tensors for this model; travels with checkpoints and exports
        self.input_spec = LineImageSpec(**(input or {}))
        # lines in the W&B tables (with their images): the first of each validation, the worst of the test
        self.num_val_samples_logged = num_val_samples_logged
        self.num_test_samples_logged = num_test_samples_logged
        self.val_metrics = TextMetrics(prefix="val/")
        self.test_metrics = TextMetrics(prefix="test/")
        self._test_seconds = 0.0
        self._test_lines = 0
        self.val_samples: list[tuple[str, str, str]] = []
        # per-line rows of the last test run (image, reference, prediction, cer), for evaluate.py
        self.test_rows: list[dict] = []

    # -- to implement ----------------------------------------------------------------------
    def forward_batch(self, batch: dict) -> Any:
        """Network outputs for a batch: what :meth:`loss` and :meth:`decode` read."""
        raise NotImplementedError

    def loss(self, outputs: Any, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def loss_terms(self, outputs: Any, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss and, where it sums several terms, each of them by name (logged beside it)."""
        return self.loss(outputs, batch), {}

    def decode(self, outputs: Any, batch: dict) -> list[str]:
        raise NotImplementedError

    def line_labels(self) -> LineLabels:
        """The label space the data module checks and encodes labels with (a charset, a tokenizer)."""
        raise NotImplementedError

    # -- label space -------------------------------------------------------------------------
    def data_encoder(self) -> LineEncoding:
        return LineEncoding(self.line_labels(), self.input_spec)

    # -- steps -----------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, terms = self.loss_terms(self.forward_batch(batch), batch)
        bs = len(batch["labels"])
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=bs)
        for name, value in terms.items():
            self.log(f"train/{name}", value, on_step=True, on_epoch=True, batch_size=bs)
        self.log_step_stats(bs)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        outputs = self.forward_batch(batch)
        loss, terms = self.loss_terms(outputs, batch)
        preds = self.decode(outputs, batch)
        self.val_metrics.update(preds, batch["labels"])
        self.log("val/loss", loss, on_step=False, on_epoch=True, batch_size=len(preds), sync_dist=True)
        for name, value in terms.items():
            self.log(f"val/{name}", value, on_step=False, on_epoch=True, batch_size=len(preds), sync_dist=True)
        if batch_idx == 0:
            self.val_samples = list(zip(batch["paths"], batch["labels"], preds, strict=True))[
                : self.num_val_samples_logged]

    def on_validation_epoch_end(self) -> None:
        from ocrlab.loggers import table_image

        self.log_dict(self.val_metrics.compute(), prog_bar=True)
        self.val_metrics.reset()
        if self.val_samples and not self.trainer.sanity_checking and self.trainer.is_global_zero:
            for logger in self.loggers:
                if callable(getattr(logger, "log_table", None)):  # W&B: the lines, their images, the errors
                    rows = [[table_image(logger, str(path)), ref, pred, mark_errors(pred, ref)]
                            for path, ref, pred in self.val_samples]
                    logger.log_table(key="val/samples", columns=["image", "reference", "prediction", "errors"],
                                     data=rows, step=self.global_step)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        start = time.perf_counter()
        preds = self.recognize_batch(batch)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self._test_seconds += time.perf_counter() - start
        self._test_lines += len(preds)
        self.test_metrics.update(preds, batch["labels"])
        for path, ref, pred in zip(batch["paths"], batch["labels"], preds, strict=True):
            pred = normalize_text(pred)
            self.test_rows.append({"image": path, "reference": ref, "prediction": pred,
                                   "cer": round(line_cer(pred, ref), 4)})

    def on_test_epoch_start(self) -> None:
        self._test_seconds, self._test_lines = 0.0, 0
        self.test_rows = []

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()
        ms = 1000.0 * self._test_seconds / max(1, self._test_lines)
        self.log("test/ms_per_line", ms, sync_dist=True)
        self.log("test/lines", float(self._test_lines), reduce_fx="sum", sync_dist=True)
        self.test_report = text_test_report(self.test_rows, self.num_test_samples_logged)

    @torch.no_grad()
    def recognize_batch(self, batch: dict) -> list[str]:
        return self.decode(self.forward_batch(batch), batch)

    def predict_step(self, batch: dict, batch_idx: int = 0) -> list[str]:
        return self.recognize_batch(batch)

    # -- baselines -------------------------------------------------------------------------
    @staticmethod
    def baseline_inputs(rows: Sequence[dict]) -> list[str]:
        """What a baseline of this task reads for each test row: the line image."""
        return [r["image"] for r in rows]

    @staticmethod
    def score_baseline(name: str, predictions: Sequence[str], rows: Sequence[dict],
                       seconds: float) -> tuple[dict[str, float], dict[str, list]]:
        """A baseline's test metrics (the same keys as the model's) and its prediction columns."""
        preds = [normalize_text(p) for p in predictions]
        refs = [r["reference"] for r in rows]
        metrics = score_texts(preds, refs, prefix="test/")
        metrics["test/ms_per_line"] = 1000.0 * seconds / max(1, len(preds))
        metrics["test/lines"] = len(preds)
        columns = {f"{name}_prediction": preds,
                   f"{name}_cer": [round(line_cer(p, r), 4) for p, r in zip(preds, refs, strict=True)]}
        return metrics, columns


def text_test_report(rows: Sequence[dict], worst: int) -> Report | None:
    """The test lines people look at: a table of the ``worst`` lines by CER (image, truth,
    prediction, errors marked) and CER by line length (JSON and a bar chart). This rank's lines."""
    from ocrlab import plots

    if not rows:
        return None
    ranked = sorted(rows, key=lambda r: -r["cer"])[:worst]
    table = Table(["image", "reference", "prediction", "errors", "cer"],
                  [[str(r["image"]), r["reference"], r["prediction"], mark_errors(r["prediction"], r["reference"]),
                    r["cer"]] for r in ranked], image_columns=("image",))
    by_length = cer_by_length([r["prediction"] for r in rows], [r["reference"] for r in rows])
    draw = partial(plots.bars, labels=[b["length"] for b in by_length], values=[b["cer"] for b in by_length],
                   title="test CER by line length", xlabel="characters in the line", ylabel="CER",
                   annotations=[f"{b['lines']} lines" for b in by_length])
    return Report(files={"cer_by_length.json": by_length}, tables={"test/worst_lines": table},
                  figures={"cer_by_length.png": Figure("test/cer_by_length", draw)})
