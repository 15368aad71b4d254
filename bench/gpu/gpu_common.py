"""What the GPU throughput benchmarks (``bench/gpu/<family>.py``) share.

Each family script describes its rows (a model of the family at its real GPU shape: the
experiment plus the overrides that pick the shape) and its data; :func:`main` does the rest:

* refuses (exit code 2, a message) when no CUDA GPU is visible, unless ``--cpu-smoke``: the same
  code path on the CPU, ``32-true``, a few steps of small batches, for tests;
* generates the family's synthetic data once into ``bench/.cache/data`` (the project's
  generators, through ``bench/common.py`` / ``vl_common.py`` / ``layoutlmv3_overhead.py``);
* trains every row under every strategy the family supports, for a fixed number of optimizer
  steps (``trainer.max_steps = --warmup + --steps``), with validation, sanity check, test and
  checkpoints off (the TrOCR teacher keeps ``last.ckpt``: the student's teacher);
* one device (``trainer=gpu``) in this process through ``common.train_with_timer``; ``trainer=ddp``,
  ``fsdp``, ``fsdp2`` on all visible GPUs (``--devices``) as ``python train.py ...`` in a fresh
  process (Lightning's launcher starts one process per device by re-running the command);
  skipped, with the reason printed and recorded, when fewer than two GPUs are visible;
* :class:`GpuStepTimer` (the run's last callback) stamps the end of every training batch after
  ``torch.cuda.synchronize()`` and reads ``torch.cuda.max_memory_allocated`` (peak reset at
  ``on_train_start``, i.e. with the model on the device, before the first step), per rank;
* prints a table (``common.print_table``) and writes ``bench/results/gpu_<family>.json``
  (``common.write_results``; ``--quick`` and ``--cpu-smoke`` runs write ``*.quick.json`` /
  ``*.cpu_smoke.quick.json``, so a smoke run never overwrites a measurement).

Throughput (:func:`window_stats`): samples (lines, documents, instruction pairs) per second from
the end of the micro-batch that completes optimizer step ``--warmup`` to the end of the last one,
leaving out the first micro-batch of each later epoch (its interval holds the end-of-epoch hooks
and the data loader's restart, not a steady-state step). Under DDP/FSDP the samples of all ranks
count, over the longest rank's window.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
for _p in (str(BENCH), str(HERE)):  # `common`, `vl_common`, ... and this module by their short names
    if _p not in sys.path:
        sys.path.insert(0, _p)

import common
import pytorch_lightning as pl

ROOT = common.ROOT
STRATEGIES = ("single", "ddp", "fsdp", "fsdp2")
MULTI = ("ddp", "fsdp", "fsdp2")
NO_GPU_EXIT = 2
GIB = 1024**3
# callbacks a benchmark run keeps (the rest write checkpoints, exports or progress, or run after
# validation/test, which are off); `last_checkpoint` too when a row's checkpoint is needed later
KEEP_CALLBACKS = ("model_summary", "training_report")


# -- the timer ------------------------------------------------------------------------------------
def batch_size_of(batch: Any, key: str = "auto") -> int:
    """Samples in a training batch: ``len(batch[key])``; ``auto``: documents (``num_words``), else
    text lines (``labels``, a list), else rows of ``input_ids`` / ``images``."""
    if key != "auto":
        return len(batch[key])
    for k in ("num_words", "labels", "input_ids", "images"):
        if isinstance(batch, dict) and k in batch:
            return len(batch[k])
    raise KeyError(f"no batch size key in {sorted(batch) if isinstance(batch, dict) else type(batch).__name__}")


class GpuStepTimer(pl.Callback):
    """The end of every training batch (after ``torch.cuda.synchronize`` on a GPU), its epoch,
    index, samples and the optimizer steps done; the peak GPU memory of the fit (reset at
    ``on_train_start``). ``output``: also written to ``<output>.rank<N>.json`` at the end of fit
    (the runs in other processes)."""

    def __init__(self, size_key: str = "auto", output: str | None = None):
        self.size_key = size_key
        self.output = output
        self.records: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}
        self._cuda_device = None

    def on_train_start(self, trainer, pl_module) -> None:
        import torch

        device = pl_module.device
        self._cuda_device = device if device.type == "cuda" else None
        facts: dict[str, Any] = {
            "rank": trainer.global_rank, "world_size": trainer.world_size, "device": str(device),
            "lightning_strategy": type(trainer.strategy).__name__, "precision": str(trainer.precision),
            "accumulate_grad_batches": trainer.accumulate_grad_batches,
            "parameters": sum(p.numel() for p in pl_module.parameters()),
            "trainable_parameters": sum(p.numel() for p in pl_module.parameters() if p.requires_grad),
        }
        if self._cuda_device is not None:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            facts["gpu_name"] = torch.cuda.get_device_name(device)
            facts["allocated_at_start_bytes"] = torch.cuda.memory_allocated(device)
        self.facts = facts
        self.t_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._cuda_device is not None:
            import torch

            torch.cuda.synchronize(self._cuda_device)
        self.records.append({"t": time.perf_counter(), "epoch": trainer.current_epoch, "batch_idx": batch_idx,
                             "global_step": trainer.global_step, "size": batch_size_of(batch, self.size_key)})

    def on_train_end(self, trainer, pl_module) -> None:
        if self._cuda_device is not None:
            import torch

            self.facts["peak_allocated_bytes"] = torch.cuda.max_memory_allocated(self._cuda_device)
            self.facts["peak_reserved_bytes"] = torch.cuda.max_memory_reserved(self._cuda_device)
        if self.output:
            path = Path(f"{self.output}.rank{trainer.global_rank}.json")
            path.write_text(json.dumps(self.dump()))

    def dump(self) -> dict[str, Any]:
        return {"facts": self.facts, "records": self.records}


def window_stats(records: Sequence[dict[str, Any]], warmup: int) -> dict[str, Any]:
    """Steady-state throughput of one rank's records (see the module docstring)."""
    start = next((i for i, r in enumerate(records) if r["global_step"] >= warmup), None)
    if start is None or start == len(records) - 1:
        raise RuntimeError(f"no training batch after the {warmup} warm-up optimizer steps "
                           f"({len(records)} batches recorded): raise --steps")
    seconds, samples, micro, excluded = 0.0, 0, 0, 0
    for prev, rec in zip(records[start:], records[start + 1:], strict=False):
        if rec["batch_idx"] == 0:  # a new epoch: end-of-epoch hooks + the loader's restart
            excluded += 1
            continue
        seconds += rec["t"] - prev["t"]
        samples += rec["size"]
        micro += 1
    if micro == 0 or seconds <= 0:
        raise RuntimeError("every timed batch started an epoch: the dataset is too small for the batch size")
    steps = records[-1]["global_step"] - records[start]["global_step"]
    return {"seconds": seconds, "samples": samples, "micro_batches": micro, "optimizer_steps": steps,
            "excluded_epoch_starts": excluded, "samples_per_s": samples / seconds,
            "ms_per_micro_batch": 1000.0 * seconds / micro,
            "ms_per_optimizer_step": 1000.0 * seconds / micro * (micro + excluded) / steps if steps else None}


