"""Shared helpers of the ocrlab benchmarks (``bench/*.py``); nothing here is a benchmark itself.

Every script:

* sets ``TOKENIZERS_PARALLELISM=false`` and ``WANDB_MODE=offline`` (importing this module does);
* generates its data with :func:`ocrlab.synth.thai_lines.generate_thai_lines` into
  ``bench/.cache/data/<name>-<spec hash>`` (gitignored; reused while the spec is the same);
* composes configs in-process with ``ocrlab.config.compose_config`` (:func:`compose_config`);
* prints a rich table and writes ``bench/results/<name>.json`` atomically (``--quick`` smoke runs
  write ``<name>.quick.json`` so they never overwrite a real measurement), with the machine facts
  and the exact settings (:func:`write_results`).

The Lightning callbacks below are referenced from Hydra overrides as ``common.<Class>``: the
scripts put ``bench/`` first on ``sys.path``.
"""

from __future__ import annotations

import os

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_SILENT", "true")

import argparse
import hashlib
import json
import platform
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
CACHE_DIR = BENCH_DIR / ".cache"
DEFAULT_EXPERIMENT = "crnn_thai_cpu"

_STARTED = time.time()
_LOAD_AT_START = os.getloadavg() if hasattr(os, "getloadavg") else None


# -- command line ----------------------------------------------------------------------------
def arg_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the options every benchmark has (``--quick``, ``--output``)."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke run (seconds): checks the script, measures nothing meaningful")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON path (default bench/results/<name>.json, <name>.quick.json with --quick)")
    return parser


def apply_quick(args: argparse.Namespace, parser: argparse.ArgumentParser, quick: dict[str, Any]) -> None:
    """With ``--quick``, replace every option the user left at its default by its quick value."""
    if not args.quick:
        return
    for key, value in quick.items():
        if getattr(args, key) == parser.get_default(key):
            setattr(args, key, value)


def set_torch_threads(threads: int | None) -> None:
    """``torch.set_num_threads`` when given (None: torch's default, one per core)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def warn_if_busy() -> bool:
    """Print a warning when the 1-minute load average already exceeds a quarter of the cores:
    other processes then compete with the measurement (and with torch's threads, which on a
    loaded 2-core machine can slow a training step down many times)."""
    cpus = os.cpu_count() or 1
    busy = _LOAD_AT_START is not None and _LOAD_AT_START[0] > 0.25 * cpus
    if busy:
        print(f"WARNING: load average {_LOAD_AT_START[0]:.2f} on {cpus} CPUs at start: the machine is busy, "
              "timings will be noisy or slow; run on an idle machine for figures you report", file=sys.stderr)
    return busy


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


# -- machine facts and results --------------------------------------------------------------
def package_version(dist: str) -> str | None:
    """The installed version of a distribution (None if it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine_facts() -> dict[str, Any]:
    """What the numbers depend on. ``torch_threads`` is read when this is called (at the end)."""
    import torch

    _version = package_version
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        # the vector units decide the GEMM kernels (ORT's MLAS is ~2.4x torch's on AVX-512 here, 1.3x on AVX2)
        "cpu_simd": _cpu_simd(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_avg_at_start": _LOAD_AT_START,
        "busy_at_start": _LOAD_AT_START is not None and _LOAD_AT_START[0] > 0.25 * (os.cpu_count() or 1),
        "load_avg_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cuda_available": torch.cuda.is_available(),
        "pytorch_lightning": _version("pytorch_lightning") or _version("pytorch-lightning"),
        "ocrlab": _version("ocrlab"),
        "git_commit": _git_commit(),
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM",
                                               "WANDB_MODE")},
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16")


def _cpu_simd() -> list[str] | None:
    """The vector-instruction flags of /proc/cpuinfo that GEMM libraries dispatch on."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return [f for f in SIMD_FLAGS if f in flags]
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    """HEAD of the checkout (read-only ``git rev-parse``); None outside git or before a commit."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def write_results(name: str, args: argparse.Namespace, results: dict[str, Any], method: dict[str, Any]) -> Path:
    """``bench/results/<name>.json`` (or ``--output``), written atomically; returns the path."""
    from ocrlab.utils.io import atomic_write_json

    path = args.output or RESULTS_DIR / f"{name}{'.quick' if args.quick else ''}.json"
    payload = {
        "benchmark": name,
        "quick": bool(args.quick),
        "command": [Path(sys.argv[0]).as_posix(), *sys.argv[1:]],
        "settings": settings_of(args),
        "method": method,
        "results": results,
        "machine": machine_facts(),
        "benchmark_wall_s": round(time.time() - _STARTED, 2),
    }
    atomic_write_json(path, payload)
    print(f"results written to {path}")
    return path


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption, caption_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    Console(width=max(120, Console().width)).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# -- configs and run dirs -------------------------------------------------------------------
def compose_config(overrides: Sequence[str], output_dir: Path, config_name: str = "train"):
    """Compose like the entry points do (``ocrlab.config.compose_config``)."""
    from ocrlab.config import compose_config as compose

    return compose(config_name, overrides, output_dir)


