"""PaddleOCR-VL with LoRA on instruction pairs: its processor, chat collator, extraction metrics,
hard-sample mining and the ``ocrlab-loop`` rounds (generate -> train -> predict -> mine)."""

from ocrlab.families.paddleocr_vl.data import InstructionPairsDataModule
from ocrlab.families.paddleocr_vl.module import PaddleOCRVL

__all__ = ["InstructionPairsDataModule", "PaddleOCRVL"]