def combine_ranks(dumps: Sequence[dict[str, Any]], warmup: int) -> dict[str, Any]:
    """One run's figures from its ranks' timer dumps: all ranks' samples over the longest window;
    the peak memory of the fullest rank (and each rank's)."""
    per_rank = [window_stats(d["records"], warmup) for d in dumps]
    facts = [d["facts"] for d in dumps]
    seconds = max(s["seconds"] for s in per_rank)
    samples = sum(s["samples"] for s in per_rank)
    peaks = [f.get("peak_allocated_bytes") for f in facts]
    reserved = [f.get("peak_reserved_bytes") for f in facts]
    first = per_rank[0]
    return {
        "samples_per_s": samples / seconds,
        "window_s": seconds,
        "samples": samples,
        "micro_batches_per_rank": first["micro_batches"],
        "optimizer_steps_timed": first["optimizer_steps"],
        "excluded_epoch_starts": first["excluded_epoch_starts"],
        "ms_per_optimizer_step": first["ms_per_optimizer_step"],
        "ms_per_micro_batch": first["ms_per_micro_batch"],
        "peak_gpu_mem_gib": max(peaks) / GIB if all(p is not None for p in peaks) else None,
        "peak_gpu_mem_reserved_gib": max(reserved) / GIB if all(r is not None for r in reserved) else None,
        "peak_gpu_mem_gib_per_rank": [p / GIB if p is not None else None for p in peaks],
        "gpu_mem_at_start_gib": (facts[0]["allocated_at_start_bytes"] / GIB
                                 if facts[0].get("allocated_at_start_bytes") is not None else None),
        "lightning_strategy": facts[0]["lightning_strategy"],
        "precision_used": facts[0]["precision"],
        "world_size": facts[0]["world_size"],
        "accumulate_grad_batches": facts[0]["accumulate_grad_batches"],
        "gpu_name": facts[0].get("gpu_name"),
        "parameters": facts[0]["parameters"],
        "trainable_parameters": facts[0]["trainable_parameters"],
        "per_rank": [{"rank": f["rank"], "samples_per_s": s["samples_per_s"], "window_s": s["seconds"]}
                     for f, s in zip(facts, per_rank, strict=True)],
    }


