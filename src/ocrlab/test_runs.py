"""One model's test run on a test split, timed per batch; a baseline's run on the same rows; the
prediction files. Shared by ``evaluate.py`` (:mod:`ocrlab.evaluation`) and its comparison table
(:mod:`ocrlab.comparison`)."""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning import Callback
from tqdm import tqdm

from ocrlab.errors import DatasetError
from ocrlab.utils.instantiate import instantiate_checked
from ocrlab.utils.io import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class TestRun:
    """One model's test run: its test metrics, its rows (``test_rows``), and per test batch the
    seconds its test step took and the rows it added."""

    metrics: dict[str, float]
    rows: list[dict]
    batches: list[tuple[float, int]]


@dataclass
class BaselineRun:
    name: str
    metrics: dict[str, float]
    columns: dict[str, list]
    batches: list[tuple[float, int]]  # per chunk: seconds, inputs


class BatchTimer(Callback):
    """Times each test step (the batch is already on the device; CUDA is synchronized) and counts
    the rows it added to the module's ``test_rows``: per-batch speed for any family."""

    def __init__(self):
        self.batches: list[tuple[float, int]] = []

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self._start, self._rows = time.perf_counter(), len(pl_module.test_rows)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.batches.append((time.perf_counter() - self._start, len(pl_module.test_rows) - self._rows))


def test_data(data_cfg: DictConfig, model) -> Any:
    """The data module of ``data_cfg`` attached to ``model`` (its own label space and input
    spec), its test split built; nothing is generated."""
    datamodule = instantiate_checked(data_for_evaluation(data_cfg), "data")
    datamodule.disable_generation()  # score the data the user names; a misspelt path is an error naming it
    datamodule.attach_model(model)
    datamodule.prepare_splits(["test"])
    if not datamodule.has_split("test"):
        raise DatasetError(datamodule.missing_split_error("test"))
    datamodule.setup("test")
    return datamodule


def run_test(model, datamodule, trainer_cfg: DictConfig, loggers=(), reports: str = "reports",
             warmup: bool = False) -> TestRun:
    """``trainer.test`` of ``model`` on ``datamodule``: the family's own test step and report
    (into ``<run dir>/<reports>``). ``warmup``: one test batch first, untimed and unscored, so
    that timings leave out one-off costs (thread pools, kernel selection for the model's shapes)."""
    import pytorch_lightning as pl

    from ocrlab.callbacks import TestReports

    if warmup:
        instantiate_checked(trainer_cfg, "trainer", logger=False, callbacks=[], enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False,
                            limit_test_batches=1).test(model=model, datamodule=datamodule, verbose=False)
    timer = BatchTimer()
    trainer: pl.Trainer = instantiate_checked(trainer_cfg, "trainer", logger=list(loggers) or False,
                                              callbacks=[TestReports(reports), timer], enable_checkpointing=False)
    trainer.test(model=model, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    return TestRun(metrics, list(model.test_rows), timer.batches)


def run_baseline(engine, model, rows: list[dict], chunk: int = 100) -> BaselineRun:
    """``engine`` on the inputs of the model's test rows (the same samples), scored by the model's
    task against the same references; timed per chunk of ``chunk`` inputs."""
    name = getattr(engine, "name", type(engine).__name__.lower())
    inputs = model.baseline_inputs(rows)
    preds: list = []
    batches: list[tuple[float, int]] = []
    for start_i in tqdm(range(0, len(inputs), chunk), desc=name, unit=f"x{chunk}"):
        start = time.perf_counter()
        out = engine.recognize(inputs[start_i : start_i + chunk])
        batches.append((time.perf_counter() - start, len(out)))
        preds += out
    metrics, columns = model.score_baseline(name, preds, rows, sum(s for s, _ in batches))
    return BaselineRun(name, metrics, columns, batches)


def prediction_columns(rows: list[dict]) -> dict[str, list]:
    return {k: [r[k] for r in rows] for k in (rows[0] if rows else {})}


def write_predictions(directory: Path, columns: dict[str, list]) -> None:
    """``predictions.tsv`` and ``predictions.jsonl`` (the same rows as JSON objects: values that
    do not fit a TSV cell stay exact) of ``columns`` into ``directory``."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(list(columns))
    writer.writerows(zip(*columns.values(), strict=True))
    atomic_write_text(directory / "predictions.tsv", buf.getvalue())
    names = list(columns)
    jsonl = "".join(json.dumps(dict(zip(names, values, strict=True)), ensure_ascii=False, default=str) + "\n"
                    for values in zip(*columns.values(), strict=True))
    atomic_write_text(directory / "predictions.jsonl", jsonl)


def data_for_evaluation(data_cfg: DictConfig) -> DictConfig:
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
