"""``evaluate(cfg)``: score a checkpoint (and optionally a baseline) on a test split.

The model comes from the checkpoint through the one loader (its class, label space and input
spec are stored there); the data module takes what it needs from it. Evaluation never generates
data (:meth:`~ocrlab.datamodules.base.OcrDataModule.disable_generation`): it scores the data the
config names, and a missing path or a folder of another format is an error saying what was expected. The family's own
``test_step`` computes the metrics. Writes into the run dir:

* ``metrics.json``: the family's test metrics (``test/...``);
* ``predictions.tsv``: one row per test sample, columns defined by the family (``test_rows``),
  plus the baseline's columns when one runs;
* ``predictions.jsonl``: the same rows as JSON objects (values that do not fit a TSV cell, e.g.
  generated text with newlines, stay exact; hard-sample mining reads this file);
* ``metrics_<baseline>.json``: the baseline's metrics, same keys;
* ``quantization.json`` with ``quantize=<mode>``: the mode and what was done (the model's own
  :meth:`~ocrlab.lightning_modules.base.OcrModule.quantized`; a family without quantized inference
  refuses, listing its modes). The trainer runs on what the quantized kernels need (e.g. the CPU
  for ``int8``): ``trainer.accelerator=auto`` follows it, another setting is an error;
* with ``compare=[...]``: more models of the same task scored the same way on the same samples,
  one table (:mod:`ocrlab.comparison`: ``comparison.json|md|png``, ``compare/<name>/``).

With a ``logger`` configured, the first model's test metrics and reports and the comparison table
go to it too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from ocrlab.errors import ConfigError
from ocrlab.loading import load_model
from ocrlab.test_runs import prediction_columns, run_baseline, run_test, test_data, write_predictions
from ocrlab.utils.instantiate import instantiate_checked
from ocrlab.utils.io import atomic_write_json, atomic_write_text
from ocrlab.utils.run import finish_loggers, instantiate_group, plain_config, prepare_environment

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    from ocrlab import comparison

    prepare_environment()
    if not cfg.get("ckpt_path"):
        raise ConfigError("ckpt_path is required: evaluate.py ckpt_path=<checkpoint .ckpt or export dir>")
    entries = comparison.compare_entries(cfg)  # a bad compare list fails before anything loads or is written
    output_dir = Path(cfg.paths.output_dir)
    atomic_write_text(output_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(plain_config(cfg))))
    if cfg.get("torch_threads"):
        torch.set_num_threads(cfg.torch_threads)

    model = load_model(cfg.ckpt_path)
    engine = _baseline(cfg, model)  # before any work: a baseline of another task is an error
    trainer_cfg = cfg.trainer
    if cfg.get("quantize"):
        model = model.quantized(str(cfg.quantize))
        trainer_cfg = _quantized_trainer(cfg.trainer, model.quantization)
        atomic_write_json(output_dir / "quantization.json", model.quantization)
        log.info("quantized (%s): %s", cfg.quantize, {k: v for k, v in model.quantization.items() if k != "trainer"})
    datamodule = test_data(cfg.data, model)
    # every compared model with its own data, checked before any scoring
    compared = comparison.load_compared(cfg, entries, datamodule)
    loggers = instantiate_group(cfg.get("logger"), "logger")
    try:
        log.info("evaluating %s (%s)", cfg.ckpt_path, type(model).__name__)
        run = run_test(model, datamodule, trainer_cfg, loggers, warmup=bool(compared))
        columns = prediction_columns(run.rows)
        results = {"model": run.metrics}
        baseline = None
        if engine is not None:
            baseline = run_baseline(engine, model, run.rows)
            columns.update(baseline.columns)
            results[baseline.name] = baseline.metrics
        table = comparison.compare(cfg, model, run, baseline, compared, datamodule) if compared else None
        atomic_write_json(output_dir / "metrics.json", run.metrics)
        if baseline is not None:
            atomic_write_json(output_dir / f"metrics_{baseline.name}.json", baseline.metrics)
        write_predictions(output_dir, columns)
        if table is not None:
            table.write(output_dir, loggers)
            results.update(table.results())
    finally:
        finish_loggers(loggers)
    return run.metrics, {"results": results, "output_dir": output_dir, "model": model, "comparison": table}


# spellings Lightning treats alike
_SAME = {"accelerator": {"cuda": "gpu"}, "precision": {"32": "32-true", "16": "16-mixed", "bf16": "bf16-mixed"}}


def _quantized_trainer(trainer_cfg: DictConfig, quantization: dict) -> DictConfig:
    """The trainer config with the settings a quantized model needs (``quantization["trainer"]``):
    an ``auto`` setting takes them, a different one is an error naming both."""
    trainer_cfg = trainer_cfg.copy()
    conflicts = []
    for key, needed in (quantization.get("trainer") or {}).items():
        current = trainer_cfg.get(key)
        same = {k: _SAME.get(key, {}).get(str(v), str(v)) for k, v in (("current", current), ("needed", needed))}
        if current is None or str(current) == "auto" or same["current"] == same["needed"]:
            with open_dict(trainer_cfg):
                trainer_cfg[key] = needed
        else:
            conflicts.append(f"trainer.{key}={current} (it needs {needed})")
    if conflicts:
        raise ConfigError(f"quantize={quantization['mode']} ({quantization.get('description', '')}) cannot run with "
                          f"{', '.join(conflicts)}: set those, or leave them at auto")
    return trainer_cfg


def _baseline(cfg: DictConfig, model) -> Any:
    """The configured baseline, if any; it must serve the model's task."""
    baseline_cfg = cfg.get("baseline")
    if not baseline_cfg or not baseline_cfg.get("_target_"):
        return None
    from hydra.utils import get_class

    task = getattr(get_class(baseline_cfg._target_), "task", None)
    if task != model.task:
        raise ConfigError(f"baseline {baseline_cfg._target_} serves the task {task!r}, but the checkpoint's model "
                          f"{type(model).__name__} serves {model.task!r}: use baseline=none or a baseline of that task")
    return instantiate_checked(baseline_cfg, "baseline", _convert_="all")