# -- what a family script gives -------------------------------------------------------------------
@dataclass
class Row:
    """A model of the family at its GPU shape: ``overrides`` (experiment + shape) are the real
    config; ``quick`` the extra ones of ``--quick`` (the family's tiny shape)."""

    name: str
    experiment: str
    overrides: list[str]
    warmup: int
    steps: int
    quick: list[str] = field(default_factory=list)
    smoke_batch_size: int = 4
    keep_checkpoint: bool = False
    # called with (args, finished runs) before the row runs: extra overrides (e.g. the teacher's
    # checkpoint), or a str: the reason to skip the row
    prepare: Callable[[argparse.Namespace, list[dict[str, Any]]], list[str] | str] | None = None
    note: str = ""


@dataclass
class Family:
    name: str  # crnn, layoutlmv3, paddleocr_vl, trocr: the JSON is gpu_<name>.json
    description: str
    rows: list[Row]
    strategies: tuple[str, ...]
    unsupported: dict[str, str]  # strategy -> why the family does not run it by default
    size_key: str
    unit: str  # what a sample is (lines, documents, pairs)
    data: Callable[[argparse.Namespace], tuple[list[str], dict[str, Any]]]
    precisions: tuple[str, ...] = ("bf16-mixed",)
    default_num_workers: int = 4
    add_options: Callable[[argparse.ArgumentParser], None] | None = None


# -- command line ---------------------------------------------------------------------------------
def parser_for(family: Family, doc: str) -> argparse.ArgumentParser:
    parser = common.arg_parser(doc.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="no GPU needed: the same code path on the CPU, 32-true, a few steps of small batches "
                             "(tests); the figures mean nothing")
    parser.add_argument("--cpu-devices", type=int, default=0,
                        help="with --cpu-smoke: run the multi-device strategies on this many CPU processes (gloo); "
                             "0 skips them")
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(family.strategies),
                        help="single (one GPU), ddp, fsdp, fsdp2 (these need 2+ GPUs: skipped otherwise)")
    parser.add_argument("--devices", type=int, default=None,
                        help="GPUs of the ddp/fsdp/fsdp2 runs (default: all visible)")
    parser.add_argument("--precision", nargs="+", default=list(family.precisions),
                        help="trainer.precision values to run (--cpu-smoke: 32-true)")
    parser.add_argument("--models", nargs="+", choices=[r.name for r in family.rows], default=None,
                        help="rows to run (default: all)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed optimizer steps before the window (default: each row's; --cpu-smoke 1)")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed optimizer steps (default: each row's; --cpu-smoke 2)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="data.batch_size per device (default: the experiment's; --cpu-smoke: small)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help=f"data.num_workers (default: the experiment's, or {family.default_num_workers} where it "
                             "loads in the main process; --cpu-smoke 0)")
    parser.add_argument("--run-timeout", type=int, default=1200,
                        help="seconds a ddp/fsdp/fsdp2 process may run before it is stopped")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for every run (repeatable)")
    if family.add_options:
        family.add_options(parser)
    return parser


