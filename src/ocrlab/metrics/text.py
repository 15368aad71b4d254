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
