"""Distillation overhead: ocrlab's ``train(cfg)`` (``experiment=trocr_distill_cpu``, token-level KD)
vs a plain PyTorch loop doing the same KD step on the same models and batches.

Both sides build the student from the composed config (``fit_label_spaces`` + ``build_model``: the
teacher's tokenizer, the same seed, so the same initial weights) and read the same
``TextLineDataModule`` train batches (epoch 0, same order; checked by signature). The plain loop:
the teacher's logits under ``no_grad`` (the frozen teacher the module holds), the student's,
``token_kd_loss`` (α·KL·T² + (1 − α)·CE), backward, clipping (``trainer.gradient_clip_val``), the
configured AdamW and warmup-cosine steps. The ocrlab side is ``train(cfg)`` with its configured
callbacks and the CSV logger, minus validation and testing. Timing and alternation as
``framework_overhead.py`` (end of each batch stamped; window from ``--warmup``; medians).

    python bench/trocr_kd_overhead.py --teacher <teacher ckpt>     # the CPU student, batch 32
    python bench/trocr_kd_overhead.py --quick                      # trains a tiny teacher first; smoke run
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NAME = "trocr_kd_overhead"
TARGET_RATIO = 0.97


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", type=Path, default=None, help="teacher checkpoint (None: train a tiny one)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-lines", type=int, default=4000)
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"steps": 3, "warmup": 1, "repeats": 1, "train_lines": 64})
    common.warn_if_busy()
    import torch
    from hydra.utils import instantiate

    from ocrlab.label_spaces import fit_label_spaces
    from ocrlab.loading import build_model

    data_dir, data_info = common.ensure_dataset("overhead", {"train": args.train_lines, "val": 64}, seed=0,
                                                progress=not args.quick, max_chars=16)
    data = ["data=thai_lines", *common.data_overrides(data_dir), "data.test_files=[]"]
    teacher = args.teacher or _tiny_teacher(data)
    tiny = ["model/trocr_net=tiny", "data.batch_size=8"] if args.quick else []
    overrides = [*common.run_overrides("trocr_distill_cpu"), *data, *tiny, f"model.teacher={teacher}",
                 "model.distill.mode=logits", "test=false", "++trainer.limit_val_batches=0",
                 "++trainer.num_sanity_val_steps=0", f"trainer.max_steps={args.warmup + args.steps}", *args.override]
    cfg = common.compose_config(overrides, common.new_run_dir(NAME))
    datamodule = instantiate(cfg.data)
    model_cfg = fit_label_spaces(cfg.model, datamodule)
    datamodule.attach_model(build_model(model_cfg))
    datamodule.setup("fit")
    n = args.warmup + args.steps
    if n > len(datamodule.train_dataloader()):
        sys.exit(f"{NAME}: {n} batches do not fit one epoch; raise --train-lines")
    _plain_run(cfg, model_cfg, datamodule, args.warmup + 1)  # untimed: the process's one-off costs
    runs = []
    for rep in range(args.repeats):
        for side in ("plain", "ocrlab"):
            gc.collect()
            run = _plain_run(cfg, model_cfg, datamodule, n) if side == "plain" else _ocrlab_run(overrides)
            stats = common.window_stats(run["ends"], run["sizes"], args.warmup)
            runs.append({"repeat": rep, "side": side, **stats, "final_loss": run["final_loss"],
                         "signature": common.batches_signature(run["sizes"])})
            print(f"[{NAME}] {rep + 1}/{args.repeats} {side}: {stats['samples_per_s']:.1f} lines/s", flush=True)
    plain = [r["samples_per_s"] for r in runs if r["side"] == "plain"]
    ocr = [r["samples_per_s"] for r in runs if r["side"] == "ocrlab"]
    ratio = common.median(ocr) / common.median(plain)
    results = {"plain_lines_per_s_median": common.median(plain), "ocrlab_lines_per_s_median": common.median(ocr),
               "ratio_ocrlab_to_plain": ratio, "target_ratio": TARGET_RATIO, "meets_target": ratio >= TARGET_RATIO,
               "same_batches_every_run": len({r["signature"] for r in runs}) == 1, "runs": runs, "data": data_info,
               "teacher": str(teacher), "batch_size": int(cfg.data.batch_size)}
    common.print_table(f"{NAME}: lines/s over {args.steps} KD steps (batch {cfg.data.batch_size})",
                       ["path", "lines/s (median)", "runs"],
                       [["plain PyTorch KD loop", common.median(plain), ", ".join(f"{v:.1f}" for v in plain)],
                        ["ocrlab train(cfg)", common.median(ocr), ", ".join(f"{v:.1f}" for v in ocr)],
                        ["ratio", ratio, None]],
                       caption=f"target >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}; "
                               f"torch threads {torch.get_num_threads()}")
    common.write_results(NAME, args, results, {"overrides": overrides})


def _tiny_teacher(data: list[str]) -> Path:
    from ocrlab.training import train

    out = common.new_run_dir(NAME + "_teacher")
    train(common.compose_config([*common.run_overrides("trocr_teacher_cpu"), *data, "model/trocr_net=tiny",
                                 "data.batch_size=8", "trainer.max_steps=2", "++trainer.limit_val_batches=1",
                                 "trainer.val_check_interval=2", "test=false"], out))
    return out / "checkpoints" / "last.ckpt"


def _plain_run(cfg, model_cfg: dict, datamodule, n_batches: int) -> dict:
    import pytorch_lightning as pl
    import torch

    from ocrlab.families.trocr.kd_losses import token_kd_loss
    from ocrlab.loading import build_model

    pl.seed_everything(cfg.seed, workers=True)
    model = build_model(model_cfg).train()
    teacher = model.teacher()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = model.optimizer_factory(params=params)
    scheduler = model.scheduler_factory(optimizer, total_steps=n_batches, steps_per_epoch=n_batches)
    clip, d = cfg.trainer.get("gradient_clip_val"), model.distill
    loader = datamodule.train_dataloader()
    loader.batch_sampler.set_epoch(0)
    ends, sizes = [], []
    batches = iter(loader)
    for _ in range(n_batches):
        batch = next(batches)
        targets = model.decoder_targets(batch)
        logits = model.teacher_forced_logits(model.net, batch["images"], targets)
        with torch.no_grad():
            t_logits = teacher.teacher_forced_logits(teacher.net, batch["images"], targets)
        loss = token_kd_loss(logits, t_logits, targets, d["temperature"], d["alpha"])[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        scheduler.step()
        ends.append(time.perf_counter())
        sizes.append(len(batch["labels"]))
    return {"ends": ends, "sizes": sizes, "final_loss": float(loss.detach())}


def _ocrlab_run(overrides: list[str]) -> dict:
    metrics, timer, _, _ = common.train_with_timer(NAME, overrides, common.StepTimer)
    return {"ends": timer.ends, "sizes": timer.sizes, "final_loss": metrics.get("train/loss_step")}


if __name__ == "__main__":
    main()