def new_run_dir(kind: str) -> Path:
    """A fresh ``bench/.cache/runs/<kind>/<time>_<hex>`` for one ``train(cfg)`` call."""
    path = CACHE_DIR / "runs" / kind / f"{datetime.now():%Y-%m-%d_%H-%M-%S}_{secrets.token_hex(3)}"
    path.mkdir(parents=True)
    return path


def train_with_timer(kind: str, overrides: Sequence[str], timer_class: type) -> tuple[dict, Any, float, Path]:
    """``ocrlab.training.train(cfg)`` on ``overrides`` plus an instance of ``timer_class`` (a callback
    class of a module in ``bench/``, added last as ``+callbacks.bench_timer``) in a fresh run dir of
    ``kind``: ``(metrics, the timer, wall seconds of the call, run dir)``."""
    from ocrlab.training import train

    out = new_run_dir(kind)
    target = f"{timer_class.__module__}.{timer_class.__qualname__}"
    cfg = compose_config([*overrides, f"+callbacks.bench_timer._target_={target}"], out)
    start = time.perf_counter()
    metrics, objects = train(cfg)
    seconds = time.perf_counter() - start
    timer = next(cb for cb in objects["callbacks"] if isinstance(cb, timer_class))
    return metrics, timer, seconds, out


def batches_signature(batches: Sequence) -> str:
    """A short hash of a run's per-batch keys (JSON-able): equal iff both runs saw the same batches."""
    return hashlib.sha256(json.dumps(list(batches)).encode()).hexdigest()[:12]


def data_overrides(data_dir: Path) -> list[str]:
    """Point ``data`` at a generated dataset (absolute ``data_dir``, no generation on first use)."""
    return [f"data.data_dir={data_dir}", "data.synth=null"]


def run_overrides(experiment: str) -> list[str]:
    """What every benchmark training run shares: the experiment, CSV logs under the cache."""
    return [f"experiment={experiment}", "logger=csv", f"paths.log_dir={CACHE_DIR / 'logs'}"]


# -- data -------------------------------------------------------------------------------------
def ensure_dataset(name: str, splits: dict[str, int], seed: int, workers: int = 2, progress: bool = True,
                   **spec: Any) -> tuple[Path, dict[str, Any]]:
    """A generated Thai-line dataset in ``bench/.cache/data/<name>-<hash of its spec>``.

    Generated on first use, reused afterwards (the directory name changes with the spec and the
    faces this machine draws it with, so a changed setting or font never meets
    :class:`DatasetMismatchError`). Returns the path and facts
    for the JSON (spec, whether it was generated now, how long that took).
    """
    from ocrlab.synth.thai_lines import build_spec, describe_dataset, generate_thai_lines, pool_fonts

    full_spec = build_spec(splits, seed, **spec)
    # the faces this machine has for the spec are part of the name: other fonts, another dataset
    fonts = [f.to_dict() for f in pool_fonts(full_spec)]
    digest = hashlib.sha256(json.dumps([full_spec, fonts], sort_keys=True).encode()).hexdigest()[:10]
    path = CACHE_DIR / "data" / f"{name}-{digest}"
    existed = path.is_dir()
    start = time.perf_counter()
    generate_thai_lines(path, splits=splits, seed=seed, workers=max(1, workers), progress=progress, **spec)
    seconds = time.perf_counter() - start
    families = sorted({f["family"] for f in describe_dataset(path)["fonts"]})
    return path, {"path": str(path), "spec": full_spec, "generated_now": not existed,
                  "generation_s": round(seconds, 2) if not existed else None, "font_families": families}


