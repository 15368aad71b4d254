"""Callbacks shared by every family."""

from ocrlab.callbacks.export_directories import ExportDirectories
from ocrlab.callbacks.test_reports import TestReports
from ocrlab.callbacks.training_report import TrainingReport

__all__ = ["ExportDirectories", "TestReports", "TrainingReport"]
