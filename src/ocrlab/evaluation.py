"""``evaluate(cfg)``: score a checkpoint (and optionally a baseline) on label files.

Writes into the run dir: ``metrics.json`` (``test/cer``, ``test/wer``, ``test/acc``,
``test/ned``, ``test/ms_per_line``, ``test/lines``), ``predictions.tsv`` (one row per line:
image, reference, prediction, CER, and the baseline's prediction and CER when one runs), and
``metrics_<baseline>.json`` with the same keys for the baseline.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from ocrlab.inference import TextRecognizer
from ocrlab.metrics.text import line_cer, score_texts
from ocrlab.text.normalize import normalize_text
from ocrlab.utils.io import atomic_write_json, atomic_write_text
from ocrlab.utils.run import plain_config, prepare_environment

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    prepare_environment()
    if not cfg.get("ckpt_path"):
        raise ValueError("ckpt_path is required: evaluate.py ckpt_path=<checkpoint .ckpt or export dir>")
    output_dir = Path(cfg.paths.output_dir)
    atomic_write_text(output_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(plain_config(cfg))))
    if cfg.get("torch_threads"):
        torch.set_num_threads(cfg.torch_threads)

    device = cfg.get("device") or "auto"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    recognizer = TextRecognizer.load(cfg.ckpt_path, device=device)
    # the checkpoint's charset and input spec, not the config's: the weights only make sense with them
    spec = recognizer.input_spec
    datamodule = instantiate(cfg.data, charset=recognizer.charset, image_height=spec.height,
                             max_width=spec.max_width, channels=spec.channels)
    datamodule.prepare_splits(["test"])
    datamodule.setup("test")
    dataset = datamodule.datasets["test"]
    log.info("evaluating %s on %d lines", cfg.ckpt_path, len(dataset))

    preds: list[str] = []
    refs: list[str] = []
    paths: list[str] = []
    seconds = 0.0
    for batch in tqdm(datamodule.test_dataloader(), desc="model", unit="batch"):
        start = time.perf_counter()
        preds += recognizer.recognize_batch(batch)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
        refs += batch["labels"]
        paths += batch["paths"]
    preds = [normalize_text(p) for p in preds]
    metrics = score_texts(preds, refs, prefix="test/")
    metrics["test/ms_per_line"] = 1000.0 * seconds / max(1, len(preds))
    metrics["test/lines"] = len(preds)
    atomic_write_json(output_dir / "metrics.json", metrics)

    columns: dict[str, list] = {"image": paths, "reference": refs, "prediction": preds,
                                "cer": [round(line_cer(p, r), 4) for p, r in zip(preds, refs, strict=True)]}
    results = {"model": metrics}
    baseline_cfg = cfg.get("baseline")
    if baseline_cfg and baseline_cfg.get("_target_"):
        engine = instantiate(baseline_cfg, _convert_="all")
        name = getattr(engine, "name", type(engine).__name__.lower())
        b_preds: list[str] = []
        b_seconds = 0.0
        chunk = 100
        for start_i in tqdm(range(0, len(paths), chunk), desc=name, unit=f"x{chunk} lines"):
            start = time.perf_counter()
            b_preds += [normalize_text(p) for p in engine.recognize(paths[start_i : start_i + chunk])]
            b_seconds += time.perf_counter() - start
        b_metrics = score_texts(b_preds, refs, prefix="test/")
        b_metrics["test/ms_per_line"] = 1000.0 * b_seconds / max(1, len(b_preds))
        b_metrics["test/lines"] = len(b_preds)
        atomic_write_json(output_dir / f"metrics_{name}.json", b_metrics)
        columns[f"{name}_prediction"] = b_preds
        columns[f"{name}_cer"] = [round(line_cer(p, r), 4) for p, r in zip(b_preds, refs, strict=True)]
        results[name] = b_metrics

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(list(columns))
    writer.writerows(zip(*columns.values(), strict=True))
    atomic_write_text(output_dir / "predictions.tsv", buf.getvalue())
    return metrics, {"results": results, "output_dir": output_dir}
