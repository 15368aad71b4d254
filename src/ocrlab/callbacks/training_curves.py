"""Training curves: the loss terms, the learning rate and the validation metrics against steps."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from ocrlab import plots
from ocrlab.utils.io import atomic_write_json

log = logging.getLogger(__name__)


class TrainingCurves(pl.Callback):
    """Records every ``every_n_steps`` steps what the model logged under ``train/`` (each loss
    term the family sums, ``lr``, ``grad_norm``) and every validation's ``val/`` metrics; at the
    end of fit (or on failure) draws ``<dirpath>/training_curves.png`` (losses, the monitored
    metric with the validation losses, the learning rate) beside ``training_curves.json``, and
    sends the plot to the loggers that show images (W&B). Survives resume (checkpoint state)."""

    def __init__(self, dirpath: str, monitor: str, every_n_steps: int = 10):
        self.dirpath = Path(dirpath)
        self.monitor = monitor
        self.every_n_steps = max(1, every_n_steps)
        self.train: dict[str, list[tuple[int, float]]] = {}
        self.val: dict[str, list[tuple[int, float]]] = {}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every_n_steps and step != 1:
            return
        metrics = trainer.callback_metrics
        for key, value in metrics.items():
            # logged on step and epoch: "<key>_step" is this step's value ("<key>" the last one shown)
            if (key.startswith("train/") and not key.endswith("_epoch") and f"{key}_step" not in metrics
                    and _finite(value)):
                self.train.setdefault(key.removesuffix("_step"), []).append((step, float(value)))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        for key, value in trainer.callback_metrics.items():
            if key.startswith("val/") and _finite(value):
                points = self.val.setdefault(key, [])
                points[:] = [p for p in points if p[0] != trainer.global_step] + [(trainer.global_step, float(value))]

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.write(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self.write(trainer, send=False)

    def state_dict(self) -> dict[str, Any]:
        return {"train": self.train, "val": self.val}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.train or self.val:  # testing the best checkpoint after fit: keep the whole run's curves
            return
        self.train = {k: [tuple(p) for p in v] for k, v in state_dict.get("train", {}).items()}
        self.val = {k: [tuple(p) for p in v] for k, v in state_dict.get("val", {}).items()}

    def panels(self) -> dict[str, dict[str, list[tuple[int, float]]]]:
        series = {**self.train, **self.val}
        losses = {k: v for k, v in self.train.items() if "loss" in k}
        validation = {k: v for k, v in self.val.items() if k == self.monitor or "loss" in k}
        rate = {k: v for k, v in series.items() if k.endswith("/lr")}
        return {name: panel for name, panel in (("training losses", losses), (f"validation ({self.monitor})",
                                                validation), ("learning rate", rate)) if panel}

    def write(self, trainer: pl.Trainer, send: bool = True) -> Path | None:
        panels = self.panels()
        if not trainer.is_global_zero or not panels:
            return None
        atomic_write_json(self.dirpath / "training_curves.json", {"train": self.train, "val": self.val})
        png = plots.curves(self.dirpath / "training_curves.png", panels, f"training curves (step {trainer.global_step})")
        if send:
            for logger in trainer.loggers:
                if callable(getattr(logger, "log_image", None)):
                    logger.log_image(key="training_curves", images=[str(png)], step=trainer.global_step)
        log.info("training curves written to %s", png)
        return png


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
