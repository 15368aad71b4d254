"""Saves a resumable checkpoint when the job is about to be preempted or hit its time limit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from ocrlab.utils import preemption

log = logging.getLogger(__name__)


class PreemptionCheckpoint(pl.Callback):
    """At the end of the step in which a preemption signal arrived (:mod:`ocrlab.utils.preemption`),
    every rank saves ``<dirpath>/<filename>`` (a step boundary: the resume is exact), then the job
    is requeued (submitit) and exits; the requeued job resumes from it (``ocrlab.cluster``).

    Without a deferred signal handler (no requeueing launcher) it does nothing: no collective."""

    def __init__(self, dirpath: str, filename: str = "preempted.ckpt"):
        self.path = Path(dirpath) / filename

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        preemption.set_training(True)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        preemption.set_training(False)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not preemption.installed():
            return
        stop = preemption.pending()
        if trainer.world_size > 1:  # every rank stops at the same step (a sharded save is collective)
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop:
            return
        trainer.save_checkpoint(self.path)
        trainer.strategy.barrier("preemption_checkpoint")
        log.warning("preempted at step %d: checkpoint %s written; requeueing", trainer.global_step, self.path)
        preemption.set_training(False)
        preemption.proceed()
