"""``train(cfg)``: compose model, data, callbacks, loggers and trainer from config; fit; test.

Knows no family. A run goes one way: config -> data module -> label spaces learned from its
prepared training split (:func:`ocrlab.label_spaces.fit_label_spaces`; from the checkpoint when
resuming) -> model built -> trained -> tested and reported. The data module then takes what it
needs from the model (``attach_model``: label space, input spec).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from ocrlab.callbacks.training_report import TrainingReport
from ocrlab.label_spaces import fit_label_spaces
from ocrlab.lightning_modules.resume import check_architecture, check_label_space, resume_changes
from ocrlab.loading import build_model, load_checkpoint
from ocrlab.utils.instantiate import instantiate_checked
from ocrlab.utils.io import atomic_write_text
from ocrlab.utils.run import (
    check_no_missing_values,
    finish_loggers,
    instantiate_group,
    plain_config,
    prepare_environment,
    run_info,
)

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Train (and test) as configured; returns (metrics, objects)."""
    prepare_environment()
    check_no_missing_values(cfg)
    resolved = plain_config(cfg)
    if rank_zero_only.rank == 0:  # the processes a strategy starts share rank 0's run dir
        atomic_write_text(Path(cfg.paths.output_dir) / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))
    callbacks = instantiate_group(cfg.get("callbacks"), "callbacks")
    report = next((cb for cb in callbacks if isinstance(cb, TrainingReport)), None)
    if report is not None:
        report.hyperparameters = resolved
    try:
        model, datamodule, loggers, trainer = _build(cfg, callbacks, resolved)
    except BaseException as e:
        if report is not None:  # the README promises a report on every failure, early ones too
            report.write_early_failure(e)
        raise
    ckpt_path = cfg.get("ckpt_path")
    objects = {"cfg": cfg, "datamodule": datamodule, "model": model, "callbacks": callbacks,
               "loggers": loggers, "trainer": trainer}
    try:
        if cfg.get("train", True):
            trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics = _floats(trainer.callback_metrics)
        metrics.update(_best_monitored(trainer, metrics))
        if cfg.get("test", False):
            metrics.update(_test(cfg, trainer, model, datamodule, report))
    finally:
        finish_loggers(loggers)
    return metrics, objects


def _build(cfg: DictConfig, callbacks: list, resolved: dict) -> tuple:
    ckpt_path = cfg.get("ckpt_path")
    # a clear error naming the path; shapes only (a sharded checkpoint is not gathered here)
    checkpoint = load_checkpoint(ckpt_path, weights=False) if ckpt_path else None
    if cfg.get("torch_threads"):
        torch.set_num_threads(cfg.torch_threads)
    if cfg.get("matmul_precision"):
        torch.set_float32_matmul_precision(cfg.matmul_precision)
    meta = checkpoint["ocrlab"] if checkpoint is not None else {}
    datamodule = instantiate_checked(cfg.data, "data")
    model_cfg = fit_label_spaces(cfg.model, datamodule, stored=meta.get("label_space"))
    if cfg.get("seed") is not None:  # after the data was prepared: the weights do not depend on it
        pl.seed_everything(cfg.seed, workers=True)
    model = build_model(model_cfg)
    model.run_info = run_info()
    if checkpoint is not None:  # before any work: the same label space and architecture
        check_label_space(model, meta, f"resuming from {ckpt_path}")
        check_architecture(model, meta, checkpoint["state_dict"])
        if rank_zero_only.rank == 0:
            for change in resume_changes(model, meta):
                log.warning("resuming from %s with another model config value than the checkpoint's: %s",
                            ckpt_path, change)
        del checkpoint
    loggers = instantiate_group(cfg.get("logger"), "logger")
    trainer: pl.Trainer = instantiate_checked(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False)
    # log the config to the loggers themselves: under fast_dev_run Lightning swaps them for a
    # dummy, and a sweep's W&B runs must still exist and carry their config
    for lg in loggers:
        lg.log_hyperparams(resolved)
    return model, datamodule, loggers, trainer


def _test(cfg: DictConfig, trainer: pl.Trainer, model, datamodule, report: TrainingReport | None) -> dict:
    if not datamodule.has_split("test"):
        reason = f"the data config ({type(datamodule).__name__}) has no test split"
        log.warning("test=true but %s: the test phase is skipped", reason)
        if report is not None:
            report.test_skipped = reason
            report.write(trainer, model, "success")
        return {}
    ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if not ckpt or cfg.trainer.get("fast_dev_run"):
        log.warning("no best checkpoint: testing the current weights")
        ckpt = None
    trainer.test(model=model, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
    return _floats(trainer.callback_metrics)


def _best_monitored(trainer: pl.Trainer, metrics: dict[str, float]) -> dict[str, float]:
    """``<monitor>_best`` from the checkpoint callback (the last value if none was kept)."""
    ckpt = trainer.checkpoint_callback
    monitor = getattr(ckpt, "monitor", None)
    if not monitor:
        return {}
    best = getattr(ckpt, "best_model_score", None)
    if best is not None:
        return {f"{monitor}_best": float(best)}
    return {f"{monitor}_best": metrics[monitor]} if monitor in metrics else {}


def _floats(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}
