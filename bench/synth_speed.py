"""Synthetic document speed: pages/s per core (boxes, ground truth and image files included) and
the scaling from 1 to 2 worker processes, for each document generator.

Each measurement is a full ``write_dataset`` run, in a fresh interpreter, into a fresh directory (the CLI's code path:
layout, rendering, word boxes, degradations of hard samples, JPEG/PNG encoding, PDF, ground-truth
JSON, manifest with checksums, atomic writes), timed wall-clock including the worker pool's start.
Runs alternate 1 and 2 workers ``--repeats`` times; the median of each is reported. A second table
compares image formats (1 worker): the reason for the default.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

# ``common`` (which imports Lightning, ~7 s) is imported inside main(): worker processes are
# spawned and re-import this module, and must not pay for it.


# Each run happens in a fresh interpreter, as with `ocrlab-synth`: nothing this script imported
# (Lightning, through common) is in the measured process.
_RUN = """
import json, resource, sys, time
from pathlib import Path
from ocrlab.synth.dataset import read_manifest, write_dataset
kind, out, n, workers, image_format, dpi, seed = sys.argv[1:]
if kind == "invoices":
    from ocrlab.synth.invoices import InvoiceGenerator as Generator
else:
    from ocrlab.synth.business_docs import BusinessDocGenerator as Generator
generator = Generator(seed=int(seed), image_format=image_format, dpi=float(dpi))
def cpu_seconds():
    # this process + its finished children (the pool's workers are joined by write_dataset)
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))
cpu0 = cpu_seconds()
start = time.perf_counter()
write_dataset(generator, out, int(n), workers=int(workers), progress=False)
wall = time.perf_counter() - start
cpu = cpu_seconds() - cpu0
pages = sum(r.get("pages", 1) for r in read_manifest(out))
size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
print(json.dumps({"wall": wall, "cpu": cpu, "pages": pages, "bytes": size}))
"""


def timed_run(kind: str, n: int, workers: int, image_format: str, dpi: float, seed: int) -> dict:
    import json
    import os
    import subprocess

    # The previous run's files are still being written back to disk: without a sync, that
    # kernel work would land on this run's clock (a 2-worker run writes ~300 MB).
    os.sync()
    out = Path(tempfile.mkdtemp(prefix=f"synth-bench-{kind}-"))
    try:
        args = [kind, str(out / "d"), str(n), str(workers), image_format, str(dpi), str(seed)]
        done = subprocess.run([sys.executable, "-c", _RUN, *args], check=True, capture_output=True, text=True)
        run = json.loads(done.stdout.strip().splitlines()[-1])
        return {"docs": n, "pages": run["pages"], "wall_s": round(run["wall"], 3), "cpu_s": round(run["cpu"], 3),
                "pages_per_s": round(run["pages"] / run["wall"], 2),
                "pages_per_cpu_s": round(run["pages"] / run["cpu"], 2),
                "mb_per_page": round(run["bytes"] / run["pages"] / 1e6, 4)}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common

    parser = common.arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--generators", nargs="+", default=["invoices", "business-docs"],
                        choices=["invoices", "business-docs"])
    parser.add_argument("--docs", type=int, default=400, help="documents per run (1 worker; 2 workers make 2x)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dpi", type=float, default=None, help="default: each generator's own")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    common.apply_quick(args, parser, {"docs": 20, "repeats": 1})
    common.warn_if_busy()

    results: dict = {}
    rows = []
    for kind in args.generators:
        dpi = args.dpi or (150.0 if kind == "invoices" else 100.0)
        runs: dict[int, list[dict]] = {1: [], 2: []}
        for r in range(args.repeats):
            for workers in (1, 2):
                runs[workers].append(timed_run(kind, args.docs * workers, workers, "jpg", dpi, args.seed + r))
        pps = {w: common.median([x["pages_per_s"] for x in runs[w]]) for w in runs}
        # Pages per CPU-second of all processes (workers included): the per-core throughput of
        # the 2-worker runs. (On this VM stolen time is charged to the processes too, so it
        # drifts with the wall clock: it does not remove the machine's noise.)
        per_cpu = {w: common.median([x["pages_per_cpu_s"] for x in runs[w]]) for w in runs}
        formats = {}
        for image_format in ("jpg", "png"):
            formats[image_format] = timed_run(kind, max(10, args.docs // 2), 1, image_format, dpi, args.seed)
        results[kind] = {
            "dpi": dpi,
            "pages_per_s_per_core": pps[1],
            "pages_per_cpu_s": per_cpu,
            "pages_per_s_2_workers": pps[2],
            "scaling_2_workers": round(pps[2] / pps[1], 3),
            "target_met": pps[1] >= 50 and pps[2] / pps[1] >= 1.8,
            "runs": {str(w): v for w, v in runs.items()},
            "formats": formats,
        }
        rows.append([kind, dpi, pps[1], pps[2], round(pps[2] / pps[1], 2), per_cpu[1], per_cpu[2],
                     formats["jpg"]["pages_per_s"], formats["png"]["pages_per_s"],
                     formats["jpg"]["mb_per_page"], formats["png"]["mb_per_page"]])
    common.print_table(
        "Synthetic documents: pages/s (median of runs)",
        ["generator", "dpi", "1 worker", "2 workers", "scaling", "p/cpu-s 1w", "p/cpu-s 2w", "jpg p/s", "png p/s",
         "jpg MB/page", "png MB/page"],
        rows,
        caption="target: >= 50 pages/s per core and >= 1.8x on 2 workers; grayscale pages, JPEG q90 by default",
    )
    common.write_results("synth_speed", args, results, {
        "timed": "write_dataset wall clock, fresh directory, pool start included",
        "pages": "image pages (a multi-page document counts each page)",
    })


if __name__ == "__main__":
    main()
