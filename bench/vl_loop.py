"""The hard-sample loop on this CPU: ``ocrlab-loop experiment=paddleocr_vl_lora_cpu`` for --rounds
rounds with each of two training seeds; per round, held-out field accuracy and numeric consistency,
overall and on the hard kinds the plans targeted; the gain of each round over the last against the
run-to-run noise (the spread of the two seeds at the same round).

Each seed runs its own loop (``ocrlab.families.paddleocr_vl.loop.Loop`` in-process, ``loop.dir`` under
``bench/.cache/loops/``; a loop interrupted or run again resumes where it stopped). The documents
of round 0 and the held-out set come from the data config's generator seeds, the same for both
loops; from round 1 on, a loop's documents follow its own mining plans. ``targeted/...`` is the
mean over the hard kinds any round's plan of that loop targeted (the same kinds in every round of
a loop, so rounds compare on one set). Target: every round better than the last on the targeted
kinds by more than the noise.

    python bench/vl_loop.py --pretrained <paddleocr_vl_base_cpu run>/exports/best/model
    python bench/vl_loop.py --pretrained <...> --parallel --threads 1   # both seeds at once (2 cores)
    python bench/vl_loop.py --quick        # tiny model, a few documents: checks the script only
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NAME = "vl_loop"
METRICS = ("test/field_accuracy_normalized", "test/numeric_consistency", "targeted/field_accuracy_normalized",
           "targeted/numeric_consistency")
TARGETED = ("targeted/field_accuracy_normalized", "targeted/numeric_consistency")
QUICK_OVERRIDES = [
    "model/net=tiny", "++model.pretrained=null", "model.processor.vocab_size=600", "model.processor.min_pixels=3136",
    "model.processor.max_pixels=12544", "model.max_length=512", "model.generation.max_new_tokens=12",
    "data.tasks=[vendor,summary]", "data.batch_size=4", "data.synth.invoices.num_samples=10",
    "++data.synth.invoices.dpi=36", "data.synth.invoices.workers=1", "loop.hard_documents=6", "loop.val_share=0.2",
    "loop.holdout.num_samples=4", "model.evaluate_base=false", "trainer.max_steps=4", "trainer.val_check_interval=2",
    "trainer.limit_val_batches=1",
]


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", type=Path, default=None,
                        help="the base model directory (paddleocr_vl_base_cpu's exports/best/model)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs=2, default=(1, 2), help="the two training seeds")
    parser.add_argument("--experiment", default="paddleocr_vl_lora_cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch_threads of the training runs")
    parser.add_argument("--dir", type=Path, default=common.CACHE_DIR / "loops", help="where the loops live")
    parser.add_argument("--parallel", action="store_true",
                        help="run the two seeds' loops at the same time, each in its own process (with --threads 1 "
                             "on 2 cores); then summarize")
    parser.add_argument("--only-seed", type=int, default=None, help=argparse.SUPPRESS)  # a --parallel child
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for every round (key=value)")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"rounds": 2})
    if args.pretrained is None and not args.quick:
        parser.error("--pretrained is required (LoRA on random weights learns nothing): train "
                     "experiment=paddleocr_vl_base_cpu first")
    common.warn_if_busy()

    from ocrlab.families.paddleocr_vl.loop import Loop

    base = [f"experiment={args.experiment}", f"rounds={args.rounds}", "logger=csv",
            "callbacks.progress_bar.refresh_rate=0", *([f"torch_threads={args.threads}"] if args.threads else [])]
    base += QUICK_OVERRIDES if args.quick else [f"model.pretrained={args.pretrained.resolve()}"]
    base += list(args.overrides)
    runs: dict[int, list[dict]] = {}
    seconds: dict[int, float] = run_in_parallel(args) if args.parallel else {}
    for seed in [args.only_seed] if args.only_seed is not None else args.seeds:
        loop_dir = args.dir / f"{args.experiment}{'-quick' if args.quick else ''}-seed{seed}"
        overrides = [*base, f"seed={seed}", f"loop.dir={loop_dir}", f"paths.log_dir={common.CACHE_DIR / 'runs'}"]
        start = time.perf_counter()
        runs[seed] = Loop(common.compose_config(overrides, common.new_run_dir(NAME), config_name="loop")).run()
        seconds.setdefault(seed, time.perf_counter() - start)  # --parallel: the child process's time
        print(f"[{NAME}] seed {seed}: {len(runs[seed])} rounds in {seconds[seed] / 60:.1f} min ({loop_dir})", flush=True)
    if args.only_seed is not None:
        return

    results = summarize(runs, args.seeds)
    rows = []
    for r in range(args.rounds):
        for seed in args.seeds:
            row = runs[seed][r]
            rows.append([r, seed, row.get("targeted_kinds") or "-", *(row.get(m) for m in METRICS)])
    caption = [f"{m}: gain over the last round (mean of the seeds) vs noise (mean |seed1 - seed2|) "
               f"{results['noise'][m]:.4f}: " + ", ".join(
                   f"round {g['round']} {g['gain']:+.4f} ({'>' if g['beats_noise'] else '<='} noise)"
                   for g in results["gains"][m]) for m in TARGETED]
    caption.append("target (every round better than the last on the targeted kinds, beyond the noise): "
                   + ("met" if results["target_met"] else "NOT met"))
    if args.quick:
        caption.append("--quick: tiny random model, a few documents: the figures mean nothing")
    common.print_table(f"{NAME}: held-out metrics per round ({args.experiment})",
                       ["round", "seed", "targeted kinds (this round's plan)", *METRICS], rows,
                       caption="\n".join(caption))
    method = {
        "loop": f"ocrlab.families.paddleocr_vl.loop.Loop(compose('loop', experiment={args.experiment}, rounds={args.rounds}, seed=<seed>, "
                "model.pretrained=<base>)).run(), one loop dir per seed",
        "metrics": "each round's test split = the loop's fixed held-out set; targeted/... = mean over the hard kinds "
                   "the loop's plans targeted of the per-kind breakdown of reports/extraction_report.json",
        "noise": "mean over rounds of |metric(seed a) - metric(seed b)|",
        "gain": "mean over the seeds of metric(round r) - metric(round r-1)",
    }
    common.write_results(NAME, args, {**results, "rounds": runs, "seconds": seconds}, method)


def run_in_parallel(args) -> dict[int, float]:
    """Each seed's loop in a child process (this script with ``--only-seed``), all at once; the wall
    time of each. The summary then reads the finished loops (a finished loop resumes as done)."""
    argv = [a for a in sys.argv[1:] if a != "--parallel"]
    started = time.perf_counter()
    children = {seed: subprocess.Popen([sys.executable, __file__, *argv, "--only-seed", str(seed)])
                for seed in args.seeds}
    seconds: dict[int, float] = {}
    while len(seconds) < len(children):
        for seed, child in children.items():
            if seed not in seconds and child.poll() is not None:
                seconds[seed] = time.perf_counter() - started
                if child.returncode:
                    for other in children.values():
                        other.kill()
                    sys.exit(f"{NAME}: the seed {seed} loop failed (exit {child.returncode}); its log is above")
        time.sleep(2)
    return seconds


def summarize(runs: dict[int, list[dict]], seeds) -> dict:
    a, b = seeds
    rounds = min(len(runs[a]), len(runs[b]))
    noise, gains = {}, {}
    for m in METRICS:
        spreads = [abs(runs[a][r][m] - runs[b][r][m]) for r in range(rounds) if m in runs[a][r] and m in runs[b][r]]
        noise[m] = sum(spreads) / len(spreads) if spreads else float("nan")
        gains[m] = []
        for r in range(1, rounds):
            values = [runs[s][r][m] - runs[s][r - 1][m] for s in seeds if m in runs[s][r] and m in runs[s][r - 1]]
            if len(values) == len(seeds):
                gain = sum(values) / len(values)
                gains[m].append({"round": r, "gain": gain, "beats_noise": gain > noise[m]})
    met = all(g["beats_noise"] for m in TARGETED for g in gains[m]) and all(gains[m] for m in TARGETED)
    return {"noise": noise, "gains": gains, "target_met": met}


if __name__ == "__main__":
    main()
