"""Callbacks shared by every family."""

from ocrlab.callbacks.export_directories import ExportDirectories
from ocrlab.callbacks.training_report import TrainingReport

__all__ = ["ExportDirectories", "TrainingReport"]
