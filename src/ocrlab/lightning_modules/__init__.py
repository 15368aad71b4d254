"""LightningModules: the shared base (:class:`OcrModule`), a base per task, a small class per family."""

from ocrlab.lightning_modules.base import OcrModule
from ocrlab.lightning_modules.ctc import CTCRecognizer
from ocrlab.lightning_modules.document_multitask import LayoutLMv3Multitask
from ocrlab.lightning_modules.text_recognition import TextRecognitionModule
from ocrlab.lightning_modules.vision_language import PaddleOCRVL

__all__ = ["CTCRecognizer", "LayoutLMv3Multitask", "OcrModule", "PaddleOCRVL", "TextRecognitionModule"]
