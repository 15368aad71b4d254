"""Time to quality: CER on held-out lines after N minutes of CPU training, next to Tesseract's.

Data (generated once into ``bench/.cache/data``): train/val lines with synth seed
``--train-seed`` and every usable font family except ``--holdout-font``; test lines with another
seed (``--test-seed``) in the held-out family only. So the test set has unseen text samples
*and* an unseen typeface.

Training is the real ``ocrlab.training.train(cfg)`` path (default experiment, data overrides
pointing at the generated dirs, ``logger=csv``, ``test=false``) with one extra callback that
saves a checkpoint when the wall clock passes each mark (``--marks-min``, counted from the
``train(cfg)`` call: data setup, validation and checkpoint writing included, data generation
not) and stops training after the last one. Each checkpoint is then loaded with
``TextRecognizer`` and scored on the test lines; Tesseract (``tha+eng``, psm 7, one thread, as
ocrlab's baseline runs it) reads the same lines. Both are scored with
``ocrlab.metrics.score_texts``.

The cosine schedule spans ``trainer.max_steps``. ``--max-steps auto`` (default) sizes it to the
last mark from a short calibration run (seconds per step x ``--budget-fraction``, leaving room for
validation), so the learning rate has decayed by the last mark; the earlier marks are snapshots of
the same run (mid-schedule), not separate runs sized to their budget.

    python bench/time_to_quality.py                  # ~35 min + data generation (~2 min) + Tesseract (~4 min)
    python bench/time_to_quality.py --quick          # smoke run
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NAME = "time_to_quality"


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default=common.DEFAULT_EXPERIMENT)
    parser.add_argument("--marks-min", type=float, nargs="+", default=[10.0, 30.0],
                        help="wall-clock marks in minutes; a checkpoint is scored at each")
    parser.add_argument("--max-steps", default="auto",
                        help="'auto' (calibrated to the last mark), 'config' (the experiment's), or a number")
    parser.add_argument("--budget-fraction", type=float, default=0.85,
                        help="auto: share of the last mark given to training steps (the rest: validation, noise)")
    parser.add_argument("--calibration-steps", type=int, default=30, help="auto: timed steps of the calibration run")
    common.add_held_out_font_options(parser)
    parser.add_argument("--batch-size", type=int, default=None, help="None: the experiment's data.batch_size")
    parser.add_argument("--threads", type=int, default=None, help="torch threads; None leaves torch's default (one per core)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for the training run (repeatable)")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"marks_min": [0.1, 0.2], "calibration_steps": 2, "train_lines": 48,
                                      "val_lines": 8, "test_lines": 12, "batch_size": 8, "workers": 1, "threads": 1})
    marks_s = sorted(60.0 * m for m in args.marks_min)
    if args.max_steps not in ("auto", "config") and not (args.max_steps.isdigit() and int(args.max_steps) > 0):
        parser.error(f"--max-steps must be 'auto', 'config' or a positive number, got {args.max_steps!r}")
    if not marks_s or marks_s[0] <= 0:
        parser.error("--marks-min must be positive")
    common.warn_if_busy()
    common.set_torch_threads(args.threads)

    from ocrlab.callbacks import TrainingReport
    from ocrlab.training import train

    progress = not args.quick
    train_dir, train_info, test_dir, test_info = common.held_out_font_datasets(args, progress)

    base = [*common.run_overrides(args.experiment), *common.data_overrides(train_dir), "test=false",
            "++trainer.max_time=null", *([f"data.batch_size={args.batch_size}"] if args.batch_size else []),
            *args.override]
    calibration = None
    if args.max_steps == "config":
        steps_overrides: list[str] = []
    elif args.max_steps == "auto":
        calibration = calibrate(base, args.calibration_steps, warmup=1 if args.quick else 5)
        max_steps = max(1, int(args.budget_fraction * marks_s[-1] / calibration["s_per_step"]))
        steps_overrides = [f"++trainer.max_steps={max_steps}"]
    else:
        steps_overrides = [f"++trainer.max_steps={int(args.max_steps)}"]

    run_dir = common.new_run_dir(NAME)
    start = time.time()
    overrides = [*base, *steps_overrides,
                 "+callbacks.wallclock._target_=common.WallClockCheckpoints",
                 f"+callbacks.wallclock.marks_s=[{','.join(str(m) for m in marks_s)}]",
                 f"+callbacks.wallclock.dirpath={run_dir / 'checkpoints' / 'wallclock'}",
                 f"+callbacks.wallclock.start_time={start!r}"]
    cfg = common.compose_config(overrides, run_dir)
    _, objects = train(cfg)
    train_s = time.time() - start
    clock = next(cb for cb in objects["callbacks"] if isinstance(cb, common.WallClockCheckpoints))
    report = next((cb for cb in objects["callbacks"] if isinstance(cb, TrainingReport)), None)

    marks = evaluate_marks(cfg, clock.saved, test_dir)
    engine, tess_info = common.make_tesseract(threads=1)
    tesseract = None
    if engine is not None:
        tesseract = score_tesseract(engine, marks[0]["paths"], marks[0]["references"])
    for m in marks:
        del m["paths"], m["references"]

    results = {
        "marks": marks,
        "tesseract": {**tess_info, **(tesseract or {})},
        "train_call_s": round(train_s, 2),
        "trainer_max_steps": cfg.trainer.get("max_steps"),
        "final_global_step": objects["trainer"].global_step,
        "training_ended_before_last_mark": bool(clock.saved and clock.saved[-1]["ended_before_mark"]),
        "train_start_elapsed_s": clock.train_start_elapsed_s,
        "calibration": calibration,
        "val_history": report.history if report is not None else None,
        "run_dir": str(run_dir),
        "data": {"train_val": train_info, "test": test_info, "holdout_font": args.holdout_font},
    }
    method = {
        "clock": "wall clock from just before composing the config and calling train(cfg); includes data "
                 "setup (decoding every image once), validation every trainer.val_check_interval, checkpoint "
                 "writing; excludes data generation, the calibration run and scoring",
        "checkpoints": "WallClockCheckpoints callback: checks after every training batch and validation, "
                       "saves trainer.save_checkpoint at each mark, stops after the last",
        "scoring": "TextRecognizer.load(checkpoint).recognize_batch over the test dataloader; Tesseract "
                   "recognize_one on the same image files; both through ocrlab.metrics.score_texts",
        "max_steps": "auto: int(budget_fraction * last_mark_s / s_per_step) from a calibration train(cfg) "
                     "without validation" if args.max_steps == "auto" else args.max_steps,
        "overrides": overrides,
    }
    rows = []
    for m in marks:
        label = f"ocrlab @ {m['mark_s'] / 60:g} min"
        when = f"{m['elapsed_s']:.0f} s, step {m['global_step']}" + (" (ended early)" if m["ended_before_mark"] else "")
        rows.append([label, when, m["test/cer"], m["test/wer"], m["test/acc"], m["test/ned"], m["test/lines"]])
    if tesseract:
        rows.append([f"Tesseract {tess_info['lang']} psm {tess_info['psm']}", "-", tesseract["test/cer"],
                     tesseract["test/wer"], tesseract["test/acc"], tesseract["test/ned"], tesseract["test/lines"]])
    else:
        rows.append(["Tesseract", "unavailable", None, None, None, None, None])
    common.print_table(
        f"{NAME}: {args.experiment} on {args.test_lines} held-out lines "
        f"(font {args.holdout_font}, seed {args.test_seed})",
        ["system", "trained", "CER", "WER", "acc", "NED", "lines"], rows,
        caption=f"max_steps {cfg.trainer.get('max_steps')}; train(cfg) ran {train_s:.0f} s"
                + ("" if tesseract else f"\nTesseract: {tess_info.get('unavailable')}")
                + ("\n--quick: tiny smoke run, the figures mean nothing" if args.quick else ""),
    )
    common.write_results(NAME, args, results, method)


def calibrate(base: list[str], steps: int, warmup: int) -> dict:
    """Seconds per training step of this config on this machine (a short train(cfg), no validation)."""
    from ocrlab.training import train

    run_dir = common.new_run_dir(f"{NAME}_calibration")
    cfg = common.compose_config([*base, f"++trainer.max_steps={warmup + steps}", "++trainer.limit_val_batches=0",
                                 "++trainer.num_sanity_val_steps=0",
                                 "+callbacks.bench_timer._target_=common.StepTimer"], run_dir)
    _, objects = train(cfg)
    timer = next(cb for cb in objects["callbacks"] if isinstance(cb, common.StepTimer))
    stats = common.window_stats(timer.ends, timer.sizes, warmup)
    return {"s_per_step": stats["seconds"] / stats["steps"], **stats, "warmup": warmup, "run_dir": str(run_dir)}


def evaluate_marks(cfg, saved: list[dict], test_dir: Path) -> list[dict]:
    """Score every wall-clock checkpoint on the test split (the test dataloader's order)."""
    from hydra.utils import instantiate

    from ocrlab.inference import TextRecognizer
    from ocrlab.metrics import score_texts
    from ocrlab.text import normalize_text

    datamodule = None
    out = []
    for entry in saved:
        recognizer = TextRecognizer.load(entry["path"])
        if datamodule is None:
            datamodule = instantiate(cfg.data, data_dir=str(test_dir), train_files=[],
                                     val_files=[], test_files=["test.txt"], synth=None)
            datamodule.attach_model(recognizer.module)
            datamodule.setup("test")
        preds, refs, paths, seconds = [], [], [], 0.0
        for batch in datamodule.test_dataloader():
            start = time.perf_counter()
            preds += recognizer.recognize_batch(batch)
            seconds += time.perf_counter() - start
            refs += batch["labels"]
            paths += batch["paths"]
        scores = score_texts([normalize_text(p) for p in preds], refs, prefix="test/")
        out.append({**entry, **scores, "test/lines": len(preds),
                    "model_ms_per_line": 1000.0 * seconds / max(1, len(preds)), "paths": paths, "references": refs})
    return out


def score_tesseract(engine, paths: list[str], refs: list[str]) -> dict:
    from ocrlab.metrics import score_texts

    preds, seconds = common.run_tesseract(engine, paths)
    return {**score_texts(preds, refs, prefix="test/"), "test/lines": len(preds),
            "ms_per_line": 1000.0 * seconds / max(1, len(preds))}


if __name__ == "__main__":
    main()