def add_held_out_font_options(parser: argparse.ArgumentParser) -> None:
    """The data options of the benchmarks that score on a held-out font (time_to_quality, recipe_search)."""
    parser.add_argument("--holdout-font", default="Sarabun",
                        help="font family left out of train/val and used alone for test (always installed: "
                             "Sarabun, Kanit, Prompt)")
    parser.add_argument("--train-lines", type=int, default=20000)
    parser.add_argument("--val-lines", type=int, default=1000)
    parser.add_argument("--test-lines", type=int, default=1000)
    parser.add_argument("--train-seed", type=int, default=0)
    parser.add_argument("--test-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="data generation processes")
    parser.add_argument("--max-chars", type=int, default=16,
                        help="longest generated line (the default experiment trains on <= 16)")


def held_out_font_datasets(args: argparse.Namespace, progress: bool = True) -> tuple[Path, dict, Path, dict]:
    """Train/val lines in every usable family but ``--holdout-font``; test lines (another seed)
    in that family only. Exits if the two share a family."""
    train_dir, train_info = ensure_dataset(
        "ttq_train", {"train": args.train_lines, "val": args.val_lines}, seed=args.train_seed,
        workers=args.workers, progress=progress, fonts_exclude=[args.holdout_font], max_chars=args.max_chars)
    test_dir, test_info = ensure_dataset(
        "ttq_test", {"test": args.test_lines}, seed=args.test_seed, workers=args.workers, progress=progress,
        fonts_include=[args.holdout_font], max_chars=args.max_chars)
    overlap = set(train_info["font_families"]) & set(test_info["font_families"])
    if overlap:
        sys.exit(f"train and test share font families {sorted(overlap)}")
    return train_dir, train_info, test_dir, test_info


def label_records(dataset_dir: Path, split: str) -> list[tuple[Path, str]]:
    """(image path, label) of a split of a generated dataset, in file order."""
    out = []
    for line in (dataset_dir / f"{split}.txt").read_text(encoding="utf-8").splitlines():
        rel, label = line.split("\t", 1)
        out.append((dataset_dir / rel, label))
    return out


# -- Tesseract --------------------------------------------------------------------------------
def make_tesseract(threads: int = 1, lang: str = "tha+eng", psm: int = 7):
    """ocrlab's Tesseract baseline (one process per line, ``OMP_THREAD_LIMIT=threads``), or
    ``(None, info)`` with the reason when the binary or a language pack is missing."""
    from ocrlab.baselines.tesseract import TesseractRecognizer, TesseractUnavailable

    info: dict[str, Any] = {"lang": lang, "psm": psm, "threads": threads}
    try:
        engine = TesseractRecognizer(lang=lang, psm=psm, threads=threads)
    except TesseractUnavailable as e:
        info["unavailable"] = str(e)
        return None, info
    info["version"] = engine.version()
    info["binary"] = engine.binary
    return engine, info


def run_tesseract(engine, images: Sequence) -> tuple[list[str], float]:
    """Predictions (normalized by the baseline) and the seconds spent in ``recognize_one``."""
    preds, seconds = [], 0.0
    for image in images:
        start = time.perf_counter()
        preds.append(engine.recognize_one(image))
        seconds += time.perf_counter() - start
    return preds, seconds


# -- Lightning callbacks (instantiated by Hydra from ``+callbacks.<name>._target_=common.X``) ----
def window_stats(ends: Sequence[float], sizes: Sequence[int], warmup: int) -> dict[str, float]:
    """Throughput over the batches after ``warmup``: from the end of batch ``warmup`` (1-based)
    to the end of the last one, so each timed batch counts one fetch + step + per-step hooks."""
    if warmup < 1 or len(ends) <= warmup:
        raise ValueError(f"need more than warmup={warmup} (>= 1) batches, got {len(ends)}")
    seconds = ends[-1] - ends[warmup - 1]
    samples = sum(sizes[warmup:])
    steps = len(ends) - warmup
    return {"seconds": seconds, "steps": steps, "samples": samples,
            "samples_per_s": samples / seconds, "ms_per_step": 1000.0 * seconds / steps}


class StepTimer(pl.Callback):
    """Records the time at the end of every training batch (and the batch's size and width).

    The last of the callbacks configured, it adds one ``perf_counter`` call per step.
    """

    def __init__(self):
        self.ends: list[float] = []
        self.sizes: list[int] = []
        self.widths: list[int] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.ends.append(time.perf_counter())
        self.sizes.append(len(batch["labels"]))
        self.widths.append(int(batch["images"].shape[-1]))


class DocumentStepTimer(pl.Callback):
    """:class:`StepTimer` for document batches (``ocrlab.families.layoutlmv3.inputs.collate_windows``):
    the time at the end of every training batch, its documents, windows, padded length, a
    checksum of its token ids and the step's loss; plus a checksum of the initial weights.
    """

    def __init__(self):
        self.ends: list[float] = []
        self.sizes: list[int] = []
        self.batches: list[tuple[int, int, int, int]] = []
        self.losses: list[float] = []
        self.initial_weights: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self.initial_weights = weights_checksum(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.ends.append(time.perf_counter())
        self.sizes.append(len(batch["num_words"]))
        self.batches.append(document_batch_key(batch))
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss))


