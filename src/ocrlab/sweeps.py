"""The summary of a multirun: one row per job, read from the job dirs the sweep left.

Each job dir holds Hydra's ``.hydra/overrides.yaml`` and, written by
:class:`~ocrlab.callbacks.TrainingReport` on success and on every failure, ``training_report.json``
(status, error, the monitored metric's history). A job with no report (killed hard) is a row
too, its error taken from the last error line of its log. The summary names the best job by the
monitored metric and plots that metric against each swept parameter (the overrides that differ
between jobs). Written by :class:`~ocrlab.utils.hydra_callbacks.SweepSummary` at the multirun's
end; no torch import.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ocrlab.utils.io import atomic_write, atomic_write_json, atomic_write_text

JSON_FILE, CSV_FILE, MARKDOWN_FILE, PLOT_FILE = ("sweep_summary.json", "sweep_summary.csv", "sweep_summary.md",
                                                "sweep_summary.png")


@dataclass
class JobRow:
    job: int
    overrides: list[str]
    status: str
    error: str | None
    best_value: float | None
    best_step: int | None
    run_dir: str
    params: dict[str, str] = field(default_factory=dict)  # the swept overrides of this job


@dataclass
class SweepSummary:
    sweep_dir: str
    metric: str | None
    mode: str | None
    rows: list[JobRow]
    swept: list[str]
    best: JobRow | None

    @property
    def all_failed(self) -> bool:
        return bool(self.rows) and all(r.status != "success" for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        # rows first: the one list a reader looking for "the jobs" finds
        return {"rows": [asdict(r) for r in self.rows], "best": asdict(self.best) if self.best else None,
                "metric": self.metric, "mode": self.mode, "swept": self.swept, "sweep_dir": self.sweep_dir}


def summarize(sweep_dir: str | Path, report_file: str = "training_report.json") -> SweepSummary:
    """Read every job dir (a folder of ``sweep_dir`` holding ``.hydra/overrides.yaml``)."""
    sweep_dir = Path(sweep_dir)
    job_dirs = sorted((p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")), key=_job_key)
    rows, metric, mode = [], None, None
    for job_dir in job_dirs:
        row, monitor = _row(job_dir, report_file)
        rows.append(row)
        metric, mode = (metric or monitor[0]), (mode or monitor[1])
    swept = _swept_keys([r.overrides for r in rows])
    for row in rows:
        row.params = {k: v for k, v in (_split(o) for o in row.overrides) if k in swept}
    scored = [r for r in rows if r.best_value is not None and math.isfinite(r.best_value)]
    best = (max if mode == "max" else min)(scored, key=lambda r: r.best_value) if scored else None
    return SweepSummary(str(sweep_dir), metric, mode, rows, swept, best)


def write(summary: SweepSummary, directory: str | Path) -> dict[str, Path]:
    """JSON, CSV, Markdown and (when a job scored) the plot, each atomically."""
    directory = Path(directory)
    paths = {"json": atomic_write_json(directory / JSON_FILE, summary.to_dict()),
             "csv": atomic_write_text(directory / CSV_FILE, _csv(summary)),
             "markdown": atomic_write_text(directory / MARKDOWN_FILE, markdown(summary))}
    if summary.swept and any(r.best_value is not None for r in summary.rows):
        paths["plot"] = plot(summary, directory / PLOT_FILE)
    return paths


def table(summary: SweepSummary) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows (one per job) for the CSV, the Markdown and the W&B table."""
    metric = summary.metric or "metric"
    columns = ["job", *summary.swept, "status", f"best {metric}", "best step", "error", "run dir", "overrides"]
    rows = [[r.job, *(r.params.get(k) for k in summary.swept), r.status, r.best_value, r.best_step, r.error or "",
             r.run_dir, " ".join(r.overrides)] for r in summary.rows]
    return columns, rows