def refuse_without_gpu(args: argparse.Namespace, name: str) -> None:
    """Exit 2 with a message when no CUDA GPU is visible (unless ``--cpu-smoke``)."""
    import torch

    if args.cpu_smoke or torch.cuda.is_available():
        return
    print(f"{name}: no CUDA GPU is visible (torch {torch.__version__}, torch.cuda.is_available() is False): this "
          "benchmark measures GPU training and refuses to run on the CPU. Run it where a GPU is lent, or pass "
          "--cpu-smoke to check the code path on the CPU (figures meaningless).", file=sys.stderr)
    sys.exit(NO_GPU_EXIT)


# -- runs -----------------------------------------------------------------------------------------
def strategy_overrides(strategy: str, precision: str, cpu: bool, devices: int) -> list[str]:
    accelerator = "cpu" if cpu else "gpu"
    group = {"single": "cpu" if cpu else "gpu"}.get(strategy, strategy)
    return [f"trainer={group}", f"trainer.accelerator={accelerator}", f"trainer.devices={devices}",
            "trainer.num_nodes=1", f"trainer.precision={precision}"]


def budget_overrides(n_steps: int) -> list[str]:
    """A fixed step budget of training only: no validation, sanity check, test, progress bar."""
    return ["test=false", "trainer.max_epochs=-1", f"trainer.max_steps={n_steps}", "++trainer.max_time=null",
            "++trainer.limit_val_batches=0", "++trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false"]


def compose(overrides: list[str]):
    """The composed config of ``overrides`` (a throwaway output dir): what a run would get."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gpu_compose_") as tmp:
        return common.compose_config(overrides, Path(tmp))


def _row_overrides(family: Family, row: Row, args, data: list[str], extra: list[str]) -> list[str]:
    out = [*common.run_overrides(row.experiment), *row.overrides, *data]
    if args.quick:
        out += row.quick
    if args.cpu_smoke:
        out += ["data.num_workers=0", "torch_threads=1", f"data.batch_size={args.batch_size or row.smoke_batch_size}"]
    else:
        if args.batch_size:
            out.append(f"data.batch_size={args.batch_size}")
        if args.num_workers is not None:
            out.append(f"data.num_workers={args.num_workers}")
    return [*out, *extra, *args.override]


def completed_overrides(family: Family, row: Row, overrides: list[str], args,
                        keep_checkpoint: bool) -> tuple[list[str], dict[str, int]]:
    """What ``overrides`` leave to the benchmark, read from one composition of them: the callbacks
    removed (``~callbacks.<name>`` for all but :data:`KEEP_CALLBACKS`, and ``last_checkpoint``,
    weights only, kept with ``keep_checkpoint``: a later row loads it), and the loader workers (a
    GPU run never loads in the main process: the experiment's, or the family's default where it
    has 0, its CPU data config). Returns the overrides and the run's batch size and workers."""
    cfg = compose(overrides)
    keep = (*KEEP_CALLBACKS, *(("last_checkpoint",) if keep_checkpoint else ()))
    out = [*overrides, *(f"~callbacks.{name}" for name in (cfg.callbacks or {}) if name not in keep)]
    if keep_checkpoint:  # what a later row loads: the weights (and ocrlab's metadata)
        out.append("+callbacks.last_checkpoint.save_weights_only=true")
    else:  # else Lightning adds its own ModelCheckpoint (a full checkpoint at the end of fit)
        out.append("++trainer.enable_checkpointing=false")
    workers = int(cfg.data.num_workers)
    if not args.cpu_smoke and args.num_workers is None and workers == 0:
        workers = family.default_num_workers
        out.append(f"data.num_workers={workers}")
    return out, {"batch_size": int(cfg.data.batch_size), "num_workers": workers}


