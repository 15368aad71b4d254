"""TrOCR text-line recognition: a ViT/DeiT encoder and a TrOCR decoder (transformers'
``VisionEncoderDecoderModel``), trained from scratch or from a local checkpoint, with LoRA, and
distilled from a frozen teacher into a smaller student (token-level, sequence-level, on-policy)."""

from ocrlab.families.trocr.distillation import TrOCRDistillation
from ocrlab.families.trocr.module import TrOCR
from ocrlab.families.trocr.tokenizer import TokenizerOfTrainingTexts, TrOCRTokenizer

__all__ = ["TokenizerOfTrainingTexts", "TrOCR", "TrOCRDistillation", "TrOCRTokenizer"]
