"""Callbacks shared by every family."""

from ocrlab.callbacks.export_directories import ExportDirectories
from ocrlab.callbacks.hard_sample_mining import HardSampleMining
from ocrlab.callbacks.training_report import TrainingReport

__all__ = ["ExportDirectories", "HardSampleMining", "TrainingReport"]