def run_single(kind: str, overrides: list[str], size_key: str, warmup: int) -> dict[str, Any]:
    """One device in this process: ``common.train_with_timer`` with :class:`GpuStepTimer`."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    metrics, timer, seconds, out = common.train_with_timer(
        kind, [*overrides, f"+callbacks.bench_timer.size_key={size_key}"], GpuStepTimer)
    result = {**combine_ranks([timer.dump()], warmup), "run_dir": str(out), "call_s": round(seconds, 2),
              "final_train_loss": metrics.get("train/loss_step", metrics.get("train/loss"))}
    del timer
    gc.collect()
    return result


def run_processes(kind: str, overrides: list[str], size_key: str, warmup: int, timeout: int) -> dict[str, Any]:
    """A multi-process strategy: ``python train.py <overrides>`` in a fresh process (its launcher
    starts the other ranks by re-running the command), each rank writing its timer's JSON."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # leave the GPUs to the ranks
    out = common.new_run_dir(kind)
    stem = out / "bench_timer"
    command = [sys.executable, str(ROOT / "train.py"), *overrides, f"hydra.run.dir={out}",
               f"+callbacks.bench_timer._target_={GpuStepTimer.__module__}.{GpuStepTimer.__qualname__}",
               f"+callbacks.bench_timer.size_key={size_key}", f"+callbacks.bench_timer.output={stem}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE), str(BENCH), *filter(None, [os.environ.get("PYTHONPATH")])])}
    log_path = out / "bench_process.log"
    start = time.perf_counter()
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                                  check=False)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    seconds = time.perf_counter() - start
    if rc != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"train.py exited {rc} after {seconds:.0f} s (log {log_path}):\n{tail}")
    dumps = [json.loads(p.read_text()) for p in sorted(out.glob("bench_timer.rank*.json"))]
    if not dumps:
        raise RuntimeError(f"train.py wrote no timer file (log {log_path})")
    return {**combine_ranks(dumps, warmup), "run_dir": str(out), "call_s": round(seconds, 2),
            "log": str(log_path), "command": command}