def document_batch_key(batch: dict) -> tuple[int, int, int, int]:
    """(documents, windows, padded length, sum of token ids) of a document batch."""
    ids = batch["input_ids"]
    return len(batch["num_words"]), int(ids.shape[0]), int(ids.shape[1]), int(ids.sum())


def weights_checksum(module) -> float:
    """Sum of every parameter (float64): equal initial weights give equal sums."""
    import torch

    with torch.no_grad():
        return float(sum(p.detach().double().sum() for p in module.parameters()))


class WallClockCheckpoints(pl.Callback):
    """Saves a checkpoint when the wall clock passes each mark (seconds since ``start_time``, a
    ``time.time()`` taken just before ``train(cfg)``), then stops training after the last one.

    Marks are checked after every training batch and after every validation, so a mark that
    passes during validation is saved right after it (``elapsed_s`` says when). If training
    ends first, the remaining marks get the final weights, flagged ``ended_before_mark``.
    """

    def __init__(self, marks_s: Sequence[float], dirpath: str, start_time: float, stop_after_last: bool = True):
        self.marks_s = sorted(float(m) for m in marks_s)
        self.dirpath = Path(dirpath)
        self.start_time = float(start_time)
        self.stop_after_last = stop_after_last
        self.saved: list[dict[str, Any]] = []
        self.train_start_elapsed_s: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self.train_start_elapsed_s = time.time() - self.start_time

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._check(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._check(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        for mark in self.marks_s[len(self.saved):]:
            self._save(trainer, mark, ended_before_mark=True)

    def _check(self, trainer) -> None:
        elapsed = time.time() - self.start_time
        while len(self.saved) < len(self.marks_s) and elapsed >= self.marks_s[len(self.saved)]:
            self._save(trainer, self.marks_s[len(self.saved)], ended_before_mark=False)
        if self.stop_after_last and len(self.saved) == len(self.marks_s):
            trainer.should_stop = True

    def _save(self, trainer, mark: float, ended_before_mark: bool) -> None:
        path = self.dirpath / f"wallclock_{round(mark)}s.ckpt"
        elapsed = time.time() - self.start_time
        trainer.save_checkpoint(path, weights_only=False)
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        self.saved.append({
            "mark_s": mark,
            "elapsed_s": round(elapsed, 2),
            "ended_before_mark": ended_before_mark,
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            "lr": optimizer.param_groups[0]["lr"] if optimizer else None,
            "path": str(path),
        })


def hf_trainer_steps(model, module, cfg, datamodule, n_steps: int, name: str, rng) -> tuple[list[float], float, Path]:
    """``n_steps`` of a plain ``transformers.Trainer`` on ``model`` (``forward(**batch)`` returns
    the loss), with the ocrlab module's optimizer and scheduler over its trainable parameters and
    the data module's own train loader (the batches Lightning gets). ``rng``: the torch RNG state
    to restore after ``Trainer.__init__`` reseeds. Returns (step end times, wall time, run dir)."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class Stamp(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    class LoaderTrainer(Trainer):
        """The Trainer reading the data module's train loader (same batches as Lightning)."""

        def get_train_dataloader(self):
            return self.accelerator.prepare(datamodule.train_dataloader())

    optimizer = module.optimizer_factory(params=[p for p in model.parameters() if p.requires_grad])
    scheduler = None
    if module.scheduler_factory is not None:
        scheduler = module.scheduler_factory(optimizer, total_steps=n_steps,
                                             steps_per_epoch=max(1, len(datamodule.train_dataloader())))
    out = new_run_dir(f"{name}_hf")
    args = TrainingArguments(
        output_dir=str(out), report_to=[], save_strategy="no", eval_strategy="no", logging_strategy="steps",
        logging_steps=1_000_000, use_cpu=True, disable_tqdm=True, dataloader_num_workers=0,
        dataloader_pin_memory=False, remove_unused_columns=False, per_device_train_batch_size=int(cfg.data.batch_size),
        max_steps=n_steps, max_grad_norm=float(cfg.trainer.get("gradient_clip_val") or 0.0),
        gradient_accumulation_steps=1, seed=int(cfg.seed))
    stamp = Stamp()
    trainer = LoaderTrainer(model=model, args=args, train_dataset=datamodule.datasets["train"],
                            data_collator=datamodule.collate, optimizers=(optimizer, scheduler), callbacks=[stamp])
    torch.set_rng_state(rng)  # Trainer.__init__ reseeded
    start = time.perf_counter()
    trainer.train()
    return stamp.ends, time.perf_counter() - start, out


# -- the overhead benchmarks' measurement (layoutlmv3_overhead.py, vl_overhead.py) ---------------
def attached_datamodule(cfg, build_model, n_steps: int, name: str, more_data: str):
    """The HF side's data: ``cfg.data`` attached to a model of ``cfg.model`` (seeded as a run),
    set up for fit. Exits, naming ``more_data`` (the option to raise), when one epoch holds fewer
    than ``n_steps`` batches: no epoch boundary may fall in the timed window. Returns (data module,
    the model, train batches)."""
    from hydra.utils import instantiate

    from ocrlab.label_spaces import fit_label_spaces

    datamodule = instantiate(cfg.data)
    model_cfg = fit_label_spaces(cfg.model, datamodule)  # as train(cfg): learned label spaces first
    pl.seed_everything(cfg.seed, workers=True)
    model = build_model(model_cfg)
    datamodule.attach_model(model)
    datamodule.setup("fit")
    available = len(datamodule.train_dataloader())
    if n_steps > available:
        sys.exit(f"{name}: --warmup + --steps = {n_steps} batches but one epoch has {available} "
                 f"(batch {cfg.data.batch_size}); raise {more_data} so no epoch boundary falls in the window")
    return datamodule, model, available


def alternate_sides(name: str, hf_run, ocrlab_run, n_steps: int, warmup: int, repeats: int, rate: str,
                    unit: str) -> list[dict[str, Any]]:
    """One untimed ``hf_run(warmup + 1)`` (the process's one-off costs land there), then ``repeats``
    pairs: HF first in even repeats, ocrlab first in odd ones. ``hf_run(steps)`` and ``ocrlab_run()``
    return step end times (``ends``), batch ``sizes``, ``batches`` keys and ``losses``; each run
    becomes its ``window_stats`` (plus ``steps_per_s``), its other fields and its batches' signature."""
    import gc

    hf_run(warmup + 1)
    runs: list[dict[str, Any]] = []
    for rep in range(repeats):
        for side in (("hf", "ocrlab") if rep % 2 == 0 else ("ocrlab", "hf")):
            gc.collect()
            run = hf_run(n_steps) if side == "hf" else ocrlab_run()
            stats = window_stats(run["ends"], run["sizes"], warmup)
            stats["steps_per_s"] = 1000.0 / stats["ms_per_step"]
            runs.append({"repeat": rep, "side": side, **stats,
                         **{k: v for k, v in run.items() if k not in ("ends", "sizes")},
                         "batches_signature": batches_signature(run["batches"])})
            print(f"[{name}] repeat {rep + 1}/{repeats} {side}: {stats[rate]:.3f} {unit} "
                  f"({stats['ms_per_step']:.0f} ms/step)", flush=True)
    return runs


def compare_sides(runs: Sequence[dict[str, Any]], rate: str) -> dict[str, Any]:
    """The two sides' ``rate`` per run (``hf``, ``ocrlab``), per-pair ratios, the ratio of medians, and
    the checks that both trained alike: same batches, initial weights and per-step losses."""
    hf = [r[rate] for r in runs if r["side"] == "hf"]
    ocr = [r[rate] for r in runs if r["side"] == "ocrlab"]
    reference = runs[0]["losses"]
    loss_gap = max(max(abs(a - b) for a, b in zip(r["losses"], reference, strict=True)) for r in runs)
    return {"hf": hf, "ocrlab": ocr, "pair_ratios": [o / h for h, o in zip(hf, ocr, strict=True)],
            "ratio": median(ocr) / median(hf),
            "same_batches": len({r["batches_signature"] for r in runs}) == 1,
            "same_init": len({round(r["initial_weights"], 6) for r in runs}) == 1,
            "loss_gap": loss_gap, "same_losses": loss_gap <= 1e-4 * max(1.0, max(abs(x) for x in reference))}
