"""A JSON training report, written atomically at the end and on failure (early ones too)."""

from __future__ import annotations

import logging
import math
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ocrlab.utils import preemption
from ocrlab.utils.io import atomic_write_json
from ocrlab.utils.secrets import redact

log = logging.getLogger(__name__)


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        out[k] = f if math.isfinite(f) else None
    return out


class TrainingReport(pl.Callback):
    """Status, sample counts, splits, hyperparameters, device, final/best metrics, history.

    ``hyperparameters`` is filled by the entry point (the resolved, redacted config). The
    history survives resume: it is part of the callback's checkpoint state.
    """

    def __init__(self, path: str, monitor: str, mode: str = "min"):
        if mode not in ("min", "max"):
            raise ValueError(f"training report mode must be 'min' or 'max', got {mode!r}")
        self.path = Path(path)
        self.monitor = monitor
        self.mode = mode
        self.test_skipped: str | None = None
        self.history: list[dict[str, float]] = []
        self.hyperparameters: dict = {}
        self.test_metrics: dict[str, float] = {}
        self._started = time.time()
        self._loss_sum, self._loss_count = 0.0, 0

    # -- collection ------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.time()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._loss_sum, self._loss_count = 0.0, 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:  # summed as a tensor: no device sync per step
            self._loss_sum = self._loss_sum + loss.detach()
            self._loss_count += 1

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        # callback_metrics hold this epoch's validation results from here on (not in *_epoch_end)
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        row.update(_floats({k: v for k, v in trainer.callback_metrics.items() if k.startswith("val/")}))
        self.history = [h for h in self.history if h["epoch"] != row["epoch"]] + [row]

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._loss_count:
            return
        mean = float(self._loss_sum) / self._loss_count
        row = next((h for h in self.history if h["epoch"] == trainer.current_epoch), None)
        if row is None:  # no validation this epoch
            row = {"epoch": trainer.current_epoch, "step": trainer.global_step}
            self.history.append(row)
        row["train/loss"] = mean if math.isfinite(mean) else None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.write(trainer, pl_module, "success")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.test_metrics = _floats({k: v for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        self.write(trainer, pl_module, "success")

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if preemption.stopped():  # saved for a requeue: the requeued job goes on from here
            self.write(trainer, pl_module, "requeued")
            return
        status = "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
        self.write(trainer, pl_module, status, error=f"{type(exception).__name__}: {exception}")

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        # a resume starts with no history; testing the best checkpoint after fit restores its older
        # state into this callback, which must not cut the history at the best epoch
        if not self.history:
            self.history = list(state_dict.get("history", []))

    # -- report ----------------------------------------------------------------------------
    def best(self) -> dict[str, float] | None:
        rows = [h for h in self.history if h.get(self.monitor) is not None]
        if not rows:
            return None
        pick = min if self.mode == "min" else max
        return pick(rows, key=lambda h: h[self.monitor])

    def build(self, trainer: pl.Trainer, pl_module: pl.LightningModule, status: str, error: str | None = None) -> dict:
        data = _data_summary(trainer.datamodule)
        ckpt = trainer.checkpoint_callback if isinstance(trainer.checkpoint_callback, ModelCheckpoint) else None
        ckpt_dirs = sorted({Path(cb.dirpath) for cb in trainer.checkpoint_callbacks
                            if isinstance(cb, ModelCheckpoint) and cb.dirpath})
        warnings = dict(data.get("sample_warnings", {}))
        for kind, count in getattr(pl_module, "sample_warnings", {}).items():
            warnings[kind] = warnings.get(kind, 0) + count
        return {
            **self._header(status, error),
            "samples_used": sum(data.get("samples", {}).values()),
            "samples": data.get("samples", {}),
            "splits": data.get("splits", {}),
            "sample_warnings": warnings,
            # a data module's summary of the teacher outputs it used in place of ground truth
            **({"teacher_outputs": data["teacher_outputs"]} if "teacher_outputs" in data else {}),
            "epochs_completed": len(self.history),
            "global_step": trainer.global_step,
            "hyperparameters": self.hyperparameters,
            "device": {
                "accelerator": type(trainer.accelerator).__name__,
                "num_devices": trainer.num_devices,
                "num_nodes": trainer.num_nodes,
                "strategy": type(trainer.strategy).__name__,
                "precision": str(trainer.precision),
                "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                "host": platform.node(),
                "torch": torch.__version__,
            },
            "model": {"class": type(pl_module).__name__, "parameters": sum(p.numel() for p in pl_module.parameters()),
                      "label_space": _label_space_sizes(pl_module)},
            "monitor": {"name": self.monitor, "mode": self.mode},
            "final_metrics": self.history[-1] if self.history else {},
            "best_metrics": self.best(),
            "test_metrics": self.test_metrics,
            "test_skipped": self.test_skipped,
            "checkpoints": {
                "best": ckpt.best_model_path if ckpt else None,
                "files": sorted(str(p) for d in ckpt_dirs if d.is_dir() for p in d.glob("*.ckpt")),
            },
            "history": self.history,
        }

    def _header(self, status: str, error: str | None) -> dict:
        return {"status": status, "error": error, "timestamp": datetime.now(UTC).isoformat(),
                "duration_s": round(time.time() - self._started, 2)}

    def write_early_failure(self, exception: BaseException) -> None:
        """A failure before the Trainer exists (config, model or data construction)."""
        if int(os.environ.get("RANK", "0")) != 0:
            return
        status = "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
        report = {**self._header(status, f"{type(exception).__name__}: {exception}"),
                  "stage": "setup (before training started)", "hyperparameters": self.hyperparameters}
        atomic_write_json(self.path, redact(report))
        log.info("training report (%s) written to %s", status, self.path)

    def write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, status: str, error: str | None = None) -> None:
        if not trainer.is_global_zero:
            return
        report = redact(self.build(trainer, pl_module, status, error))
        atomic_write_json(self.path, report)
        log.info("training report (%s) written to %s", status, self.path)


def _data_summary(datamodule: Any) -> dict:
    """The data module's documented summary (``OcrDataModule.summary``), if it has one."""
    from ocrlab.datamodules.base import OcrDataModule

    return datamodule.summary() if isinstance(datamodule, OcrDataModule) else {}


def _label_space_sizes(pl_module: pl.LightningModule) -> dict[str, int | None]:
    from ocrlab.lightning_modules.base import OcrModule

    if not isinstance(pl_module, OcrModule):
        return {}
    return {k: (len(v) if hasattr(v, "__len__") else None) for k, v in pl_module.label_space().items()}
