"""``evaluate.py ckpt_path=A compare=[B,C] [baseline=...]``: several models of one task scored on
the same test samples, in one table.

Rows: the ``ckpt_path`` model (the reference), each ``compare`` entry (a checkpoint or export dir
of any family of the same task), then the baseline when one is configured. Each model is scored
the way ``evaluate.py`` scores one (:func:`ocrlab.evaluation.run_test`): the data config attached
to that model in turn (its own label space and input spec), the family's own test step. Columns:
the task's :attr:`~ocrlab.lightning_modules.OcrModule.comparison_columns` (text lines: CER, WER,
line accuracy), the median over test batches of ms per sample (the test step as a whole: the
model's inference and its scoring; the baseline per chunk, its recognition only), samples per
second (samples / their seconds), parameters, and for each row after the first its change against
the first (``delta_<column>``, ``speed_ratio``: its samples/s over the first's).

Every row is scored on the same samples. A model whose label space cannot read some of them is
refused before scoring, as ``evaluate.py`` refuses it alone: with ``data.on_unknown_char=error``
the data module names the line and the characters; with ``skip`` it would drop lines, which
leaves another sample count than the first model's, an error naming the entry.

Writes into the run dir ``comparison.json``, ``comparison.md``, ``comparison.png`` (the first
column and samples/s per model) and, per compared model, ``compare/<name>/`` (its
``metrics.json``, ``predictions.tsv|jsonl`` and test reports); the table goes to the loggers as
``comparison`` (W&B: ``evaluate.py ... logger=wandb``).
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from ocrlab.errors import ConfigError, DatasetError
from ocrlab.reports import Figure, Report, Table
from ocrlab.test_runs import BaselineRun, TestRun, prediction_columns, run_test, test_data, write_predictions
from ocrlab.utils.io import atomic_write, atomic_write_json

log = logging.getLogger(__name__)


def compare_entries(cfg: DictConfig) -> list[str]:
    """The ``compare`` paths, checked from their metadata alone (nothing is built): each exists
    and holds a model of the first model's task."""
    entries = cfg.get("compare")
    if not entries:
        return []
    if not isinstance(entries, (list, ListConfig)):
        raise ConfigError(f"compare must be a list of checkpoints or export dirs, got {entries!r}: "
                          f"write compare=[{entries}]")
    entries = [str(e) for e in entries]
    if cfg.get("quantize"):
        raise ConfigError("compare=[...] scores every model as trained; it does not take quantize= "
                          "(evaluate a quantized model on its own)")
    first_class = _model_class(cfg.ckpt_path, "ckpt_path")
    for entry in entries:
        if not Path(entry).exists():
            raise ConfigError(f"compare entry {entry} does not exist (expected a .ckpt file, a sharded checkpoint "
                              "dir or an export dir)")
        cls = _model_class(entry, "compare entry")
        if cls.task != first_class.task:
            raise ConfigError(f"compare entry {entry} holds a {cls.__name__}, a model of the task {cls.task!r}, but "
                              f"the first model ({cfg.ckpt_path}, a {first_class.__name__}) serves {first_class.task!r}: "
                              "every compared model must serve the first model's task")
    return entries


def _model_class(path: str, what: str) -> type:
    """The class a checkpoint or export dir names (its ``_target_``), read from its metadata."""
    from hydra.utils import get_class

    from ocrlab.errors import CheckpointError
    from ocrlab.loading import read_metadata

    try:
        meta = read_metadata(path)  # checks the class is an importable OcrModule
    except CheckpointError as e:
        raise CheckpointError(f"{what} {path}: {e}") from e
    return get_class(meta["model_config"]["_target_"])


@dataclass
class Compared:
    path: str
    model: Any
    datamodule: Any


def load_compared(cfg: DictConfig, entries: list[str], first_data) -> list[Compared]:
    """Each entry's model, with the data config attached to it and its test split built (so a
    label space that cannot read the test data fails here, before any scoring)."""
    from ocrlab.loading import load_model

    out = []
    expected = len(first_data.datasets["test"])
    for entry in entries:
        model = load_model(entry)
        try:
            datamodule = test_data(cfg.data, model)
        except (ConfigError, DatasetError) as e:  # e.g. characters its label space lacks: say which model
            raise type(e)(f"compare entry {entry} ({type(model).__name__}): {e}") from e
        found = len(datamodule.datasets["test"])
        if found != expected:
            raise DatasetError(
                f"compare entry {entry} ({type(model).__name__}) reads {found} test samples where the first model "
                f"reads {expected} (a data option dropped what its label space cannot read, e.g. "
                "data.on_unknown_char=skip): every row is scored on the same samples; let the data module report "
                "them instead (data.on_unknown_char=error), or use test data every model can read")
        out.append(Compared(entry, model, datamodule))
    return out


