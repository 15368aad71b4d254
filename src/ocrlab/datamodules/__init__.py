"""DataModules (a shared base, one per kind of data) and the data readers they share."""

from ocrlab.datamodules.base import OcrDataModule
from ocrlab.datamodules.documents import DocumentDataModule
from ocrlab.datamodules.instruction_pairs import InstructionPairsDataModule
from ocrlab.datamodules.labels import (
    LineRecord,
    charset_from_label_files,
    read_correction_samples,
    read_label_file,
)
from ocrlab.datamodules.text_lines import TextLineDataModule
from ocrlab.errors import DatasetError

__all__ = [
    "DatasetError",
    "DocumentDataModule",
    "InstructionPairsDataModule",
    "LineRecord",
    "OcrDataModule",
    "TextLineDataModule",
    "charset_from_label_files",
    "read_correction_samples",
    "read_label_file",
]
