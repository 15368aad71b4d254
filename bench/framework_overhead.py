"""Framework overhead: ocrlab's ``train(cfg)`` (Lightning) vs a bare PyTorch loop, same model, same batches.

Both sides train the CRNN built by ``build_model`` from the composed experiment config on the
batches of the same ``TextLineDataModule`` train dataloader (same seed, epoch 0: the same batches
in the same order; checked). The bare loop does forward, CTC loss (the module's ``loss``),
backward, gradient clipping (``trainer.gradient_clip_val``), the configured optimizer step and the
configured scheduler step. The ocrlab side is ``ocrlab.training.train(cfg)`` with the configured
callbacks, ``logger=csv`` and the progress bar on, minus validation and testing.

Timing: the end of every training batch is stamped (bare: in the loop; ocrlab: a last callback).
Throughput is taken from the end of batch ``--warmup`` to the end of the last batch, so startup,
data setup, the first steps and the end of fit are outside the window, and both sides count
the same batches, each with its data fetch. The two are alternated (bare, ocrlab, bare, ...)
``--repeats`` times; the medians are compared.

    python bench/framework_overhead.py              # ~10 min on 2 cores (data generated once)
    python bench/framework_overhead.py --quick      # smoke run
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NAME = "framework_overhead"
TARGET_RATIO = 0.97


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default=common.DEFAULT_EXPERIMENT)
    parser.add_argument("--steps", type=int, default=100, help="timed training steps per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before the window (>= 1)")
    parser.add_argument("--repeats", type=int, default=3, help="bare/ocrlab pairs, alternated")
    parser.add_argument("--batch-size", type=int, default=None, help="None: the experiment's data.batch_size")
    parser.add_argument("--train-lines", type=int, default=8000, help="generated train lines (>= batches needed)")
    parser.add_argument("--val-lines", type=int, default=64, help="generated val lines (setup needs a val split)")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="data generation processes")
    parser.add_argument("--threads", type=int, default=None, help="torch threads; None leaves torch's default (one per core)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for both sides (repeatable)")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"steps": 3, "warmup": 1, "repeats": 1, "batch_size": 8,
                                      "train_lines": 40, "val_lines": 8, "workers": 1, "threads": 1})
    if args.warmup < 1 or args.steps < 1 or args.repeats < 1:
        parser.error("--warmup, --steps and --repeats must be >= 1")
    common.warn_if_busy()
    common.set_torch_threads(args.threads)

    import torch
    from hydra.utils import instantiate

    data_dir, data_info = common.ensure_dataset(
        "overhead", {"train": args.train_lines, "val": args.val_lines}, seed=args.data_seed,
        workers=args.workers, progress=not args.quick)
    overrides = [*common.run_overrides(args.experiment), *common.data_overrides(data_dir),
                 "test=false", "++trainer.max_time=null", "++trainer.limit_val_batches=0",
                 "++trainer.num_sanity_val_steps=0", f"++trainer.max_steps={args.warmup + args.steps}",
                 *([f"data.batch_size={args.batch_size}"] if args.batch_size else []), *args.override]
    cfg = common.compose_config(overrides, common.new_run_dir(NAME))
    from ocrlab.loading import build_model

    datamodule = instantiate(cfg.data)
    datamodule.attach_model(build_model(cfg.model))
    datamodule.setup("fit")
    n_batches = args.warmup + args.steps
    available = len(datamodule.train_dataloader())
    if n_batches > available:
        sys.exit(f"{NAME}: --warmup + --steps = {n_batches} batches but one epoch has {available} "
                 f"(batch {cfg.data.batch_size}); raise --train-lines so no epoch boundary falls in the window")

    # an untimed bare run first: the process's one-off costs (lazy init, first kernels) land here,
    # not in whichever side happens to be measured first
    bare_run(cfg, datamodule, args.warmup + 1, args.warmup)
    runs: list[dict] = []
    for rep in range(args.repeats):
        for side in ("bare", "ocrlab"):
            gc.collect()
            if side == "bare":
                run = bare_run(cfg, datamodule, n_batches, args.warmup)
            else:
                run = ocrlab_run(overrides)
            stats = common.window_stats(run["ends"], run["sizes"], args.warmup)
            runs.append({"repeat": rep, "side": side, **stats,
                         **{k: v for k, v in run.items() if k not in ("ends", "sizes", "widths")},
                         "batches_signature": signature(run)})
            print(f"[{NAME}] repeat {rep + 1}/{args.repeats} {side}: {stats['samples_per_s']:.1f} samples/s "
                  f"({stats['ms_per_step']:.1f} ms/step)", flush=True)

    bare = [r["samples_per_s"] for r in runs if r["side"] == "bare"]
    ocr = [r["samples_per_s"] for r in runs if r["side"] == "ocrlab"]
    pair_ratios = [o / b for b, o in zip(bare, ocr, strict=True)]
    ratio = common.median(ocr) / common.median(bare)
    same_batches = len({r["batches_signature"] for r in runs}) == 1
    bare_data_share = common.median([r["data_s"] / r["seconds"] for r in runs if r["side"] == "bare"])
    results = {
        "bare_samples_per_s_median": common.median(bare),
        "ocrlab_samples_per_s_median": common.median(ocr),
        "ratio_ocrlab_to_bare": ratio,
        "pair_ratios": pair_ratios,
        "pair_ratio_median": common.median(pair_ratios),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "same_batches_every_run": same_batches,
        # the same batches, weights and seed give the same last loss when both loops do the same math
        "same_final_loss_every_run": max(r["final_loss"] for r in runs) - min(r["final_loss"] for r in runs)
        <= 1e-4 * max(1.0, abs(runs[0]["final_loss"])),
        "bare_data_loading_share_median": bare_data_share,
        "batch_size": int(cfg.data.batch_size),
        "runs": runs,
        "data": data_info,
        "model": {"experiment": args.experiment, "class": cfg.model._target_,
                  "parameters": count_parameters(cfg)},
    }
    method = {
        "timed_window": f"end of training batch {args.warmup} -> end of batch {n_batches} "
                        f"({args.steps} batches, each with its data fetch, step and per-step hooks)",
        "bare": "model.train(); for each batch of datamodule.train_dataloader(): forward_batch, loss, "
                "zero_grad, backward, clip_grad_norm_(gradient_clip_val), optimizer.step, scheduler.step; "
                "optimizer and scheduler from the model's configured factories (same total steps as Lightning)",
        "ocrlab": "ocrlab.training.train(cfg): Lightning Trainer with the configured callbacks (checkpoints, "
                  "model summary, TQDM progress bar, training report) + a StepTimer callback stamping "
                  "on_train_batch_end; logger=csv; trainer.max_steps=warmup+steps, limit_val_batches=0, "
                  "num_sanity_val_steps=0, test=false, max_time=null",
        "order": "one untimed bare run first (process warm-up), then alternated bare, ocrlab per repeat; "
                 "medians over repeats; ratio = median(ocrlab) / median(bare)",
        "same_batches": "signature = (batch sizes, padded widths) of the timed batches; equal on every run",
        "threads": "both sides in one process, same torch thread count (--threads, default torch's)",
        "overrides": overrides,
    }
    common.print_table(
        f"{NAME}: samples/s over {args.steps} training steps (batch {cfg.data.batch_size}, median of {args.repeats})",
        ["path", "samples/s (median)", "ms/step (median)", "runs (samples/s)"],
        [["bare PyTorch loop", common.median(bare),
          common.median([r["ms_per_step"] for r in runs if r["side"] == "bare"]),
          ", ".join(f"{v:.1f}" for v in bare)],
         ["ocrlab train(cfg)", common.median(ocr),
          common.median([r["ms_per_step"] for r in runs if r["side"] == "ocrlab"]),
          ", ".join(f"{v:.1f}" for v in ocr)],
         ["ratio ocrlab / bare", ratio, None, ", ".join(f"{v:.3f}" for v in pair_ratios)]],
        caption=f"target ratio >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}; "
                f"same batches on every run: {same_batches}; data loading share of the bare step: "
                f"{bare_data_share:.0%}; torch threads {torch.get_num_threads()}"
                + ("\n--quick: tiny smoke run, the figures mean nothing" if args.quick else ""),
    )
    common.write_results(NAME, args, results, method)


def bare_run(cfg, datamodule, n_batches: int, warmup: int) -> dict:
    """The bare PyTorch loop over the first ``n_batches`` of the train dataloader."""
    import pytorch_lightning as pl
    import torch

    from ocrlab.loading import build_model

    pl.seed_everything(cfg.seed, workers=True)
    model = build_model(cfg.model)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = model.optimizer_factory(params=params)
    loader = datamodule.train_dataloader()
    loader.batch_sampler.set_epoch(0)
    scheduler = None
    if model.scheduler_factory is not None:
        # as OcrModule.configure_optimizers does; Lightning's estimated_stepping_batches
        # is max_steps (= n_batches) here, since n_batches fit in one epoch
        epochs = max(1, cfg.trainer.get("max_epochs") or 1)
        total = n_batches
        scheduler = model.scheduler_factory(optimizer, total_steps=total, steps_per_epoch=max(1, total // epochs))
    clip = cfg.trainer.get("gradient_clip_val")
    ends, sizes, widths, fetch_s = [], [], [], []
    batches = iter(loader)
    for _ in range(n_batches):
        t_fetch = time.perf_counter()
        batch = next(batches)
        fetch_s.append(time.perf_counter() - t_fetch)
        loss = model.loss(model.forward_batch(batch), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        ends.append(time.perf_counter())
        sizes.append(len(batch["labels"]))
        widths.append(int(batch["images"].shape[-1]))
    # data loading inside the timed window only (batches warmup+1 .. n_batches)
    return {"ends": ends, "sizes": sizes, "widths": widths, "data_s": sum(fetch_s[warmup:]),
            "final_loss": float(loss.detach())}


def ocrlab_run(overrides: list[str]) -> dict:
    """``train(cfg)`` with a StepTimer callback; returns its stamps and the fit wall time."""
    metrics, timer, total, out = common.train_with_timer(NAME, overrides, common.StepTimer)
    return {"ends": timer.ends, "sizes": timer.sizes, "widths": timer.widths, "train_call_s": total,
            "final_loss": metrics.get("train/loss_step"), "run_dir": str(out)}


def signature(run: dict) -> str:
    """A short hash of the batch sizes and padded widths: equal iff both saw the same batches."""
    return common.batches_signature(list(zip(run["sizes"], run["widths"], strict=True)))


def count_parameters(cfg) -> int:
    from ocrlab.loading import build_model

    return sum(p.numel() for p in build_model(cfg.model).parameters())


if __name__ == "__main__":
    main()
