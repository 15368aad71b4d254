"""What a family's test run produced for people to read, beside its metrics.

A family builds a :class:`Report` (files, tables, figures) from its test results; the shared
:class:`~ocrlab.callbacks.TestReports` callback writes it into the run dir's ``reports/`` and sends
its tables and figures to the loggers that show them (W&B). Modules compute; the callback does
the I/O, the same way for every family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Table:
    """A table for the loggers (W&B tables): one list per row, in ``columns`` order. The cells of
    ``image_columns`` are image paths (relative ones: in the report's directory, e.g. a figure's
    name): shown as images where the logger can (W&B), else the path."""

    columns: list[str]
    rows: list[list[Any]]
    image_columns: tuple[str, ...] = ()


@dataclass
class Figure:
    """A plot: ``draw(path)`` writes it as a PNG at ``path`` (atomically) and returns the path;
    logged as an image under ``key``."""

    key: str
    draw: Callable[[Path], Path]
    # False: only a file (e.g. an image a table shows), not logged as an image of its own
    log: bool = True


@dataclass
class ConfusionMatrix:
    """Counts of (true class, predicted class), ``matrix[i][j]``: true ``class_names[i]`` predicted as
    ``class_names[j]``; shown as W&B's confusion-matrix plot (beside the family's PNG of it)."""

    class_names: list[str]
    matrix: list[list[int]]


@dataclass
class Report:
    """``files``: name -> content, written into ``reports/`` (``*.json``: a JSON-able object;
    anything else: text). ``tables``: logger key -> :class:`Table`. ``figures``: PNG file name ->
    :class:`Figure`. ``confusion_matrices``: logger key -> :class:`ConfusionMatrix`."""

    files: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    confusion_matrices: dict[str, ConfusionMatrix] = field(default_factory=dict)
