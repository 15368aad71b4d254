"""TrOCR distillation on the same data and CPU budget: teacher, student alone, and the students of
each distillation mode, read on lines drawn in a typeface no training font uses.

Data (``bench/common.held_out_font_datasets``, generated once into ``bench/.cache/data``): train/val
lines in every usable font family but ``--holdout-font``; test lines (another seed) in that family
only. Every model also reads the seen-typeface validation split (``seen`` columns).

Runs, each the real ``train(cfg)`` path with CSV logs (``test=false``):

* ``teacher``: ``experiment=trocr_teacher_cpu`` (the CPU teacher size), ``--teacher-steps``;
* ``student alone``: ``trocr_teacher_cpu`` at the CPU student size, ``--student-steps``;
* ``+ logits`` / ``+ sequence`` / ``+ on_policy``: ``trocr_distill_cpu`` with that mode;
* ``from_teacher``: the teacher's widths at the student's depths, copied layers, CE only (α = 0);
* ``from_teacher + logits``.

Each student row is run for every ``--seeds`` (the teacher once, seed 0). Every finished training is
recorded in ``bench/.cache/trocr_distillation_runs.json`` (keyed by row, seed, overrides, teacher and
data), so a run that was stopped picks up where it was: trained rows are not trained again. Scoring
comes after all training, every model one after the other in this process: each best checkpoint
reads the held-out lines through ``TextRecognizer`` (greedy, batch 32, all cores); CER and line
accuracy by ``ocrlab.metrics.score_texts``. Retention: the student's held-out line accuracy over
the teacher's; speed-up: its lines/s over the teacher's, measured one after the other in this
process on the same lines.

    python bench/trocr_distillation.py                 # teacher ~27 min + 6 students x 2 seeds (~12 min each)
    python bench/trocr_distillation.py --teacher <best.ckpt>   # reuse a trained teacher
    python bench/trocr_distillation.py --quick         # smoke run (a few steps)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

STUDENTS = {
    "student alone": ["experiment=trocr_teacher_cpu", "model/trocr_net=cpu_student"],
    "+ logits": ["experiment=trocr_distill_cpu", "model.distill.mode=logits"],
    "+ sequence": ["experiment=trocr_distill_cpu", "model.distill.mode=sequence"],
    "+ on_policy": ["experiment=trocr_distill_cpu", "model.distill.mode=on_policy"],
    "from_teacher": ["experiment=trocr_distill_cpu", "model.student.init=from_teacher", "model.distill.alpha=0.0"],
    "from_teacher + logits": ["experiment=trocr_distill_cpu", "model.student.init=from_teacher",
                              "model.distill.mode=logits"],
}


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n")[0])
    common.add_held_out_font_options(parser)
    parser.add_argument("--teacher-steps", type=int, default=4500)
    parser.add_argument("--student-steps", type=int, default=4000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--only", nargs="*", default=None, help="student rows to run (default: all)")
    parser.add_argument("--teacher", type=Path, default=None, help="a trained teacher checkpoint (skip training it)")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"teacher_steps": 4, "student_steps": 4, "seeds": [0], "train_lines": 64,
                                      "val_lines": 16, "test_lines": 16})
    common.warn_if_busy()
    train_dir, train_info, test_dir, test_info = common.held_out_font_datasets(args)
    data = ["data=thai_lines", *common.data_overrides(train_dir), "data.test_files=[]", "test=false",
            "data.eval_batch_size=64"]
    quick = ["trainer.val_check_interval=2", "++trainer.limit_val_batches=1"] if args.quick else []
    heldout = common.label_records(test_dir, "test")
    seen = common.label_records(train_dir, "val")[: len(heldout)]

    ledger = common.CACHE_DIR / f"trocr_distillation_runs{'.quick' if args.quick else ''}.json"
    teacher, teacher_min = args.teacher, None  # trained elsewhere: its time is not ours
    if teacher is None:
        teacher, teacher_min = _train_once(ledger, "teacher", 0, ["experiment=trocr_teacher_cpu", *data, *quick,
                                                                  f"trainer.max_steps={args.teacher_steps}"])
    trained: dict[str, list[tuple[Path, float, int]]] = {}
    for name, overrides in STUDENTS.items():
        if args.only and name not in args.only:
            continue
        distill = [f"model.teacher={teacher}", f"model.distill.cache_dir={common.CACHE_DIR / 'teacher_outputs'}"] \
            if "trocr_distill_cpu" in overrides[0] else []
        trained[name] = [(*_train_once(ledger, name, seed, [*overrides, *distill, *data, *quick,
                                                            f"trainer.max_steps={args.student_steps}"]), seed)
                         for seed in args.seeds]
    runs = {"teacher": [_score("teacher", teacher, heldout, seen, teacher_min)]}
    for name, rows in trained.items():
        runs[name] = [_score(name, ckpt, heldout, seen, minutes, seed) for ckpt, minutes, seed in rows]
    results = _summarize(runs)
    common.print_table(
        f"TrOCR distillation: held-out typeface {args.holdout_font} ({len(heldout)} lines), seen ({len(seen)})",
        ["model", "seeds", "held-out CER", "held-out acc", "acc spread", "seen CER", "retention", "speed-up",
         "lines/s", "params (M)", "train min"],
        [[name, r["seeds"], r["heldout_cer"], r["heldout_acc"], r["acc_spread"], r["seen_cer"], r.get("retention"),
          r.get("speedup"), r["lines_per_s"], r["params_m"], r["train_min"]] for name, r in results.items()],
        caption="retention: held-out line accuracy / the teacher's; speed-up: lines/s / the teacher's (one process, "
                "one after the other); spread: max - min over seeds")
    common.write_results("trocr_distillation", args, {"rows": results, "runs": runs, "teacher": str(teacher),
                                                      "data": {"train": train_info, "heldout": test_info}},
                         {"held_out_typeface": args.holdout_font, "students": STUDENTS})


def _train_once(ledger: Path, name: str, seed: int, overrides: list[str]) -> tuple[Path, float]:
    """Train ``overrides`` at ``seed`` unless the ledger holds that run with its checkpoint on disk;
    returns (best checkpoint, training minutes)."""
    from ocrlab.training import train
    from ocrlab.utils.io import atomic_write_json

    key = json.dumps({"name": name, "seed": seed, "overrides": overrides})
    done = json.loads(ledger.read_text()) if ledger.exists() else {}
    if key in done and Path(done[key]["checkpoint"]).exists():
        print(f"{name} (seed {seed}): trained before -> {done[key]['checkpoint']}")
        return Path(done[key]["checkpoint"]), done[key]["train_min"]
    out = common.new_run_dir("trocr_distillation")
    cfg = common.compose_config([*overrides, f"seed={seed}", "logger=csv",
                                 f"paths.log_dir={common.CACHE_DIR / 'logs'}"], out)
    start = time.perf_counter()
    train(cfg)
    minutes = (time.perf_counter() - start) / 60
    best = out / "checkpoints" / "best.ckpt"
    ckpt = best if best.exists() else out / "checkpoints" / "last.ckpt"
    print(f"{name} (seed {seed}): trained in {minutes:.1f} min -> {ckpt}")
    done = json.loads(ledger.read_text()) if ledger.exists() else {}
    done[key] = {"checkpoint": str(ckpt), "train_min": minutes}
    atomic_write_json(ledger, done)
    return ckpt, minutes


def _score(name: str, ckpt: Path, heldout, seen, minutes: float | None, seed: int = 0) -> dict:
    from ocrlab.inference import TextRecognizer
    from ocrlab.metrics import score_texts

    rec = TextRecognizer.load(ckpt)
    rec.recognize([p for p, _ in heldout[:32]])  # warm-up
    start = time.perf_counter()
    preds = rec.recognize([p for p, _ in heldout])
    seconds = time.perf_counter() - start
    h = score_texts(preds, [t for _, t in heldout], prefix="")
    s = score_texts(rec.recognize([p for p, _ in seen]), [t for _, t in seen], prefix="")
    return {"name": name, "seed": seed, "checkpoint": str(ckpt), "heldout_cer": h["cer"], "heldout_acc": h["acc"],
            "seen_cer": s["cer"], "seen_acc": s["acc"], "lines_per_s": len(heldout) / seconds,
            "params_m": sum(p.numel() for p in rec.module.parameters()) / 1e6, "train_min": minutes}


def _summarize(runs: dict[str, list[dict]]) -> dict[str, dict]:
    teacher = runs["teacher"][0]
    out = {}
    for name, rows in runs.items():
        accs = [r["heldout_acc"] for r in rows]
        row = {"seeds": len(rows), "heldout_cer": statistics.mean(r["heldout_cer"] for r in rows),
               "heldout_acc": statistics.mean(accs), "acc_spread": max(accs) - min(accs),
               "seen_cer": statistics.mean(r["seen_cer"] for r in rows),
               "lines_per_s": statistics.mean(r["lines_per_s"] for r in rows), "params_m": rows[0]["params_m"],
               "train_min": None if any(r["train_min"] is None for r in rows)
               else statistics.mean(r["train_min"] for r in rows)}
        if name != "teacher":
            row["retention"] = row["heldout_acc"] / teacher["heldout_acc"] if teacher["heldout_acc"] else None
            row["speedup"] = row["lines_per_s"] / teacher["lines_per_s"]
        out[name] = row
    return out


if __name__ == "__main__":
    main()
