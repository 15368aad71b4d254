"""LightningModules: one shared base for text recognizers, a small subclass per family."""

from ocrlab.lightning_modules.base import TextRecognitionModule
from ocrlab.lightning_modules.build import build_model
from ocrlab.lightning_modules.ctc import CTCRecognizer

__all__ = ["CTCRecognizer", "TextRecognitionModule", "build_model"]
