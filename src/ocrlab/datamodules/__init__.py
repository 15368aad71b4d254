"""DataModules: the shared base, text lines (the readers of PaddleOCR label files, correction
samples and image/annotation folders, and the training augmentation, shared by the text-line
families). A family's own data module is in its folder."""

from ocrlab.datamodules.augment import AugmentConfig, LineAugmenter
from ocrlab.datamodules.base import OcrDataModule
from ocrlab.datamodules.labels import (
    LineRecord,
    read_correction_samples,
    read_image_annotation_dir,
    read_label_file,
)
from ocrlab.datamodules.text_lines import TextLineDataModule
from ocrlab.errors import DatasetError

__all__ = [
    "AugmentConfig",
    "DatasetError",
    "LineAugmenter",
    "LineRecord",
    "OcrDataModule",
    "TextLineDataModule",
    "read_correction_samples",
    "read_image_annotation_dir",
    "read_label_file",
]
