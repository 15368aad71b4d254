"""Help time: wall time of ``python train.py --help`` (a fresh process each run; median).

``--help`` composes the default config and prints every config group, so it measures the CLI's
import weight (``ocrlab.cli`` keeps torch and Lightning out of it) plus Hydra's composition. The
bare interpreter start (``python -c pass``) is timed the same way, for scale.

    python bench/help_time.py           # ~15 s
    python bench/help_time.py --quick
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NAME = "help_time"
TARGET_S = 2.0


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (page cache, .pyc files)")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs train.py")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"runs": 2, "warmup": 0})
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    common.warn_if_busy()

    help_cmd = [args.python, "train.py", "--help"]
    bare_cmd = [args.python, "-c", "pass"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    help_s, bare_s, lines = [], [], 0
    for i in range(args.warmup + args.runs):
        seconds, out = timed(help_cmd, env)
        seconds_bare, _ = timed(bare_cmd, env)
        if i >= args.warmup:
            help_s.append(seconds)
            bare_s.append(seconds_bare)
        lines = out.count("\n")

    med = common.median(help_s)
    results = {
        "median_s": med,
        "runs_s": help_s,
        "min_s": min(help_s),
        "max_s": max(help_s),
        "python_startup_median_s": common.median(bare_s),
        "target_s": TARGET_S,
        "meets_target": med <= TARGET_S,
        "help_output_lines": lines,
    }
    method = {
        "command": " ".join(help_cmd),
        "cwd": str(common.ROOT),
        "timing": "time.perf_counter around subprocess.run (process start to exit, output captured); "
                  f"{args.warmup} untimed run(s) first; median of {args.runs}; each run is followed by one "
                  "'python -c pass' run for scale",
    }
    common.print_table(
        f"{NAME}: python train.py --help ({args.runs} runs after {args.warmup} warm-up)",
        ["command", "median s", "min s", "max s", "runs (s)"],
        [["python train.py --help", med, min(help_s), max(help_s), ", ".join(f"{s:.2f}" for s in help_s)],
         ["python -c pass", common.median(bare_s), min(bare_s), max(bare_s), ", ".join(f"{s:.3f}" for s in bare_s)]],
        caption=f"target <= {TARGET_S:g} s: {'met' if med <= TARGET_S else 'NOT met'}"
                + ("\n--quick: tiny smoke run" if args.quick else ""),
    )
    common.write_results(NAME, args, results, method)


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=False, cwd=common.ROOT, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{NAME}: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


if __name__ == "__main__":
    main()
