"""DataModules and the data readers they share."""

from ocrlab.datamodules.labels import DatasetError, LineRecord, read_correction_samples, read_label_file
from ocrlab.datamodules.text_lines import TextLineDataModule

__all__ = ["DatasetError", "LineRecord", "TextLineDataModule", "read_correction_samples", "read_label_file"]
