"""The shared LightningModule of text recognizers (CRNN-CTC now, TrOCR later).

Subclasses supply the network, the loss and the decoding (:meth:`forward_batch`,
:meth:`decode`); this base owns everything common: metrics and their logging, optimizer and
schedule from config, the charset inside checkpoints, and RNG state for exact resume.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import grad_norm

from ocrlab.datamodules.lines import LineImageSpec
from ocrlab.metrics.text import TextMetrics
from ocrlab.text.charset import Charset

CHECKPOINT_KEY = "ocrlab"


class TextRecognitionModule(pl.LightningModule):
    def __init__(self, charset: Charset, optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None, input: dict | None = None,
                 num_val_samples_logged: int = 8):
        super().__init__()
        self.charset = charset
        # how images become tensors for this model; travels with checkpoints and exports
        self.input_spec = LineImageSpec(**(input or {}))
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.num_val_samples_logged = num_val_samples_logged
        self.val_metrics = TextMetrics(prefix="val/")
        self.test_metrics = TextMetrics(prefix="test/")
        # the resolved model config, set by ocrlab.lightning_modules.build_model; saved in
        # checkpoints so inference can rebuild the network without the training config
        self.build_config: dict | None = None
        self._test_seconds = 0.0
        self._test_lines = 0
        self.val_samples: list[tuple[str, str]] = []

    # -- to implement ----------------------------------------------------------------------
    def forward_batch(self, batch: dict) -> Any:
        """Network outputs for a batch: what :meth:`loss` and :meth:`decode` read."""
        raise NotImplementedError

    def loss(self, outputs: Any, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, outputs: Any, batch: dict) -> list[str]:
        raise NotImplementedError

    # -- steps -----------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self.forward_batch(batch), batch)
        bs = len(batch["labels"])
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=bs)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False, batch_size=bs)
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.trainer.global_step % max(1, self.trainer.log_every_n_steps) == 0:
            norms = grad_norm(self, norm_type=2)
            if "grad_2.0_norm_total" in norms:
                self.log("train/grad_norm", norms["grad_2.0_norm_total"], on_step=True, on_epoch=False)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        outputs = self.forward_batch(batch)
        loss = self.loss(outputs, batch)
        preds = self.decode(outputs, batch)
        self.val_metrics.update(preds, batch["labels"])
        self.log("val/loss", loss, on_step=False, on_epoch=True, batch_size=len(preds), sync_dist=True)
        if batch_idx == 0:
            self.val_samples = list(zip(batch["labels"], preds, strict=True))[: self.num_val_samples_logged]

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.val_metrics.compute(), prog_bar=True)
        self.val_metrics.reset()
        if self.val_samples and not self.trainer.sanity_checking:
            rows = [[ref, pred] for ref, pred in self.val_samples]
            for logger in self.loggers:
                if callable(getattr(logger, "log_text", None)):  # W&B: a table of samples per validation
                    logger.log_text(key="val/samples", columns=["reference", "prediction"], data=rows,
                                    step=self.global_step)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        start = time.perf_counter()
        preds = self.recognize_batch(batch)
        self._test_seconds += time.perf_counter() - start
        self._test_lines += len(preds)
        self.test_metrics.update(preds, batch["labels"])

    def on_test_epoch_start(self) -> None:
        self._test_seconds, self._test_lines = 0.0, 0

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()
        ms = 1000.0 * self._test_seconds / max(1, self._test_lines)
        self.log("test/ms_per_line", ms, sync_dist=True)

    @torch.no_grad()
    def recognize_batch(self, batch: dict) -> list[str]:
        return self.decode(self.forward_batch(batch), batch)

    # -- optimization ----------------------------------------------------------------------
    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=[p for p in self.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)  # also sets up the train loader
        batches = self.trainer.num_training_batches
        # an iterable dataset of unknown length: one "epoch" is the whole run
        per_epoch = math.ceil(batches / self.trainer.accumulate_grad_batches) if math.isfinite(batches) else total
        scheduler = self.scheduler_factory(optimizer, total_steps=total, steps_per_epoch=max(1, per_epoch))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -- checkpoints -----------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "charset": self.charset.to_dict(),
            "model_config": self.build_config,
            "rng": _rng_states(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        meta = checkpoint.get(CHECKPOINT_KEY)
        if meta is None:
            raise ValueError("checkpoint has no ocrlab metadata (charset, model config): not an ocrlab checkpoint")
        Charset.from_dict(meta["charset"]).check_same(self.charset, "resuming from checkpoint")
        if meta.get("rng"):
            _set_rng_states(meta["rng"])


def _rng_states() -> dict:
    """Global RNG states as tensors and plain lists (``weights_only``-loadable)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
