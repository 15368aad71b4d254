"""Metrics shared by every family."""

from ocrlab.metrics.text import (
    LineAccuracy,
    NormalizedEditDistance,
    TextMetrics,
    line_cer,
    score_texts,
)

__all__ = ["LineAccuracy", "NormalizedEditDistance", "TextMetrics", "line_cer", "score_texts"]
