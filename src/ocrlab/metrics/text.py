"""Text-recognition metrics: CER and WER (torchmetrics), line accuracy, normalized edit distance.

Every metric sees strings after :func:`ocrlab.text.normalize_text`, whoever produced them (a
model, a baseline or a label file), so scores are comparable line by line.

Definitions (lower is better for all but ``acc``):

* ``cer``: total character edits / total reference characters (corpus level, torchmetrics).
* ``wer``: the same over whitespace-separated words (Thai is written without spaces between
  words, so on Thai text WER is close to a phrase error rate).
* ``acc``: fraction of lines predicted exactly.
* ``ned``: mean over lines of ``levenshtein(pred, ref) / max(len(pred), len(ref))``
  (PaddleOCR reports ``1 - ned`` as ``norm_edit_dis``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from rapidfuzz.distance import Levenshtein
from torchmetrics import Metric, MetricCollection
from torchmetrics.text import CharErrorRate, WordErrorRate

from ocrlab.text.normalize import normalize_text


class _MeanOverLines(Metric):
    """Mean of a per-line score, reduced across processes by summing."""

    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def line_score(self, pred: str, target: str) -> float:
        raise NotImplementedError

    def update(self, preds: Sequence[str], target: Sequence[str]) -> None:
        if len(preds) != len(target):
            raise ValueError(f"{len(preds)} predictions for {len(target)} references")
        self.total += sum(self.line_score(p, t) for p, t in zip(preds, target, strict=True))
        self.count += len(preds)

    def compute(self) -> torch.Tensor:
        return (self.total / self.count.clamp(min=1)).float()


class LineAccuracy(_MeanOverLines):
    higher_is_better = True

    def line_score(self, pred: str, target: str) -> float:
        return float(pred == target)


class NormalizedEditDistance(_MeanOverLines):
    higher_is_better = False

    def line_score(self, pred: str, target: str) -> float:
        longest = max(len(pred), len(target))
        return Levenshtein.distance(pred, target) / longest if longest else 0.0


class TextMetrics(MetricCollection):
    """``cer``, ``wer``, ``acc`` and ``ned`` over normalized strings, under one prefix."""

    def __init__(self, prefix: str = ""):
        super().__init__(
            {
                "cer": CharErrorRate(),
                "wer": WordErrorRate(),
                "acc": LineAccuracy(),
                "ned": NormalizedEditDistance(),
            },
            prefix=prefix,
            compute_groups=False,
        )

    def update(self, preds: Sequence[str], target: Sequence[str]) -> None:  # type: ignore[override]
        preds = [normalize_text(p) for p in preds]
        target = [normalize_text(t) for t in target]
        # torchmetrics' WER/CER divide by reference length; an empty reference counts 0 words
        super().update(preds, target)


def line_cer(pred: str, target: str) -> float:
    """Character error rate of one line (normalized strings; 0 for two empty strings)."""
    pred, target = normalize_text(pred), normalize_text(target)
    if not target:
        return float(len(pred) > 0)
    return Levenshtein.distance(pred, target) / len(target)


def score_texts(preds: Sequence[str], targets: Sequence[str], prefix: str = "test/") -> dict[str, float]:
    """All text metrics of a finished list of predictions, as plain floats."""
    metrics = TextMetrics(prefix=prefix)
    metrics.update(list(preds), list(targets))
    return {k: float(v) for k, v in metrics.compute().items()}


def mark_errors(pred: str, target: str) -> str:
    """The prediction with its errors in brackets: ``[x]`` a wrong or extra character, ``[-y]``
    a character of the target it lacks (Levenshtein opcodes), for tables people read."""
    pred, target = normalize_text(pred), normalize_text(target)
    out = []
    for op in Levenshtein.opcodes(target, pred):
        if op.tag == "equal":
            out.append(pred[op.dest_start:op.dest_end])
        elif op.tag == "delete":
            out.append(f"[-{target[op.src_start:op.src_end]}]")
        else:  # replace, insert
            out.append(f"[{pred[op.dest_start:op.dest_end]}]")
    return "".join(out)


def cer_by_length(preds: Sequence[str], targets: Sequence[str],
                  edges: Sequence[int] = (10, 20, 40, 60)) -> list[dict[str, float | int | str]]:
    """CER per target-length bucket (edits over target characters within the bucket):
    ``[{"length": "1-10", "lines": n, "cer": x}, ...]``, empty buckets left out."""
    bounds = [0, *edges, None]
    rows = []
    for low, high in itertools.pairwise(bounds):
        pairs = [(normalize_text(p), normalize_text(t)) for p, t in zip(preds, targets, strict=True)
                 if len(normalize_text(t)) > low and (high is None or len(normalize_text(t)) <= high)]
        if not pairs:
            continue
        chars = sum(len(t) for _, t in pairs)
        edits = sum(Levenshtein.distance(p, t) for p, t in pairs)
        label = f"{low + 1}-{high}" if high is not None else f">{low}"
        rows.append({"length": label, "lines": len(pairs), "cer": edits / max(1, chars)})
    return rows