def _visible_gpus() -> list[str]:
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def main(family: Family, doc: str) -> int:
    """Parse the command line, refuse without a GPU (unless ``--cpu-smoke``), run every row under
    every strategy and precision, print the table, write the JSON. Exit status: 0 when every run
    succeeded, 1 otherwise (the JSON is written either way)."""
    parser = parser_for(family, doc)
    args = parser.parse_args()
    if (args.warmup is not None and args.warmup < 1) or (args.steps is not None and args.steps < 1):
        parser.error("--warmup and --steps must be >= 1")
    name = f"gpu_{family.name}"
    refuse_without_gpu(args, name)
    if args.cpu_smoke and args.output is None:
        args.output = common.RESULTS_DIR / f"{name}.cpu_smoke.quick.json"
    common.warn_if_busy()
    gpus = [] if args.cpu_smoke else _visible_gpus()
    precisions = ["32-true"] if args.cpu_smoke else list(dict.fromkeys(args.precision))
    if args.cpu_smoke:
        multi_devices = args.cpu_devices
        multi_why = "--cpu-smoke has no GPUs (--cpu-devices 2 runs it on 2 CPU processes, gloo)"
    else:
        multi_devices = args.devices or len(gpus)
        multi_why = f"{multi_devices} GPU(s) {'requested' if args.devices else 'visible'}: needs 2 or more"
    multi_why = multi_why if multi_devices < 2 else ""
    print(f"[{name}] {'CPU smoke run (32-true): figures mean nothing' if args.cpu_smoke else ', '.join(gpus)}",
          flush=True)
    not_run = [s for s in MULTI if s in args.strategies]
    if multi_why and not_run:
        print(f"[{name}] {', '.join(not_run)} skipped: {multi_why}", flush=True)

    data, data_info = family.data(args)
    runs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for row in [r for r in family.rows if args.models is None or r.name in args.models]:
        warmup = args.warmup if args.warmup is not None else (1 if args.cpu_smoke else row.warmup)
        steps = args.steps if args.steps is not None else (2 if args.cpu_smoke else row.steps)
        for strategy in [s for s in STRATEGIES if s in args.strategies]:
            if strategy in MULTI and multi_why:
                skipped.append({"model": row.name, "strategy": strategy, "reason": multi_why})
                continue
            devices = 1 if strategy == "single" else multi_devices
            for precision in precisions:
                extra = row.prepare(args, runs) if row.prepare is not None else []
                if isinstance(extra, str):
                    print(f"[{name}] {row.name} / {strategy} / {precision}: skipped: {extra}", flush=True)
                    skipped.append({"model": row.name, "strategy": strategy, "precision": precision, "reason": extra})
                    continue
                runs.append(_one_run(family, row, args, name, data, strategy, precision, devices, warmup, steps,
                                     extra))
    for strategy, why in family.unsupported.items():
        if strategy not in args.strategies:
            skipped.append({"model": "*", "strategy": strategy, "reason": why})
    _report(family, args, name, runs, skipped, data_info, gpus)
    return 0 if runs and all(r["status"] == "ok" for r in runs) else 1


def _one_run(family: Family, row: Row, args, name: str, data: list[str], strategy: str, precision: str, devices: int,
             warmup: int, steps: int, extra: list[str]) -> dict[str, Any]:
    """One row under one strategy and precision: its record (``status`` ok, or failed with the
    error: an OOM or a refused strategy spares the other runs)."""
    label = f"{row.name} / {strategy} / {precision} / {devices} device(s)"
    record: dict[str, Any] = {"model": row.name, "strategy": strategy, "precision": precision, "devices": devices,
                              "note": row.note or None}
    try:
        overrides = _row_overrides(family, row, args, data, [
            *strategy_overrides(strategy, precision, args.cpu_smoke, devices), *budget_overrides(warmup + steps),
            *extra])
        # the row's checkpoint, when a later row needs it, from its one-device run only
        overrides, sizes = completed_overrides(family, row, overrides, args,
                                               row.keep_checkpoint and strategy == "single")
        record.update({**sizes, "overrides": overrides, "warmup_steps": warmup, "timed_steps": steps})
        print(f"[{name}] {label}: training {warmup} + {steps} optimizer steps ...", flush=True)
        kind = f"{name}_{row.name}_{strategy}"
        result = (run_single(kind, overrides, family.size_key, warmup) if strategy == "single"
                  else run_processes(kind, overrides, family.size_key, warmup, args.run_timeout))
        if strategy in ("fsdp", "fsdp2"):  # the module's parameters are shards (or views of them) there
            result["parameters"] = result["trainable_parameters"] = None
        record.update({"status": "ok", **result, "global_batch": record["batch_size"]
                       * result["accumulate_grad_batches"] * result["world_size"]})
        mem = result["peak_gpu_mem_gib"]
        print(f"[{name}] {label}: {result['samples_per_s']:.2f} {family.unit}/s, "
              f"peak GPU memory {'-' if mem is None else f'{mem:.2f} GiB'}", flush=True)
    except Exception as e:  # noqa: BLE001 - recorded; the other runs go on
        record.update({"status": "failed", "error": f"{type(e).__name__}: {e}"[-4000:]})
        print(f"[{name}] {label}: FAILED: {type(e).__name__}: {str(e)[-2000:]}", file=sys.stderr, flush=True)
    return record


