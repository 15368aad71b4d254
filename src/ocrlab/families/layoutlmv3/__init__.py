"""LayoutLMv3 multitask: document type, PO subtype and BIO field labels of the words of a page,
with its tokenizer, label map, windows over long pages, annotation-format reader and ONNX export."""

from ocrlab.families.layoutlmv3.data import DocumentDataModule
from ocrlab.families.layoutlmv3.module import LayoutLMv3Multitask

__all__ = ["DocumentDataModule", "LayoutLMv3Multitask"]
