"""Callbacks shared by every family."""

from ocrlab.callbacks.training_report import TrainingReport

__all__ = ["TrainingReport"]
