"""DataModule for vision-language models on instruction pairs (``ocrlab-synth pairs`` JSONL).

``pairs_dir`` holds ``train.jsonl``, ``val.jsonl``, ``test.jsonl``: one chat row per line
(``images``, a user and an assistant message; ``id``, ``task`` and metadata such as ``locale``,
``currency``, ``hard_kinds`` for the metric breakdowns). Rows are read and checked at setup
(:func:`~ocrlab.synth.pairs.read_pairs`: a bad row is an error naming the file and line).

Inputs are built with what the model hands over (``data_encoder()``: its processor, chat format and
``max_length``). Training batches carry ``labels`` on the answer tokens only; evaluation batches
carry the same plus a left-padded generation batch of the prompts, and the rows themselves (the
truth to score generated answers against).

``synth`` asks for generated data on first use: invoices (``InvoiceGenerator`` arguments under
``invoices``, plus ``num_samples``, ``workers``) into ``dataset_dir``, then pairs (``make_pairs``
arguments under ``pairs``) into ``pairs_dir``. A finished dataset or pairs directory is used as it
is; without ``synth`` nothing is generated and a missing ``pairs_dir`` is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ocrlab.datamodules.base import OcrDataModule
from ocrlab.errors import ConfigError, DatasetError
from ocrlab.utils.io import describe_dir

log = logging.getLogger(__name__)

IMAGE_PLACEHOLDER = "<image>"
# row keys kept beside the chat (what metric breakdowns and mining read)
META_KEYS = ("document_type", "locale", "currency", "hard_kinds", "layout")


def chat_parts(row: dict[str, Any]) -> tuple[str, str]:
    """(prompt without the image placeholders, answer) of a checked pairs row."""
    messages = {m["role"]: m["content"] for m in row["messages"]}
    return messages["user"].replace(IMAGE_PLACEHOLDER, "").strip(), messages["assistant"]


class PairTexts:
    """The prompts and answers of a pairs file, read when iterated: what a tokenizer trained from
    scratch learns its vocabulary from."""

    def __init__(self, path: str):
        self.path = Path(path)

    def __iter__(self) -> Iterator[str]:
        from ocrlab.synth.pairs import read_pairs

        if not self.path.is_file():
            raise DatasetError(f"{self.path}: no pairs file to train the tokenizer on (generate pairs with "
                               "ocrlab-synth pairs, or set data.pairs_dir)")
        for row in read_pairs(self.path):
            prompt, answer = chat_parts(row)
            yield prompt
            yield answer


class PairsDataset(Dataset):
    def __init__(self, rows: Sequence[dict[str, Any]], source: Path):
        self.rows = list(rows)
        self.source = source
        # bucketing key: answer + prompt characters (the image token count is set by the image
        # processor; pages of one dataset have about the same size)
        self.lengths = [sum(len(t) for t in chat_parts(r)) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from PIL import Image, UnidentifiedImageError

        row = self.rows[index]
        images = []
        for path in row["images"]:
            try:
                with Image.open(path) as img:
                    images.append(img.convert("RGB"))
            except (OSError, UnidentifiedImageError) as e:
                raise DatasetError(f"{self.source}: image {path} of row {row.get('id')} cannot be read ({e})") from None
        prompt, answer = chat_parts(row)
        meta = {k: row[k] for k in META_KEYS if k in row}
        return {"id": str(row.get("id", index)), "task": row.get("task", "full"), "images": images,
                "prompt": prompt, "answer": answer, "meta": meta, "image_paths": list(row["images"])}


class InstructionPairsDataModule(OcrDataModule):
    def __init__(self, pairs_dir: str, synth: dict | None = None, tasks: Sequence[str] | None = None,
                 batch_size: int = 2, eval_batch_size: int | None = None, num_workers: int = 0,
                 pin_memory: bool = False, bucket_by_length: bool = True, seed: int = 0,
                 small_images: str = "error"):
        super().__init__(batch_size, eval_batch_size, num_workers, pin_memory, bucket_by_length, seed)
        if small_images not in ("error", "upscale"):
            raise ConfigError(f"data.small_images={small_images!r}: expected 'error' or 'upscale'")
        # an image below the processor's min_pixels: an error (pages), or upscaled by the image
        # processor (element crops are often smaller than a page)
        self.small_images = small_images
        if not pairs_dir:
            raise ConfigError("data.pairs_dir is required: the folder with train.jsonl, val.jsonl, test.jsonl "
                              "(ocrlab-synth pairs --output)")
        self.pairs_dir = Path(pairs_dir)
        self.synth = dict(synth) if synth else None
        self.tasks = tuple(tasks) if tasks else None
        self.collator = None

    def attach_model(self, model) -> None:
        from ocrlab.families.paddleocr_vl.inputs import VLChatCollator

        collator = model.data_encoder()
        if not isinstance(collator, VLChatCollator):
            raise ConfigError(f"data {type(self).__name__} reads instruction pairs, but the model "
                              f"{type(model).__name__} is not a vision-language model (its data_encoder() gives "
                              f"{type(collator).__name__}, not a VLChatCollator)")
        self.collator = collator
        super().attach_model(model)

    # -- files ------------------------------------------------------------------------------
    def split_file(self, split: str) -> Path:
        return self.pairs_dir / f"{split}.jsonl"

    def has_split(self, split: str) -> bool:
        return self.synth is not None or self.split_file(split).is_file()

    def source_files(self, split: str) -> list[Path]:
        return [self.split_file(split)] if self.has_split(split) else []

    def training_texts(self) -> Iterator[str]:
        """The training pairs' prompts and answers (what the processor's BPE is learned from)."""
        return iter(PairTexts(self.split_file("train")))

    def missing_split_error(self, split: str) -> str:
        return (f"no {split} pairs: {self.split_file(split)} is missing. data.pairs_dir is read as instruction pairs "
                f"(train.jsonl, val.jsonl, test.jsonl of chat rows, as ocrlab-synth pairs writes them); "
                f"{describe_dir(self.pairs_dir)}")

    def prepare_splits(self, splits: Sequence[str]) -> None:
        from ocrlab.synth.pairs import MANIFEST_FILE

        if self.synth is None or (self.pairs_dir / MANIFEST_FILE).is_file():
            return
        if any(self.split_file(s).is_file() for s in ("train", "val", "test")):
            return  # pairs that were not generated here: never written over
        from ocrlab.synth.dataset import DATASET_FILE, read_dataset_info, write_dataset
        from ocrlab.synth.invoices import InvoiceGenerator
        from ocrlab.synth.pairs import make_pairs

        settings = {k: dict(v) if isinstance(v, dict) else v for k, v in self.synth.items()}
        dataset_dir = Path(settings.get("dataset_dir") or self.pairs_dir.parent / f"{self.pairs_dir.name}_documents")
        invoices = dict(settings.get("invoices") or {})
        num_samples, workers = invoices.pop("num_samples", 200), invoices.pop("workers", 1)
        info = read_dataset_info(dataset_dir) if (dataset_dir / DATASET_FILE).is_file() else {}
        if not info.get("complete"):
            write_dataset(InvoiceGenerator(**invoices), dataset_dir, num_samples, workers=workers)
        make_pairs(dataset_dir, self.pairs_dir, **dict(settings.get("pairs") or {}))

    # -- datasets and batches ---------------------------------------------------------------
    def build_dataset(self, split: str) -> PairsDataset:
        from ocrlab.synth.pairs import read_pairs

        path = self.split_file(split)
        if not path.is_file():
            where = "is a file" if self.pairs_dir.is_file() else ("has no such file" if self.pairs_dir.is_dir()
                                                                  else "does not exist")
            raise DatasetError(f"{path}: the {split} pairs are missing (data.pairs_dir {self.pairs_dir} {where}; "
                               "expected train.jsonl, val.jsonl, test.jsonl written by ocrlab-synth pairs)")
        rows = read_pairs(path)
        if self.tasks is not None:
            rows = [r for r in rows if r.get("task", "full") in self.tasks]
        if not rows:
            raise DatasetError(f"{path}: no pairs{f' of the tasks {list(self.tasks)}' if self.tasks else ''}")
        if self.small_images == "error":
            self._check_image_sizes(path, rows)
        log.info("%s: %d pairs of %d documents from %s", split, len(rows), len({r.get("id") for r in rows}), path)
        return PairsDataset(rows, path)

    def _check_image_sizes(self, path: Path, rows: list[dict[str, Any]]) -> None:
        """Every image at least the image processor's ``min_pixels`` (read from the headers)."""
        from PIL import Image, UnidentifiedImageError

        from ocrlab.families.paddleocr_vl.processor import pixel_bounds

        low, _ = pixel_bounds(self.collator.processor.image_processor)
        small = []
        for number, row in enumerate(rows, start=1):
            for image in row["images"]:
                try:
                    with Image.open(image) as img:
                        w, h = img.size
                except (OSError, UnidentifiedImageError) as e:
                    raise DatasetError(f"{path}: image {image} of row {number} cannot be read ({e})") from None
                if w * h < low:
                    small.append(f"{image} ({w}x{h} = {w * h} px)")
        if small:
            raise DatasetError(f"{path}: {len(small)} image(s) smaller than the image processor's minimum of {low} "
                               f"pixels (model.processor.min_pixels): {'; '.join(small[:10])}. Lower min_pixels, "
                               "or set data.small_images=upscale to let the processor enlarge them")

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Training rows: the chat with ``labels`` on the answer tokens."""
        return dict(self.collator(items))

    def collate_eval(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """The training form (for the loss), the prompts alone left-padded for generation
        (``generate``), and the rows (ids, tasks, truths, metadata) to score answers against."""
        batch = self.collate(items)
        batch["generate"] = dict(self.collator([{**item, "answer": None} for item in items]))
        batch["rows"] = [{k: item[k] for k in ("id", "task", "answer", "meta", "image_paths")} for item in items]
        return batch

    def val_dataloader(self):
        return self.loader("val", shuffle=False, batch_size=self.eval_batch_size, collate=self.collate_eval)

    def test_dataloader(self):
        return self.loader("test", shuffle=False, batch_size=self.eval_batch_size, collate=self.collate_eval)
