"""Metrics shared by every family."""

from ocrlab.metrics.text import (
    LineAccuracy,
    NormalizedEditDistance,
    TextMetrics,
    cer_by_length,
    line_cer,
    mark_errors,
    score_texts,
)

__all__ = ["LineAccuracy", "NormalizedEditDistance", "TextMetrics", "cer_by_length", "line_cer", "mark_errors",
           "score_texts"]
