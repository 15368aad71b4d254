"""PaddleOCR-VL LoRA vs full fine-tuning: trainable parameters, peak memory and step time on the same model and batch.

Both modes are ``PaddleOCRVL`` modules built by ``build_model`` from the composed experiment config
(``--experiment``, default ``paddleocr_vl_lora_cpu``: the ``small`` preset; ``--preset real`` or
``--experiment paddleocr_vl_lora`` for PaddleOCR-VL-0.9B's shape on a GPU), with the same seed, so
the same base weights (checked): LoRA is the experiment's own ``model.lora`` (rank 8, alpha 32,
dropout 0.05 on the language model's attention and MLP; vision tower, projector, embeddings and
head frozen), full fine-tuning the same config with ``model.lora=null`` (every parameter trains).
The batch (``--batch``) holds the longest pairs of the train split (the step that must fit in memory)
or the first batch of the ``InstructionPairsDataModule`` train loader, on generated
invoice pairs (``vl_common.ensure_pairs``), the same tensors for both modes.

A step is what the training loop does per batch: forward and loss (``PaddleOCRVL._loss``: the
causal-LM loss on the answer tokens), backward, gradient clipping (``trainer.gradient_clip_val``),
the configured AdamW's step over the trainable parameters, ``zero_grad(set_to_none=True)``; no
scheduler (a constant learning rate costs the same). ``--dtype bf16`` runs the forward under
``torch.autocast(bfloat16)`` with fp32 weights (what ``trainer.precision=bf16-mixed`` does);
``bf16-true`` casts the weights (and so gradients and AdamW states) to bfloat16.

* Step time: both models live in one process; their steps alternate (full, LoRA, then LoRA, full,
  ...), ``--warmup`` untimed steps each, then the median of ``--steps`` timed steps each (CUDA:
  synchronized before and after each step).
* Peak memory: each mode again in a fresh subprocess (``--memory subprocess``), so one mode's
  memory never counts in the other's: build, first batch, then ``--memory-steps`` steps. On CUDA
  ``torch.cuda.max_memory_allocated`` (the caching allocator's peak of live tensors, weights
  included) and its growth over the allocation before the first step. On the CPU the resident set
  of the process, sampled every millisecond by a thread during the steps (``/proc/self/statm``):
  peak minus the level just before the first step = activations kept for backward, gradients,
  AdamW states and temporaries (plus what glibc's allocator keeps of freed blocks); the process's
  ``ru_maxrss`` is recorded as a check. ``tracemalloc`` would not see torch's allocations.
* Exact state sizes: bytes of the parameters, of the gradients of the trainable parameters and of
  the optimizer's state tensors after a step, counted from the tensors themselves.

    python bench/vl_lora_vs_full.py                 # small preset, batch 2: ~3 min on 2 cores
    python bench/vl_lora_vs_full.py --experiment paddleocr_vl_lora --device cuda --dtype bf16   # 0.9B on a GPU
    python bench/vl_lora_vs_full.py --quick         # tiny preset: smoke run
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import vl_common

NAME = "vl_lora_vs_full"
MODES = ("full", "lora")
LABELS = {"full": "full fine-tuning", "lora": "LoRA"}
REAL_VOCAB = 103424  # PaddleOCR-VL-0.9B's vocabulary: the embedding and head rows of the real shape
MB = 1024 * 1024


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--json", dest="output", type=Path, default=None, help="same as --output")
    parser.add_argument("--experiment", default=vl_common.LORA_EXPERIMENT,
                        help="a PaddleOCR-VL LoRA experiment (its model.lora is the LoRA mode)")
    parser.add_argument("--preset", default=None, choices=("tiny", "small", "real"),
                        help="model/net preset (None: the experiment's)")
    parser.add_argument("--vocab-size", type=int, default=None,
                        help=f"embedding rows (model.processor.vocab_size); None: the experiment's, {REAL_VOCAB} "
                             "for the real preset")
    parser.add_argument("--batch-size", type=int, default=None, help="pairs in the batch (None: the experiment's)")
    parser.add_argument("--batch", default="longest", choices=("longest", "first"),
                        help="longest: the train split's longest pairs (the step that must fit in memory); first: the "
                             "train loader's first batch")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per mode first")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "bf16-true"),
                        help="bf16: autocast with fp32 weights (bf16-mixed); bf16-true: bfloat16 weights")
    parser.add_argument("--gradient-checkpointing", default="config", choices=("config", "on", "off"),
                        help="config: the experiment's model.gradient_checkpointing")
    parser.add_argument("--memory", default="subprocess", choices=("subprocess", "off"),
                        help="measure each mode's peak memory in a fresh subprocess")
    parser.add_argument("--memory-steps", type=int, default=3, help="steps of each memory subprocess")
    parser.add_argument("--documents", type=int, default=40, help="generated invoices (5 pairs each)")
    parser.add_argument("--dpi", type=float, default=72, help="page raster resolution of the generated invoices")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CPU experiments' torch_threads)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for both modes (repeatable)")
    parser.add_argument("--child", choices=MODES, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-output", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    common.apply_quick(args, parser, {"preset": "tiny", "steps": 3, "warmup": 1, "memory_steps": 2, "documents": 10})
    if args.warmup < 1 or args.steps < 1 or args.memory_steps < 1 or args.threads < 1:
        parser.error("--warmup, --steps, --memory-steps and --threads must be >= 1")
    if not args.device.startswith(("cpu", "cuda")):
        parser.error(f"--device {args.device}: expected cpu or cuda[:N]")
    if args.child:
        return child_main(args)
    common.warn_if_busy()
    common.set_torch_threads(args.threads)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(f"{NAME}: --device {args.device} but torch sees no CUDA device")
    pairs_dir, data_info = vl_common.ensure_pairs(args.documents, args.data_seed, args.dpi, progress=not args.quick)
    setups = {mode: setup(args, pairs_dir, mode) for mode in MODES}  # the batch comes from the first (full)
    batch = setups["full"]["batch"]
    for mode in MODES:
        setups[mode]["batch"] = batch
    base_checksum = setups["full"]["base_checksum"]
    same_base = abs(setups["lora"]["base_checksum"] - base_checksum) <= 1e-6 * max(1.0, abs(base_checksum))
    print(f"[{NAME}] {setups['full']['parameters']:,} parameters; batch {vl_common.batch_facts(batch)}", flush=True)

    # alternated steps: a drift of the machine's speed hits both modes alike
    times: dict[str, list[float]] = {m: [] for m in MODES}
    losses: dict[str, list[float]] = {m: [] for m in MODES}
    for i in range(args.warmup + args.steps):
        for mode in (MODES if i % 2 == 0 else MODES[::-1]):
            seconds, loss = timed_step(setups[mode], args.device)
            times[mode].append(seconds)
            losses[mode].append(loss)
    states = {mode: state_bytes(setups[mode]) for mode in MODES}
    first_loss_gap = abs(losses["full"][0] - losses["lora"][0])
    facts = {mode: {k: setups[mode][k] for k in ("parameters", "trainable_parameters", "batch_key", "batch_facts",
                                                  "preset", "lora")} for mode in MODES}

    memory: dict[str, Any] = {}
    if args.memory == "subprocess":
        del setups, batch  # the children measure alone; this process's models would only crowd the machine
        gc.collect()
        for mode in MODES:
            memory[mode] = run_child(mode)
            print(f"[{NAME}] memory {mode}: {memory[mode]['summary']}", flush=True)
    results: dict[str, Any] = {"modes": {}}
    for mode in MODES:
        timed = times[mode][args.warmup:]
        f = facts[mode]
        results["modes"][mode] = {
            "parameters": f["parameters"], "trainable_parameters": f["trainable_parameters"],
            "trainable_share": f["trainable_parameters"] / f["parameters"],
            "step_ms_median": 1000 * common.median(timed), "step_ms_min": 1000 * min(timed),
            "step_ms_max": 1000 * max(timed), "step_ms_all": [round(1000 * t, 2) for t in times[mode]],
            "losses": losses[mode], "state_bytes": states[mode], "memory": memory.get(mode),
        }
    full, lora = results["modes"]["full"], results["modes"]["lora"]
    results.update({
        "lora_to_full_step_time": lora["step_ms_median"] / full["step_ms_median"],
        "lora_to_full_peak_growth": (lora["memory"]["peak_growth_bytes"] / full["memory"]["peak_growth_bytes"]
                                     if memory else None),
        "lora_to_full_state_bytes": lora["state_bytes"]["total"] / full["state_bytes"]["total"],
        "same_base_weights": same_base,
        "first_step_loss_difference": first_loss_gap,
        "same_first_step_loss": first_loss_gap <= 1e-4 * max(1.0, abs(losses["full"][0])),
        # each child rebuilds model, tokenizer and batch: they must be the parent's
        "same_batch_in_subprocesses": (all(memory[m]["batch_key"] == facts["full"]["batch_key"] for m in MODES)
                                       if memory else None),
        "same_base_weights_in_subprocesses": (all(abs(memory[m]["base_checksum"] - base_checksum) <= 1e-6 * max(
            1.0, abs(base_checksum)) for m in MODES) if memory else None),
        "batch": facts["full"]["batch_facts"],
        "data": data_info,
        "model": {"experiment": args.experiment, "preset": facts["full"]["preset"], "lora": facts["lora"]["lora"]},
        "device": args.device, "dtype": args.dtype,
        "cuda_device": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else None,
        "transformers": common.package_version("transformers"), "peft": common.package_version("peft"),
    })
    method = {
        "models": "PaddleOCRVL via build_model(composed experiment config), torch.manual_seed(cfg.seed) before each "
                  "build; LoRA = the experiment's model.lora; full = model.lora=null",
        "batch": ("the --batch-size longest train pairs (prompt + answer characters)" if args.batch == "longest" else
                  "the first batch of the InstructionPairsDataModule train loader (bucketed, seed cfg.seed)")
        + ", collated by the data module (the module's VLChatCollator); the same tensors for every step of both modes",
        "step": "forward + PaddleOCRVL._loss, backward, clip_grad_norm_(trainer.gradient_clip_val), AdamW.step "
                "(the configured optimizer over the trainable parameters), zero_grad(set_to_none=True); "
                f"dtype {args.dtype}",
        "step_time": f"{args.warmup} untimed + {args.steps} timed steps per mode, alternating full/LoRA in one "
                     "process; median",
        "memory": "a fresh subprocess per mode (same build and batch), --memory-steps steps: CUDA: "
                  "max_memory_allocated (peak) and its growth over memory_allocated before the first step; CPU: RSS "
                  "sampled every 1 ms by a thread during the steps, peak minus the RSS just before the first step "
                  "(ru_maxrss recorded as a check)" if args.memory == "subprocess" else "off",
        "state_bytes": "exact: parameters (all), gradients of the trainable parameters, optimizer state tensors after "
                       "the steps",
    }
    rows = []
    for mode in MODES:
        r = results["modes"][mode]
        mem = r["memory"] or {}
        rows.append([LABELS[mode], f"{r['trainable_parameters']:,}", f"{100 * r['trainable_share']:.2f} %",
                     r["step_ms_median"], mem.get("peak_growth_bytes", 0) / MB if mem else None,
                     mem.get("peak_bytes", 0) / MB if mem else None,
                     r["state_bytes"]["grads"] / MB, r["state_bytes"]["optimizer"] / MB])
    rows.append(["LoRA / full", None, None, results["lora_to_full_step_time"], results["lora_to_full_peak_growth"],
                 None, None, None])
    peak_name = "CUDA max allocated" if args.device.startswith("cuda") else "peak RSS"
    b = results["batch"]
    common.print_table(
        f"{NAME}: PaddleOCR-VL {results['model']['preset']} ({args.experiment}), one batch of {b['rows']} x "
        f"{b['padded_length']} tokens ({b['image_tokens']} image, {b['answer_tokens']} answer), {args.device} "
        f"{args.dtype}",
        ["mode", "trainable", "share", "step ms (median)", f"{peak_name} growth MB", f"{peak_name} MB",
         "grads MB", "AdamW state MB"],
        rows,
        caption=f"{full['parameters']:,} parameters; same base weights: {same_base}; first-step loss full "
                f"{losses['full'][0]:.5f} vs LoRA {losses['lora'][0]:.5f} (LoRA's B starts at 0: equal); step time "
                f"median of {args.steps} after {args.warmup} warm-up steps, alternated; "
                + (f"memory: fresh subprocess per mode, {args.memory_steps} steps; same batch and base weights there: "
                   f"{results['same_batch_in_subprocesses']}, {results['same_base_weights_in_subprocesses']}"
                   if memory else "memory: not measured (--memory off)")
                + f"; torch threads {torch.get_num_threads()}"
                + ("\n--quick: tiny smoke run, the figures mean nothing" if args.quick else ""),
    )
    common.write_results(NAME, args, results, method)


# -- building, stepping, measuring ------------------------------------------------------------------
def setup(args, pairs_dir: Path, mode: str) -> dict[str, Any]:
    """The module of ``mode`` on ``args.device``, its optimizer, and (the data module's) first train batch."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from ocrlab.families.paddleocr_vl.net import count_parameters
    from ocrlab.label_spaces import fit_label_spaces
    from ocrlab.loading import build_model

    cfg = compose(args, pairs_dir, mode)
    datamodule = instantiate(cfg.data)
    # the processor's tokenizer learned from the pairs (deterministic: the same in every process)
    model_cfg = fit_label_spaces(cfg.model, datamodule)
    torch.manual_seed(cfg.seed)
    module = build_model(model_cfg)
    datamodule.attach_model(module)
    datamodule.setup("fit")
    if args.batch == "first":
        loader = datamodule.train_dataloader()
        loader.batch_sampler.set_epoch(0)
        cpu_batch = next(iter(loader))
    else:  # the longest rows (prompt + answer characters): the step that must fit in memory
        dataset = datamodule.datasets["train"]
        rows = sorted(range(len(dataset)), key=lambda i: (-dataset.lengths[i], i))[:int(cfg.data.batch_size)]
        cpu_batch = datamodule.collate([dataset[i] for i in rows])
    base = module.base_model
    base_checksum = sum(float(p.detach().double().sum()) for n, p in base.named_parameters() if "lora_" not in n)
    device = torch.device(args.device)
    if args.dtype == "bf16-true":
        module = module.to(torch.bfloat16)
    module = module.to(device).train()
    batch = {k: v.to(device) for k, v in cpu_batch.items() if torch.is_tensor(v)}
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = module.optimizer_factory(params=params)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if args.dtype == "bf16" else nullcontext
    return {"mode": mode, "module": module, "optimizer": optimizer, "params": params, "batch": batch,
            "batch_key": list(vl_common.batch_key(cpu_batch)), "batch_facts": vl_common.batch_facts(cpu_batch),
            "clip": float(cfg.trainer.get("gradient_clip_val") or 0.0), "autocast": autocast,
            "parameters": count_parameters(module.net),
            "trainable_parameters": count_parameters(module.net, trainable_only=True),
            "base_checksum": base_checksum, "preset": cfg.model.net.get("preset"),
            "lora": OmegaConf.to_container(cfg.model.lora) if cfg.model.lora else None}


def compose(args, pairs_dir: Path, mode: str):
    vocab = args.vocab_size or (REAL_VOCAB if args.preset == "real" else None)
    overrides = [*common.run_overrides(args.experiment), *vl_common.data_overrides(pairs_dir, args.batch_size),
                 # a GPU experiment's min_pixels (384^2) is above a 72 dpi receipt: let the processor upscale
                 "data.small_images=upscale", "model.evaluate_base=false",
                 # random weights of the experiment's shape (a GPU experiment names a local model)
                 "++model.pretrained=null",
                 *([f"model/net={args.preset}"] if args.preset else []),
                 *([f"model.processor.vocab_size={vocab}"] if vocab else []),
                 *([f"model.gradient_checkpointing={args.gradient_checkpointing == 'on'}"]
                   if args.gradient_checkpointing != "config" else []),
                 *args.override,
                 # last: an override of model.lora.* (the LoRA mode's) must not fail the full mode
                 *(["model.lora=null"] if mode == "full" else [])]
    cfg = common.compose_config(overrides, common.new_run_dir(NAME))
    if mode == "lora" and not cfg.model.get("lora"):
        sys.exit(f"{NAME}: experiment {args.experiment} has no model.lora: nothing to compare full fine-tuning with")
    return cfg


def train_step(s: dict) -> float:
    import torch

    with s["autocast"]():
        loss = s["module"]._loss(s["batch"])
    loss.backward()
    if s["clip"]:
        torch.nn.utils.clip_grad_norm_(s["params"], s["clip"])
    s["optimizer"].step()
    s["optimizer"].zero_grad(set_to_none=True)
    return loss.detach()


def timed_step(s: dict, device: str) -> tuple[float, float]:
    import torch

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    loss = train_step(s)
    if cuda:
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, float(loss)


def state_bytes(s: dict) -> dict[str, int]:
    """Exact bytes of the parameters, the trainable parameters' gradients, the optimizer's state."""
    import torch

    params = {id(p): p for p in s["module"].parameters()}
    weights = sum(p.numel() * p.element_size() for p in params.values())
    grads = sum(p.numel() * p.element_size() for p in s["params"])  # a gradient has its parameter's shape and dtype
    optimizer = sum(v.numel() * v.element_size() for state in s["optimizer"].state.values() for v in state.values()
                    if torch.is_tensor(v))
    return {"weights": weights, "grads": grads, "optimizer": optimizer, "total": weights + grads + optimizer}


# -- memory subprocesses --------------------------------------------------------------------------
def run_child(mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"{NAME}_") as tmp:
        out = Path(tmp) / "memory.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:], "--child", mode, "--child-output", str(out)]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            sys.exit(f"{NAME}: the {mode} memory subprocess failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text())


