"""``train(cfg)``: compose charset, data, model, callbacks, loggers and trainer; fit; test."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ocrlab.callbacks.training_report import TrainingReport
from ocrlab.lightning_modules.build import build_model
from ocrlab.utils.io import atomic_write_text
from ocrlab.utils.run import finish_loggers, instantiate_group, plain_config, prepare_environment

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Train (and test) as configured; returns (metrics, objects)."""
    prepare_environment()
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path {ckpt_path} does not exist (expected a checkpoint to resume from)")
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    if cfg.get("torch_threads"):
        torch.set_num_threads(cfg.torch_threads)
    if cfg.get("matmul_precision"):
        torch.set_float32_matmul_precision(cfg.matmul_precision)

    output_dir = Path(cfg.paths.output_dir)
    resolved = plain_config(cfg)
    atomic_write_text(output_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))

    charset = instantiate(cfg.charset)
    log.info("charset: %s", charset.describe())
    datamodule = instantiate(cfg.data, charset=charset)
    model = build_model(cfg.model, charset)
    callbacks = instantiate_group(cfg.get("callbacks"), "callback")
    loggers = instantiate_group(cfg.get("logger"), "logger")
    for cb in callbacks:
        if isinstance(cb, TrainingReport):
            cb.hyperparameters = resolved
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    # log the config to the loggers themselves: under fast_dev_run Lightning swaps them for a
    # dummy, and a sweep's W&B runs must still exist and carry their config
    for lg in loggers:
        lg.log_hyperparams(resolved)

    objects = {"cfg": cfg, "charset": charset, "datamodule": datamodule, "model": model,
               "callbacks": callbacks, "loggers": loggers, "trainer": trainer}
    try:
        if cfg.get("train", True):
            trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics = _floats(trainer.callback_metrics)
        metrics.update(_best_monitored(trainer, metrics))
        if cfg.get("test", False):
            ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            if not ckpt or cfg.trainer.get("fast_dev_run"):
                log.warning("no best checkpoint: testing the current weights")
                ckpt = None
            trainer.test(model=model, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
            metrics.update(_floats(trainer.callback_metrics))
    finally:
        finish_loggers(loggers)
    return metrics, objects


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
