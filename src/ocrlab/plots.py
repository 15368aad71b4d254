"""Plots shared by every family, as PNG files written atomically (matplotlib's object API: no
global pyplot state, safe in any thread). The callbacks decide where they go and who sees them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ocrlab.utils.io import atomic_write


def bars(path: Path, labels: Sequence[str], values: Sequence[float], title: str, xlabel: str, ylabel: str,
         annotations: Sequence[str] | None = None) -> Path:
    """One bar per label (``annotations``: a text above each bar, e.g. its count)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(4.0, 0.6 * len(labels) + 2.0), 3.4), layout="constrained")
    ax = fig.add_subplot()
    drawn = ax.bar(range(len(labels)), values, color="#4c72b0")
    ax.set_xticks(range(len(labels)), list(labels), rotation=30 if max(map(len, labels), default=0) > 6 else 0,
                  ha="right" if max(map(len, labels), default=0) > 6 else "center")
    if annotations:
        ax.bar_label(drawn, labels=list(annotations), fontsize=8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))


def curves(path: Path, panels: dict[str, dict[str, Sequence[tuple[int, float]]]], title: str) -> Path:
    """One panel per entry of ``panels`` (panel title -> series name -> (step, value) points)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0 * max(1, len(panels)), 3.6), layout="constrained")
    for i, (name, series) in enumerate(panels.items(), start=1):
        ax = fig.add_subplot(1, len(panels), i)
        for label, points in series.items():
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, marker="o" if len(points) < 20 else None, markersize=3, label=label)
        ax.set(title=name, xlabel="step")
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))