def row_names(paths: list[str]) -> list[str]:
    """A short readable name per path: a run's checkpoint (in ``checkpoints/``) is named by its run
    dir, any other file by its stem, a directory by its name. Equal names get the checkpoint's own
    stem appended (``<run>-best``, ``<run>-last``), then a number (the same model twice)."""
    def base(path: Path) -> str:
        if path.parent.name == "checkpoints" and path.parent.parent.name:
            return path.parent.parent.name
        return path.stem if path.is_file() else path.name

    names = [base(Path(p)) for p in paths]
    stems = [Path(p).stem for p in paths]
    for name in set(names):
        group = [i for i, n in enumerate(names) if n == name]
        if len({stems[i] for i in group}) > 1:  # the stems tell them apart
            for i in group:
                names[i] = name if stems[i] == name else f"{name}-{stems[i]}"
    counts = Counter(names)
    seen: Counter[str] = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(f"{n}-{seen[n]}" if counts[n] > 1 else n)
    return out


@dataclass
class Comparison:
    """The table (``rows``, first = reference) and what each compared model's run produced."""

    task: str
    unit: str
    columns: list[str]
    rows: list[dict]
    test_files: list[str]
    samples: int
    runs: dict[str, tuple[TestRun, str]]  # compared model's name -> its run, its output dir

    def results(self) -> dict[str, dict[str, float]]:
        return {subdir: run.metrics for run, subdir in self.runs.values()}

    def to_json(self) -> dict:
        # the rows are the file's first list (readers that take "the table" find it first)
        return {"reference": self.rows[0]["name"], "task": self.task, "rows": self.rows, "columns": self.columns,
                "test_files": self.test_files, f"{self.unit}s": self.samples}

    def write(self, output_dir: Path, loggers=()) -> None:
        from ocrlab.callbacks.test_reports import write_report

        for run, subdir in self.runs.values():
            atomic_write_json(output_dir / subdir / "metrics.json", run.metrics)
            write_predictions(output_dir / subdir, prediction_columns(run.rows))
        keys = [k for k in self.rows[-1] if k != "metrics"]  # the last row has every key (deltas too)
        table = Table(keys, [[row.get(k) for k in keys] for row in self.rows])
        report = Report(files={"comparison.json": self.to_json(), "comparison.md": self.markdown()},
                        tables={"comparison": table},
                        figures={"comparison.png": Figure("comparison_plot", partial(plot, self))})
        write_report(report, output_dir, loggers)

    def markdown(self) -> str:
        u = self.unit
        speed = [f"p50_ms_per_{u}", f"{u}s_per_s"]
        header = ["name", *self.columns, f"p50 ms/{u}", f"{u}s/s", "parameters",
                  *(f"Δ {c}" for c in self.columns), "speed vs first", "model class", "path"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for i, row in enumerate(self.rows):
            deltas = ([f"{row[f'delta_{c}']:+.4f}" for c in self.columns] + [f"{row['speed_ratio']:.2f}x"]
                      if i else ["(reference)"] + [""] * len(self.columns))
            params = "" if row["parameters"] is None else f"{row['parameters']:,}"
            cells = [row["name"], *(f"{row[c]:.4f}" for c in self.columns), f"{row[speed[0]]:.2f}",
                     f"{row[speed[1]]:.1f}", params, *deltas, row["model_class"], f"`{row['path']}`"]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        return (f"# Comparison on {self.samples} test {u}s\n\n" + "\n".join(lines) + "\n\n"
                f"Test files: {', '.join(self.test_files)}. Δ: the row's value minus the first row's; speed: its "
                f"{u}s/s over the first's. p50 ms/{u}: the median over test batches (baseline: chunks) of the "
                f"batch's time per {u}.\n")


def compare(cfg: DictConfig, model, first: TestRun, baseline: BaselineRun | None, compared: list[Compared],
            first_data) -> Comparison:
    """Score each compared model, then build the table (nothing is written here)."""
    task, unit = model.task, model.test_unit
    # a task that names no columns: all its test metrics but its own timings (the table has its own)
    columns = dict(model.comparison_columns) or {k.removeprefix("test/"): k for k in first.metrics
                                                 if not k.startswith("test/ms_per_")}
    names = row_names([str(cfg.ckpt_path), *(c.path for c in compared)]
                      + ([baseline.name] if baseline is not None else []))
    identity = _identities(first.rows)
    total = len(compared) + 1 + (baseline is not None)
    log.info("comparison 1/%d: %s (%s) %s", total, names[0], type(model).__name__, _summary(first.metrics, columns))
    rows = [_row(names[0], str(cfg.ckpt_path), model, first.metrics, first.batches, columns, unit)]
    runs: dict[str, tuple[TestRun, str]] = {}
    for i, (name, c) in enumerate(zip(names[1:len(compared) + 1], compared, strict=True), start=2):
        log.info("comparison %d/%d: scoring %s (%s, %s)", i, total, name, type(c.model).__name__, c.path)
        subdir = f"compare/{name}"
        run = run_test(c.model, c.datamodule, cfg.trainer, reports=f"{subdir}/reports", warmup=True)
        if _identities(run.rows) != identity:  # the data module's contract; guard the table's premise
            raise DatasetError(f"compare entry {c.path} was scored on other test samples than the first model")
        log.info("comparison %d/%d: %s %s", i, total, name, _summary(run.metrics, columns))
        rows.append(_row(name, c.path, c.model, run.metrics, run.batches, columns, unit))
        runs[name] = (run, subdir)
    if baseline is not None:
        engine_cfg = cfg.baseline
        rows.append(_row(names[-1], str(engine_cfg.get("_target_")), None, baseline.metrics, baseline.batches,
                         columns, unit, model_class=str(engine_cfg._target_).rsplit(".", 1)[-1]))
        log.info("comparison %d/%d: %s (baseline) %s", total, total, names[-1], _summary(baseline.metrics, columns))
    for row in rows[1:]:
        for c in columns:
            row[f"delta_{c}"] = row[c] - rows[0][c]
        row["speed_ratio"] = row[f"{unit}s_per_s"] / rows[0][f"{unit}s_per_s"]
    files = [str(f) for f in first_data.source_files("test")]
    return Comparison(task, unit, list(columns), rows, files, len(first.rows), runs)


def _identities(rows: list[dict]) -> list[str]:
    """The samples a run scored: each row's first column (the family's sample key: a line's image)."""
    return sorted(str(next(iter(r.values()))) for r in rows)


def _summary(metrics: dict[str, float], columns: dict[str, str]) -> str:
    return ", ".join(f"{c}={metrics[k]:.4f}" for c, k in columns.items() if k in metrics)


def _row(name: str, path: str, model, metrics: dict[str, float], batches: list[tuple[float, int]],
         columns: dict[str, str], unit: str, model_class: str | None = None) -> dict:
    missing = [k for k in columns.values() if k not in metrics]
    if missing:
        raise ConfigError(f"{name} ({path}) reported no {missing}: the first model's task tabulates "
                          f"{list(columns.values())}")
    seconds = sum(s for s, _ in batches)
    samples = sum(n for _, n in batches)
    per_batch = [1000.0 * s / n for s, n in batches if n]
    return {
        "name": name, "path": path, "kind": "model" if model is not None else "baseline",
        "model_class": model_class or type(model).__name__,
        **{c: metrics[k] for c, k in columns.items()},
        f"p50_ms_per_{unit}": statistics.median(per_batch) if per_batch else None,
        f"{unit}s_per_s": samples / seconds if seconds > 0 else None,
        "parameters": None if model is None else sum(p.numel() for p in model.parameters()),
        f"{unit}s": samples, "seconds": seconds,
        "metrics": metrics,
    }


def plot(comparison: Comparison, path: Path) -> Path:
    """Two bar panels: the first column (text lines: CER) and samples/s per row, as a PNG (atomically)."""
    # a bare Figure (not pyplot) renders through Agg without touching the global backend
    from matplotlib.figure import Figure as MplFigure

    rows, unit = comparison.rows, comparison.unit
    names = [r["name"] for r in rows]
    metric = comparison.columns[0]
    fig = MplFigure(figsize=(max(6.0, 1.2 * len(rows) + 3.0), 4.0), layout="constrained")
    # the reference stands out, baselines are grey
    colors = ["tab:blue", *("tab:orange" if r["kind"] == "model" else "tab:gray" for r in rows[1:])]
    for ax, key, title in zip(fig.subplots(1, 2), (metric, f"{unit}s_per_s"), (metric, f"{unit}s per second"),
                              strict=True):
        values = [r[key] or 0.0 for r in rows]
        bars = ax.bar(range(len(rows)), values, color=colors)
        ax.bar_label(bars, labels=[f"{v:.4g}" for v in values], fontsize=8)
        ax.set_xticks(range(len(rows)), labels=names, rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
        ax.set_title(title)
    fig.suptitle(f"{comparison.samples} test {unit}s")
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
