"""Hydra entry points. Heavy imports (torch, Lightning) happen inside the jobs, so ``--help`` and
config composition stay fast."""

from __future__ import annotations

import logging
import math
import sys

import hydra
from omegaconf import DictConfig

from ocrlab.config import ConfigDirError, config_dir

log = logging.getLogger("ocrlab")


def _config_dir() -> str:
    try:
        return config_dir()
    except ConfigDirError as e:
        sys.exit(f"ocrlab: {e}")


def _run_job(job, cfg: DictConfig, name: str):
    """Run one job; in a multirun a failure is logged and the sweep goes on (NaN objective)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from ocrlab.utils.run import apply_extras

    apply_extras(cfg)
    try:
        return job(cfg)
    except Exception:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            log.exception("%s job %s failed; the sweep goes on", name, HydraConfig.get().job.num)
            return None
        raise


@hydra.main(version_base="1.3", config_path=_config_dir(), config_name="train")
def train_main(cfg: DictConfig) -> float | None:
    """Train a model: ``python train.py experiment=crnn_thai model.optimizer.lr=5e-4``."""

    def job(cfg: DictConfig):
        from ocrlab.training import train
        from ocrlab.utils.run import print_metrics

        metrics, objects = train(cfg)
        if objects["trainer"].is_global_zero:
            print_metrics(f"{cfg.task_name}: final metrics ({cfg.paths.output_dir})", metrics)
        return metrics

    metrics = _run_job(job, cfg, "train")
    if metrics is None:
        return math.nan
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        log.warning("optimized_metric %r was not logged (no validation ran?); logged: %s", name, sorted(metrics))
        return math.nan
    return metrics[name]


@hydra.main(version_base="1.3", config_path=_config_dir(), config_name="evaluate")
def evaluate_main(cfg: DictConfig) -> None:
    """Evaluate a checkpoint: ``python evaluate.py experiment=crnn_thai ckpt_path=... data.test_files=[...]``."""

    def job(cfg: DictConfig):
        from ocrlab.evaluation import evaluate
        from ocrlab.utils.run import print_metrics

        metrics, objects = evaluate(cfg)
        for name, result in objects["results"].items():
            print_metrics(f"{name} ({objects['output_dir']})", result)
        return metrics

    _run_job(job, cfg, "evaluate")
