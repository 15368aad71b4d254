"""Recipe search: which CPU recipe gives the lowest held-out CER for a fixed budget of CPU time.

A recipe's quality after T seconds of CPU training is set by two things: the seconds a step costs
on the target CPU, and what the model learns in that many steps. The first needs the target
machine; the second does not. So the search has two phases:

``calibrate`` (on the target CPU): a short ``train(cfg)`` per candidate measures seconds per step
(the time_to_quality calibration), written to a JSON file.

``train`` (anywhere: the same CPU, or a GPU machine to run many candidates at once): each
candidate trains for ``budget_fraction x --budget-min x 60 / s_per_step`` steps, a full cosine
schedule, and its final weights are scored on the held-out-typeface test sets of
``bench/unseen_typefaces.py`` (clean, degraded, small_noisy; the same held-out families, lines
and scoring). Each candidate trains on its own data settings minus the held-out families
(``unseen_typefaces.held_out_data``), so candidates may change the data too (pool shares, line
style, text length). The search ranks by ``--objective`` (default: the mean CER of the three
variants). Running on another device changes nothing the steps compute, only how fast: the
phase forces one torch thread + two loader workers per job and ``model.channels_last=false``
(NHWC is slow on CUDA), none of which changes the math.

The winner still has to be confirmed by ``bench/unseen_typefaces.py`` on the target CPU.

    python bench/recipe_search.py calibrate                         # ~1 min a candidate
    python bench/recipe_search.py train --calibration bench/results/recipe_search_calibration.json \\
        --accelerator gpu --parallel 8                              # ~5 min on one H100
    python bench/recipe_search.py calibrate --quick && python bench/recipe_search.py train --quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import time_to_quality as ttq
import unseen_typefaces as unseen

NAME = "recipe_search"

# Overrides on top of experiment=crnn_thai_cpu (MobileNetV3-small x0.5, reshape neck, lr 3e-3,
# batch 32). Each names one change from it, so a table row reads as an ablation.
CANDIDATES: dict[str, list[str]] = {
    "default": [],
    "lr 2e-3": ["model.optimizer.lr=2e-3"],
    "lr 4e-3": ["model.optimizer.lr=4e-3"],
    "scale 0.35": ["model.backbone.scale=0.35"],
    "batch 16, lr 1.5e-3": ["data.batch_size=16", "model.optimizer.lr=1.5e-3"],
    "BiLSTM 48 neck, lr 4e-3": ["model/neck=rnn", "model.neck.hidden_size=48", "model.neck.num_layers=1",
                                "model.optimizer.lr=4e-3"],
    "MobileNetV3-large, lr 2e-3": ["model.backbone.model_name=large", "model.optimizer.lr=2e-3"],
    "small CNN 32-64-128 (previous default), lr 2e-3": [
        "model/backbone=small_cnn", "~model.backbone.model_name", "model.backbone.channels=[32,64,128]",
        "model.backbone.dropout=0.0", "model.optimizer.lr=2e-3"],
    "small CNN + BiLSTM 64, lr 4e-3": [
        "model/backbone=small_cnn", "~model.backbone.model_name", "model.backbone.channels=[32,64,128]",
        "model.backbone.dropout=0.0", "model/neck=rnn", "model.neck.hidden_size=64", "model.neck.num_layers=1",
        "model.optimizer.lr=4e-3"],
}
# what the train phase sets whatever the device: throughput only, not the math
TRAIN_PHASE_OVERRIDES = ["torch_threads=1", "data.num_workers=2", "model.channels_last=false",
                         "trainer.enable_progress_bar=false", "~callbacks.progress_bar"]


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("phase", choices=["calibrate", "train"])
    parser.add_argument("--experiment", default=common.DEFAULT_EXPERIMENT)
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="candidates to run (default: all)")
    parser.add_argument("--calibration-steps", type=int, default=40, help="calibrate: timed steps per candidate")
    parser.add_argument("--calibration", type=Path, default=common.RESULTS_DIR / f"{NAME}_calibration.json",
                        help="calibrate writes it, train reads it")
    parser.add_argument("--budget-min", type=float, default=30.0, help="train: CPU minutes each candidate affords")
    parser.add_argument("--budget-fraction", type=float, default=0.85,
                        help="train: share of the budget given to steps (as time_to_quality --budget-fraction)")
    parser.add_argument("--accelerator", default="cpu", help="train: trainer.accelerator of the jobs (cpu, gpu)")
    parser.add_argument("--parallel", type=int, default=1, help="train: jobs at once")
    parser.add_argument("--held-out", nargs="+", default=unseen.HELD_OUT, metavar="FAMILY",
                        help="typeface families no candidate trains on; the test sets are drawn in them")
    parser.add_argument("--objective", choices=[*unseen.VARIANTS, "mean"], default="mean",
                        help="the held-out CER the search ranks by")
    parser.add_argument("--lines", type=int, default=500, help="lines per held-out test set")
    parser.add_argument("--max-chars", type=int, default=40, help="longest test line")
    parser.add_argument("--test-seed", type=int, default=101)
    parser.add_argument("--workers", type=int, default=2, help="test data generation processes")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"calibration_steps": 2, "budget_min": 0.05, "lines": 12, "max_chars": 16,
                                      "workers": 1, "only": ["default", "lr 4e-3"]})
    unknown = set(args.only or []) - set(CANDIDATES)
    if unknown:
        parser.error(f"unknown candidates {sorted(unknown)}; known: {list(CANDIDATES)}")
    names = args.only or list(CANDIDATES)
    if args.quick and args.calibration == parser.get_default("calibration"):
        args.calibration = args.calibration.with_suffix(".quick.json")
    base = [*common.run_overrides(args.experiment), "test=false", "++trainer.max_time=null",
            *(["data.batch_size=8", "data.synth.splits.train=64", "data.synth.splits.val=8", "data.synth.splits.test=8",
               "trainer.val_check_interval=2", "++trainer.limit_val_batches=1"] if args.quick else [])]
    with tempfile.TemporaryDirectory(prefix="recipe_search_compose_") as tmp:
        overrides = {n: [*base, *CANDIDATES[n]] for n in names}
        overrides = {n: [*o, *unseen.held_out_data(o, args.held_out, Path(tmp))[0]] for n, o in overrides.items()}
    if args.phase == "calibrate":
        calibrate(args, overrides)
    else:
        tests = {v: t for v, t in unseen.test_sets(args.held_out, args.lines, args.max_chars, args.test_seed,
                                                    args.workers, progress=not args.quick).items()
                 if t["group"] == "held-out"}
        train_all(args, overrides, tests)


def calibrate(args, overrides: dict[str, list[str]]) -> None:
    common.warn_if_busy()
    steps = {}
    for name, candidate in overrides.items():
        c = ttq.calibrate(candidate, args.calibration_steps, warmup=1 if args.quick else 5)
        steps[name] = c["s_per_step"]
        print(f"{name:50s} {1000 * c['s_per_step']:7.1f} ms/step", flush=True)
    rows = [[n, 1000 * s] for n, s in steps.items()]
    common.print_table(f"{NAME} calibrate: {args.experiment} + candidate", ["candidate", "ms/step"], rows)
    written_as = argparse.Namespace(**{**vars(args), "output": args.output or args.calibration})
    common.write_results(NAME + "_calibration", written_as, {"s_per_step": steps},
                         {"s_per_step": "time_to_quality.calibrate: a train(cfg) without validation, "
                                        "window after the warm-up steps", "overrides": CANDIDATES})
    print(f"train phase: python bench/recipe_search.py train --calibration {written_as.output}")


def train_all(args, overrides: dict[str, list[str]], tests: dict[str, dict]) -> None:
    names = list(overrides)
    if not args.calibration.is_file():
        sys.exit(f"{NAME}: no calibration at {args.calibration}; run `python bench/recipe_search.py calibrate` "
                 "on the target CPU first")
    calibration = json.loads(args.calibration.read_text())
    s_per_step = calibration["results"]["s_per_step"]
    missing = [n for n in names if n not in s_per_step]
    if missing:
        sys.exit(f"{NAME}: {args.calibration} has no step time for {missing}")
    budget_s = 60.0 * args.budget_min * args.budget_fraction
    jobs = {n: max(1, int(budget_s / s_per_step[n])) for n in names}
    start = time.time()
    results = {}
    with tempfile.TemporaryDirectory(prefix="recipe_search_") as tmp:
        queue = list(jobs.items())
        running: list[tuple[str, subprocess.Popen, Path]] = []
        while queue or running:
            while queue and len(running) < args.parallel:
                name, steps = queue.pop(0)
                job = [*overrides[name], *TRAIN_PHASE_OVERRIDES, f"++trainer.max_steps={steps}",
                       f"trainer.accelerator={args.accelerator}"]
                out = Path(tmp) / f"{len(jobs) - len(queue)}.json"
                sets = {v: str(t["dir"]) for v, t in tests.items()}
                with open(out.with_suffix(".log"), "w") as log:  # the child keeps its own descriptor
                    proc = subprocess.Popen([sys.executable, __file__, "_job", json.dumps(job), json.dumps(sets),
                                             str(out)], stdout=log, stderr=subprocess.STDOUT)
                running.append((name, proc, out))
            time.sleep(1.0)
            for job in [j for j in running if j[1].poll() is not None]:
                running.remove(job)
                name, proc, out = job
                if proc.returncode != 0 or not out.is_file():
                    for _, other, _ in running:
                        other.kill()
                    tail = out.with_suffix(".log").read_text()[-3000:]
                    sys.exit(f"{NAME}: candidate {name!r} failed (exit {proc.returncode}):\n{tail}")
                r = json.loads(out.read_text())
                cers = [r["held_out"][v]["cer"] for v in r["held_out"]]
                r["objective"] = sum(cers) / len(cers) if args.objective == "mean" else r["held_out"][args.objective]["cer"]
                results[name] = {"steps": jobs[name], "s_per_step_cpu": s_per_step[name], **r}
                print(f"{name:50s} steps {jobs[name]:6d}  {args.objective} held-out CER {r['objective']:.4f}", flush=True)
    ordered = dict(sorted(results.items(), key=lambda item: item[1]["objective"]))
    variants = [v.removeprefix("held-out ") for v in tests]
    rows = [[n, r["steps"], 1000 * r["s_per_step_cpu"], r["objective"], *(r["held_out"][v]["cer"] for v in variants),
             r["held_out"][variants[0]]["acc"], r["final_val_cer"]] for n, r in ordered.items()]
    common.print_table(
        f"{NAME}: {args.budget_min:g} CPU min each (x{args.budget_fraction} for steps), held-out typefaces "
        f"{args.held_out}, trained on {args.accelerator}; best first",
        ["candidate", "steps", "CPU ms/step", f"{args.objective} CER", *(f"{v} CER" for v in variants),
         f"{variants[0]} acc", "last val CER"], rows,
        caption=f"{time.time() - start:.0f} s" + ("\n--quick: tiny smoke run, the figures mean nothing"
                                                  if args.quick else ""))
    common.write_results(NAME, args, {"candidates": ordered, "calibration_file": str(args.calibration),
                                      "calibration_machine": calibration.get("machine")},
                         {"steps": "int(budget_fraction * budget_min * 60 / s_per_step) from the calibration",
                          "train_phase_overrides": TRAIN_PHASE_OVERRIDES,
                          "scoring": "unseen_typefaces.score_model on the final weights, held-out sets only",
                          "objective": args.objective, "held_out": args.held_out})


def run_job(overrides: list[str], tests: dict[str, str], out: Path) -> None:
    """One candidate (a subprocess of the train phase): train, save, score on the held-out sets,
    write JSON to ``out``."""
    from ocrlab.callbacks import TrainingReport
    from ocrlab.training import train

    run_dir = common.new_run_dir(NAME)
    cfg = common.compose_config(overrides, run_dir)
    start = time.time()
    _, objects = train(cfg)
    train_s = time.time() - start
    checkpoint = run_dir / "final.ckpt"
    objects["trainer"].save_checkpoint(checkpoint, weights_only=False)
    held_out = {}
    for name, test_dir in tests.items():
        scored = unseen.score_model(checkpoint, {"dir": Path(test_dir), "split": "test"})
        held_out[name.removeprefix("held-out ")] = {k: scored[k] for k in ("cer", "acc", "wer", "lines")}
    report = next((cb for cb in objects["callbacks"] if isinstance(cb, TrainingReport)), None)
    val = [h["val/cer"] for h in (report.history if report else []) if "val/cer" in h]
    out.write_text(json.dumps({"held_out": held_out, "train_s": train_s, "val_cer_history": val,
                               "final_val_cer": val[-1] if val else None, "run_dir": str(run_dir),
                               "overrides": overrides}))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "_job":
        run_job(json.loads(sys.argv[2]), json.loads(sys.argv[3]), Path(sys.argv[4]))
    else:
        main()
