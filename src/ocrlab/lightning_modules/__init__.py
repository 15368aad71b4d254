"""The LightningModule bases every family builds on: :class:`OcrModule` (every family) and
:class:`TextRecognitionModule` (text-line recognizers). The families are in ``ocrlab.families``."""

from ocrlab.lightning_modules.base import OcrModule
from ocrlab.lightning_modules.text_recognition import TextRecognitionModule

__all__ = ["OcrModule", "TextRecognitionModule"]