def markdown(summary: SweepSummary) -> str:
    columns, rows = table(summary)
    keep = [i for i, c in enumerate(columns) if c not in ("run dir", "overrides")]
    lines = [f"# Sweep {Path(summary.sweep_dir).name}", ""]
    if summary.best is not None:
        best = summary.best
        lines += [(f"Best: job {best.job} ({summary.metric} {best.best_value:.6g} at step {best.best_step}, "
                   f"{summary.mode}): `{' '.join(best.overrides)}`"), ""]
    failed = sum(r.status != "success" for r in summary.rows)
    lines += [f"{len(summary.rows)} jobs, {failed} not successful.", ""]
    lines.append("| " + " | ".join(columns[i] for i in keep) + " |")
    lines.append("|" + "---|" * len(keep))
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[i]) for i in keep) + " |")
    return "\n".join(lines) + "\n"


def plot(summary: SweepSummary, path: Path) -> Path:
    """The best value of the metric against each swept parameter (one panel each)."""
    from matplotlib.figure import Figure

    keys = summary.swept
    fig = Figure(figsize=(4 * len(keys), 3.2))
    for i, key in enumerate(keys, start=1):
        ax = fig.add_subplot(1, len(keys), i)
        points = [(r.params.get(key), r.best_value) for r in summary.rows if r.best_value is not None]
        values = [v for v, _ in points]
        numeric = all(_number(v) is not None for v in values)
        if numeric:
            ax.scatter([_number(v) for v, _ in points], [y for _, y in points])
            if all(_number(v) > 0 for v in values) and max(_number(v) for v in values) / min(
                    _number(v) for v in values) >= 100:
                ax.set_xscale("log")
        else:
            labels = sorted({str(v) for v in values})
            ax.scatter([labels.index(str(v)) for v, _ in points], [y for _, y in points])
            ax.set_xticks(range(len(labels)), labels, rotation=30)
        ax.set_xlabel(key)
        ax.set_ylabel(summary.metric or "metric")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{Path(summary.sweep_dir).name}: best {summary.metric} ({summary.mode}) per job")
    fig.tight_layout()
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))


# -- reading job dirs --------------------------------------------------------------------------
def _row(job_dir: Path, report_file: str) -> tuple[JobRow, tuple[str | None, str | None]]:
    overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text(encoding="utf-8")) or []
    job = _job_key(job_dir)[0]
    report_path = job_dir / report_file
    try:
        report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else None
    except (OSError, json.JSONDecodeError) as e:
        report, error = None, f"unreadable {report_file}: {e}"
    else:
        error = None if report is not None else f"no {report_file} (killed before it could write one?)" + _log_hint(
            job_dir)
    if report is None:
        return JobRow(job, overrides, "no report", error, None, None, str(job_dir)), (None, None)
    monitor = report.get("monitor") or {}
    name, mode = monitor.get("name"), monitor.get("mode")
    best = report.get("best_metrics") or {}
    value = best.get(name) if name else None
    return (JobRow(job, overrides, report.get("status", "unknown"), report.get("error"),
                   float(value) if value is not None else None, best.get("step"), str(job_dir)), (name, mode))


def _log_hint(job_dir: Path) -> str:
    errors = [line.strip() for log in job_dir.glob("*.log") for line in log.read_text(errors="replace").splitlines()
              if "Error" in line or "error:" in line]
    return f"; its log says: {errors[-1][:300]}" if errors else ""


def _job_key(job_dir: Path) -> tuple[int, str]:
    return (int(job_dir.name) if job_dir.name.isdigit() else -1, job_dir.name)


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def _swept_keys(overrides: list[list[str]]) -> list[str]:
    """Keys whose value differs between jobs, in the order of the first job's overrides."""
    values: dict[str, set[str]] = {}
    for job in overrides:
        for key, value in map(_split, job):
            values.setdefault(key, set()).add(value)
    return [k for k, v in values.items() if len(v) > 1 or any(k not in dict(map(_split, j)) for j in overrides)]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _csv(summary: SweepSummary) -> str:
    columns, rows = table(summary)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|").replace("\n", " ")
