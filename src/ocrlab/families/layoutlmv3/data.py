"""DataModule for layout models on the business-document annotation format.

``data_dir`` holds ``label_map.json`` and ``{train,val,test}/{images,annotations}``. Every
annotation is read and checked at setup (a bad one is an error naming its file and field, before
training starts). Documents are encoded with what the model hands over
(:meth:`~ocrlab.families.layoutlmv3.module.LayoutLMv3Multitask.data_encoder`):
its tokenizer, windows and page size. Batches hold documents (``batch_size`` documents, however
many windows they need), grouped by sub-token count.

``synth`` asks for generated data: business documents are written into ``data_dir`` on first
use (:class:`~ocrlab.synth.business_docs.BusinessDocGenerator` arguments plus ``num_samples``
and ``workers``). Without it nothing is generated, and a missing ``data_dir`` is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ocrlab.datamodules.base import OcrDataModule
from ocrlab.errors import ConfigError, DatasetError
from ocrlab.families.layoutlmv3.annotations import (
    AnnotationWords,
    DocumentRecord,
    check_dataset_labels,
    read_label_map,
    read_split,
)
from ocrlab.families.layoutlmv3.inputs import IGNORE, DocumentEncoder, collate_windows
from ocrlab.families.layoutlmv3.labels import DocumentLabelMap
from ocrlab.utils.io import describe_dir

log = logging.getLogger(__name__)


class DocumentDataset(Dataset):
    def __init__(self, records: Sequence[DocumentRecord], labels: DocumentLabelMap, encoder: DocumentEncoder):
        self.records = list(records)
        self.labels = labels
        self.encoder = encoder
        self.lengths = encoder.token_counts([r.words for r in self.records])

    def __len__(self) -> int:
        return len(self.records)

    def _image(self, rec: DocumentRecord):
        from PIL import Image

        size = self.encoder.image_processor.size
        with Image.open(rec.image_path) as img:
            img.draft("RGB", (2 * size["width"], 2 * size["height"]))  # JPEG: decode at a reduced scale
            return img.convert("RGB")

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        image = self._image(rec) if self.encoder.uses_images else None
        item = self.encoder.encode(rec.words, rec.boxes, rec.labels, image)
        sub = self.labels.po_subtype2id[rec.po_subtype] if rec.po_subtype is not None else IGNORE
        return {**item, "id": rec.id, "image_path": str(rec.image_path), "word_boxes": list(rec.boxes),
                "words": list(rec.words), "num_words": len(rec.words),
                "word_labels": list(rec.labels), "doc_type": self.labels.doc_type2id[rec.doc_type], "po_subtype": sub}


class DocumentDataModule(OcrDataModule):
    def __init__(self, data_dir: str, synth: dict | None = None, batch_size: int = 4,
                 eval_batch_size: int | None = None, num_workers: int = 0, pin_memory: bool = False,
                 bucket_by_length: bool = True, check_images: bool = True, seed: int = 0):
        super().__init__(batch_size, eval_batch_size, num_workers, pin_memory, bucket_by_length, seed)
        if not data_dir:
            raise ConfigError("data.data_dir is required: the folder with label_map.json and train/val/test")
        self.data_dir = Path(data_dir)
        self.synth = dict(synth) if synth else None
        self.check_images = check_images
        self.labels: DocumentLabelMap | None = None
        self.encoder: DocumentEncoder | None = None

    def attach_model(self, model) -> None:
        encoder = model.data_encoder()
        if not isinstance(encoder, DocumentEncoder) or not isinstance(encoder.labels, DocumentLabelMap):
            raise ConfigError(f"data {type(self).__name__} reads documents, but the model {type(model).__name__} "
                              f"is not a document model (its data_encoder() gives {type(encoder).__name__}, not a "
                              "DocumentEncoder with a document label map)")
        self.labels, self.encoder = encoder.labels, encoder
        super().attach_model(model)

    def collate(self, items: list[dict]) -> dict:
        return collate_windows(items, self.encoder.pad_token_id)

    def split_dir(self, split: str) -> Path:
        return self.data_dir / split

    def has_split(self, split: str) -> bool:
        return self.synth is not None or (self.split_dir(split) / "annotations").is_dir()

    def source_files(self, split: str) -> list[Path]:
        return [self.split_dir(split) / "annotations"] if self.has_split(split) else []

    def training_texts(self) -> Iterator[str]:
        """The words of the training documents (what a BPE tokenizer is learned from)."""
        return iter(AnnotationWords(self.split_dir("train")))

    def label_map(self) -> DocumentLabelMap:
        """The dataset's label map (``label_map.json``): what ``model/labels=from_dataset`` takes."""
        return read_label_map(self.data_dir)

    def missing_split_error(self, split: str) -> str:
        return (f"no {split} documents: {self.split_dir(split) / 'annotations'} is missing. data.data_dir is read in "
                f"the document annotation format (label_map.json and {{train,val,test}}/{{images,annotations}}/, one "
                f"JSON annotation per page); {describe_dir(self.data_dir)}")

    def prepare_splits(self, splits: Sequence[str]) -> None:
        if self.synth is None:
            if not self.data_dir.is_dir():
                what = "is a file" if self.data_dir.exists() else "does not exist"
                raise DatasetError(f"data.data_dir {self.data_dir} {what} (expected a folder with label_map.json "
                                   "and train/val/test subfolders of images/ and annotations/)")
            return
        from ocrlab.synth.business_docs import BusinessDocGenerator
        from ocrlab.synth.dataset import DATASET_FILE, read_dataset_info, write_dataset

        if (self.data_dir / DATASET_FILE).is_file():
            if read_dataset_info(self.data_dir).get("complete"):
                return  # a finished dataset is used as it is (an interrupted one is resumed below)
        elif (self.data_dir / "train" / "annotations").is_dir():
            return  # documents that were not generated here: never written over
        settings = dict(self.synth)
        num_samples, workers = settings.pop("num_samples", 2000), settings.pop("workers", 1)
        write_dataset(BusinessDocGenerator(**settings), self.data_dir, num_samples, workers=workers)

    def build_dataset(self, split: str) -> DocumentDataset:
        if self.synth is None and not self.data_dir.is_dir():
            self.prepare_splits([split])  # the error naming the missing dir
        if (self.data_dir / "label_map.json").is_file():
            check_dataset_labels(read_label_map(self.data_dir), self.labels, self.data_dir)
        records = read_split(self.split_dir(split), self.labels, check_images=self.check_images)
        dataset = DocumentDataset(records, self.labels, self.encoder)
        windows = sum(len(self.encoder.spec.window_starts(n)) for n in dataset.lengths)
        log.info("%s: %d documents (%d windows of <= %d tokens) from %s", split, len(records), windows,
                 self.encoder.spec.max_length, self.split_dir(split))
        return dataset


class LabelMapOfDataset:
    """The label map of the training data's dataset (its ``label_map.json``, read through
    :meth:`DocumentDataModule.label_map`; a ``LearnedLabelSpace``)."""

    def fit(self, datamodule) -> DocumentLabelMap:
        if not isinstance(datamodule, DocumentDataModule):
            raise ConfigError(f"model/labels=from_dataset takes the label map of a document dataset, but the data "
                              f"is read by {type(datamodule).__name__}")
        return datamodule.label_map()
