"""Callbacks shared by every family."""

from ocrlab.callbacks.export_directories import ExportDirectories
from ocrlab.callbacks.model_artifacts import ModelArtifacts
from ocrlab.callbacks.preemption_checkpoint import PreemptionCheckpoint
from ocrlab.callbacks.sweep_table import SweepTable
from ocrlab.callbacks.test_reports import TestReports
from ocrlab.callbacks.training_curves import TrainingCurves
from ocrlab.callbacks.training_report import TrainingReport

__all__ = ["ExportDirectories", "ModelArtifacts", "PreemptionCheckpoint", "SweepTable", "TestReports", "TrainingCurves", "TrainingReport"]
