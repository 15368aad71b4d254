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
  for ``int8``): ``trainer.accelerator=auto`` follows it, another setting is an error.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from tqdm import tqdm

from ocrlab.errors import ConfigError, DatasetError
from ocrlab.loading import load_model
from ocrlab.utils.instantiate import instantiate_checked
from ocrlab.utils.io import atomic_write_json, atomic_write_text
from ocrlab.utils.run import plain_config, prepare_environment

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    prepare_environment()
    if not cfg.get("ckpt_path"):
        raise ConfigError("ckpt_path is required: evaluate.py ckpt_path=<checkpoint .ckpt or export dir>")
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
    datamodule = instantiate_checked(_data_for_evaluation(cfg.data), "data")
    datamodule.disable_generation()  # score the data the user names; a misspelt path is an error naming it
    datamodule.attach_model(model)
    datamodule.prepare_splits(["test"])
    if not datamodule.has_split("test"):
        raise DatasetError(datamodule.missing_split_error("test"))

    import pytorch_lightning as pl

    from ocrlab.callbacks import TestReports

    trainer: pl.Trainer = instantiate_checked(trainer_cfg, "trainer", logger=False, callbacks=[TestReports()],
                                              enable_checkpointing=False)
    log.info("evaluating %s (%s)", cfg.ckpt_path, type(model).__name__)
    trainer.test(model=model, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    atomic_write_json(output_dir / "metrics.json", metrics)

    rows = list(model.test_rows)
    columns: dict[str, list] = {k: [r[k] for r in rows] for k in (rows[0] if rows else {})}
    results = {"model": metrics}
    if engine is not None:
        name = getattr(engine, "name", type(engine).__name__.lower())
        inputs = model.baseline_inputs(rows)
        preds: list = []
        seconds = 0.0
        chunk = 100
        for start_i in tqdm(range(0, len(inputs), chunk), desc=name, unit=f"x{chunk}"):
            start = time.perf_counter()
            preds += engine.recognize(inputs[start_i : start_i + chunk])
            seconds += time.perf_counter() - start
        b_metrics, b_columns = model.score_baseline(name, preds, rows, seconds)
        atomic_write_json(output_dir / f"metrics_{name}.json", b_metrics)
        columns.update(b_columns)
        results[name] = b_metrics

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(list(columns))
    writer.writerows(zip(*columns.values(), strict=True))
    atomic_write_text(output_dir / "predictions.tsv", buf.getvalue())
    names = list(columns)
    jsonl = "".join(json.dumps(dict(zip(names, values, strict=True)), ensure_ascii=False, default=str) + "\n"
                    for values in zip(*columns.values(), strict=True))
    atomic_write_text(output_dir / "predictions.jsonl", jsonl)
    return metrics, {"results": results, "output_dir": output_dir, "model": model}


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


def _data_for_evaluation(data_cfg: DictConfig) -> DictConfig:
    """The data config with its unset mandatory keys (``???``) set to null: evaluation reads the
    test split only, so e.g. training files a data config requires are not needed here."""
    data_cfg = data_cfg.copy()
    missing = sorted(OmegaConf.missing_keys(data_cfg))
    if missing:
        log.info("not needed to evaluate, left unset: %s", ", ".join(f"data.{k}" for k in missing))
        with open_dict(data_cfg):
            for key in missing:
                OmegaConf.update(data_cfg, key, None, force_add=True)
    return data_cfg
