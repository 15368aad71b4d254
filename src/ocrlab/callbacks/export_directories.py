"""Export directories beside the Lightning checkpoints, written during training.

Each directory is what ``ocrlab-export`` would write for the model at that moment
(:meth:`~ocrlab.lightning_modules.base.OcrModule.export`: the family's own format inside, e.g. a
PEFT adapter directory for a LoRA model, a ``save_pretrained`` model directory otherwise), so it
loads with ``ocrlab.loading.load_model`` and ``evaluate.py ckpt_path=<dir>``:

* ``<dirpath>/step_<N>`` every ``every_n_steps`` optimizer steps (``0``: none);
* ``<dirpath>/best`` when the monitored metric improves (``monitor``/``mode``, as the checkpoint
  callback's), with ``best_score.json`` beside it;
* ``<dirpath>/last`` when training ends.

Each is written into a temp sibling and renamed: a directory is complete or absent; an existing
one is replaced only if it is an earlier export (it holds ``ocrlab_model.json``) or empty, and
anything else there is refused before training starts. Written by
global rank 0; under a sharded strategy (``trainer=fsdp`` / ``fsdp2``: each rank holds a shard)
every rank first takes part in gathering the full weights, and rank 0 exports an unsharded copy of
the model built from them (what ``ocrlab-export`` does from a checkpoint): the whole model twice
in rank 0's CPU memory while it writes.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only

from ocrlab.errors import ConfigError
from ocrlab.utils.io import atomic_directory, atomic_write_json, replace_refusal

log = logging.getLogger(__name__)


class ExportDirectories(pl.Callback):
    def __init__(self, dirpath: str, every_n_steps: int = 0, monitor: str | None = None, mode: str = "max",
                 save_last: bool = True, export_options: dict[str, Any] | None = None):
        if mode not in ("min", "max"):
            raise ConfigError(f"callbacks.export_directories.mode={mode!r}: expected 'min' or 'max'")
        if every_n_steps < 0:
            raise ConfigError(f"callbacks.export_directories.every_n_steps={every_n_steps}: expected >= 0")
        self.dirpath = Path(dirpath)
        self.every_n_steps = int(every_n_steps)
        self.monitor = monitor
        self.mode = mode
        self.save_last = save_last
        self.export_options = dict(export_options or {})
        self.best_score: float | None = None
        self._last_step_saved = -1

    # -- where ------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Before training: each directory this callback may replace is absent, empty or an
        earlier export (never a folder of other files, which replacing would delete); refused
        now, on every rank, not after hours of training."""
        if stage != "fit":
            return
        refusals = None
        if trainer.is_global_zero:
            refusals = self._refusals()
        refusals = trainer.strategy.broadcast(refusals, src=0)
        if refusals:
            raise FileExistsError(
                f"callbacks.export_directories.dirpath={self.dirpath}: {'; '.join(refusals)}; the callback replaces "
                "only earlier exports there: choose another dirpath or move those away")

    def _refusals(self) -> list[str]:
        from ocrlab.model_files import EXPORT_META

        names = {name for name, used in (("best", self.monitor), ("last", self.save_last)) if used}
        if self.dirpath.is_dir() and self.every_n_steps:
            names |= {p.name for p in self.dirpath.glob("step_*") if p.name[5:].isdigit()}
        found = (replace_refusal(self.dirpath / name, EXPORT_META, "an ocrlab export") for name in sorted(names))
        return [r for r in found if r is not None]

    # -- when -------------------------------------------------------------------------------
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if self.every_n_steps and step > 0 and step % self.every_n_steps == 0 and step != self._last_step_saved:
            self._last_step_saved = step
            self._write(trainer, pl_module, f"step_{step}")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.monitor or trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        score = math.nan if value is None else float(value)
        if self._sharded(trainer):  # writing is a collective there: every rank follows rank 0's score
            score = trainer.strategy.broadcast(score, src=0)
        if not math.isfinite(score):
            return
        better = self.best_score is None or (score > self.best_score if self.mode == "max" else score < self.best_score)
        if better:
            self.best_score = score
            if self._write(trainer, pl_module, "best"):
                self._write_score(trainer, score)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.save_last:
            self._write(trainer, pl_module, "last")

    # -- how --------------------------------------------------------------------------------
    def _sharded(self, trainer: pl.Trainer) -> bool:
        from pytorch_lightning.strategies import FSDPStrategy, ModelParallelStrategy

        return isinstance(trainer.strategy, FSDPStrategy | ModelParallelStrategy)

    def _write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, name: str) -> bool:
        if trainer.fast_dev_run:
            return False
        if self._sharded(trainer):
            return self._write_gathered(trainer, pl_module, name)
        return self._write_rank_zero(pl_module, name)

    def _write_gathered(self, trainer: pl.Trainer, pl_module: pl.LightningModule, name: str) -> bool:
        """Every rank gathers the full weights (a collective; FSDP1 and FSDP2 alike), rank 0 alone
        receives them and exports a fresh model with them: the module itself holds only its shard
        (and under FSDP1 sits inside the wrapper), so its own ``export`` would write a shard."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        from ocrlab.loading import build_model

        state = get_model_state_dict(trainer.strategy.model,
                                     options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        written = False
        if trainer.is_global_zero:
            with torch.random.fork_rng(devices=[]):  # its random init must not move rank 0's RNG (resume)
                clone = build_model(pl_module.frozen_config())
            clone.load_state_dict(state)
            clone.run_info = dict(pl_module.run_info)
            written = self._write_rank_zero(clone.eval(), name)
            del clone
        del state
        trainer.strategy.barrier("export_directories")  # no rank runs ahead into the next gather
        return bool(written)

    @rank_zero_only
    def _write_rank_zero(self, pl_module: pl.LightningModule, name: str) -> bool:
        from ocrlab.model_files import EXPORT_META

        path = self.dirpath / name
        atomic_directory(path, lambda d: pl_module.export(d, **self.export_options), replace=True,
                         marker=EXPORT_META, what="an ocrlab export")
        log.info("export directory %s written", path)
        return True

    @rank_zero_only
    def _write_score(self, trainer: pl.Trainer, score: float) -> None:
        atomic_write_json(self.dirpath / "best_score.json",
                          {"monitor": self.monitor, "mode": self.mode, "score": score, "step": trainer.global_step})

    # -- resume -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "last_step_saved": self._last_step_saved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = state_dict.get("best_score")
        self._last_step_saved = state_dict.get("last_step_saved", -1)