def _report(family: Family, args, name: str, runs, skipped, data_info, gpus) -> None:
    import torch

    rows = [[r["model"], r["strategy"], r["precision"], r["devices"], r.get("global_batch"),
             r.get("samples_per_s"), r.get("ms_per_optimizer_step"), r.get("peak_gpu_mem_gib"),
             r["status"] if r["status"] == "ok" else r.get("error", "failed")[:60]] for r in runs]
    reasons: dict[str, list[str]] = {}
    for s in skipped:  # one line per reason, naming its strategies
        strategies = reasons.setdefault(s["reason"], [])
        if s["strategy"] not in strategies:
            strategies.append(s["strategy"])
    caption = "\n".join(f"{', '.join(v)} skipped: {k}" for k, v in reasons.items()) or None
    notes = [*(["--quick: tiny shapes (the CRNN keeps its own) and tiny data"] if args.quick else []),
             *(["--cpu-smoke: CPU, 32-true, a few small steps: the figures mean nothing"] if args.cpu_smoke else [])]
    caption = "\n".join([*notes, *([caption] if caption else [])]) or None
    common.print_table(f"{name}: training throughput ({family.description})",
                       ["model", "strategy", "precision", "devices", "global batch", f"{family.unit}/s",
                        "ms/opt. step", "peak GPU GiB", "status"], rows, caption=caption)
    results = {
        "family": family.name,
        "unit": family.unit,
        "cpu_smoke": bool(args.cpu_smoke),
        "gpus": gpus,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "runs": runs,
        "skipped": skipped,
        "data": data_info,
    }
    method = {
        "window": "from the end of the micro-batch completing optimizer step `warmup_steps` to the end of the last, "
                  "each batch stamped after torch.cuda.synchronize() (GpuStepTimer.on_train_batch_end); the first "
                  "micro-batch of every later epoch left out (end-of-epoch hooks, loader restart); "
                  "samples_per_s = samples of all ranks / longest rank window",
        "memory": "torch.cuda.max_memory_allocated per rank, peak reset at on_train_start (model on the device, "
                  "before the first step): weights, gradients, optimizer state, activations; the fullest rank",
        "runs": "single: common.train_with_timer in this process (trainer=gpu); ddp/fsdp/fsdp2: python train.py "
                "in a fresh process on all --devices GPUs (Lightning's launcher)",
        "budget": "trainer.max_steps = warmup + steps (optimizer steps, the experiment's accumulate_grad_batches); "
                  "no validation, sanity check, test; checkpoints off except where a later row needs one",
    }
    common.write_results(name, args, results, method)


# -- data -----------------------------------------------------------------------------------------
def generation_workers(args: argparse.Namespace) -> int:
    """Processes generating data: the cores there are, at most 8; one for ``--quick`` data (spawned
    workers re-import the script, Lightning included: seconds each, more than a tiny set takes)."""
    if args.quick:
        return 1
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def add_line_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-lines", type=int, default=8192,
                        help="generated training lines (epochs may wrap: their first batches are left out of the "
                             "window); --quick 64")
    parser.add_argument("--max-chars", type=int, default=40, help="longest generated line (data=thai_lines: 40)")


def line_data(args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    """Synthetic Thai text lines (``common.ensure_dataset``) for the text-line families."""
    train = 64 if args.quick and args.train_lines == 8192 else args.train_lines
    max_chars = 16 if args.quick and args.max_chars == 40 else args.max_chars
    path, info = common.ensure_dataset("gpu_lines", {"train": train, "val": 16}, seed=0,
                                       workers=generation_workers(args), progress=not (args.quick or args.cpu_smoke),
                                       max_chars=max_chars)
    return [*common.data_overrides(path), "data.test_files=[]"], info