class RssSampler:
    """The peak resident set of this process, read from ``/proc/self/statm`` every ``interval`` s
    by a thread (torch releases the GIL in its kernels, so the thread runs during the steps)."""

    def __init__(self, interval: float = 0.001):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def child_main(args) -> None:
    """One mode alone in this process: build, first batch, ``--memory-steps`` steps, peak memory."""
    common.set_torch_threads(args.threads)
    import torch

    from ocrlab.utils.io import atomic_write_json

    pairs_dir, _ = vl_common.ensure_pairs(args.documents, args.data_seed, args.dpi, progress=False)
    s = setup(args, pairs_dir, args.child)
    gc.collect()
    cuda = args.device.startswith("cuda")
    times = []
    if cuda:
        torch.cuda.synchronize(args.device)
        torch.cuda.reset_peak_memory_stats(args.device)
        before = torch.cuda.memory_allocated(args.device)
        for _ in range(args.memory_steps):
            times.append(timed_step(s, args.device)[0])
        peak = torch.cuda.max_memory_allocated(args.device)
        extra = {"max_memory_reserved_bytes": torch.cuda.max_memory_reserved(args.device)}
    else:
        maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        with RssSampler() as sampler:
            before = sampler.peak
            for _ in range(args.memory_steps):
                times.append(timed_step(s, args.device)[0])
        peak = sampler.peak
        maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        # ru_maxrss is the process's lifetime peak: when the steps did not raise it, the build did more
        extra = {"ru_maxrss_before_bytes": maxrss_before, "ru_maxrss_after_bytes": maxrss_after,
                 "steps_raised_ru_maxrss": maxrss_after > maxrss_before}
    growth = peak - before
    summary = (f"{'max allocated' if cuda else 'peak RSS'} {peak / MB:,.1f} MB, {growth / MB:,.1f} MB over the "
               f"{before / MB:,.1f} MB before the first step")
    atomic_write_json(args.child_output, {
        "mode": args.child, "peak_bytes": peak, "before_bytes": before, "peak_growth_bytes": growth, **extra,
        "summary": summary, "step_s_unalternated": times, "parameters": s["parameters"],
        "trainable_parameters": s["trainable_parameters"], "batch_key": s["batch_key"], "batch": s["batch_facts"],
        "state_bytes": state_bytes(s), "preset": s["preset"], "lora": s["lora"], "base_checksum": s["base_checksum"]})


if __name__ == "__main__":
    main()
