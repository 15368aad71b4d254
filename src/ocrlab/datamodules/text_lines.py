"""DataModule for text-line recognition (CRNN now; TrOCR reuses it)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, partial
from pathlib import Path

import torch

from ocrlab.datamodules.augment import AugmentConfig, LineAugmenter
from ocrlab.datamodules.base import OcrDataModule
from ocrlab.datamodules.labels import (
    MIN_CORRECTION_SAMPLES,
    LineRecord,
    read_correction_samples,
    read_image_annotation_dir,
    read_label_file,
)
from ocrlab.datamodules.line_images import LineEncoding, LineImageSpec
from ocrlab.datamodules.lines import LineDataset, collate_lines, probe_image
from ocrlab.errors import ConfigError, DatasetError
from ocrlab.text.charset import Charset

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class TextLineDataModule(OcrDataModule):
    """PaddleOCR label files, image/annotation folders (and optional correction samples) -> padded
    line batches.

    ``data_dir`` is where relative label-file and folder paths are looked up; image paths inside a
    label file are relative to ``image_root`` if set, else to the label file's own directory. A
    split's ``<split>_dirs`` are folders of ``images/<stem>.png`` + ``annotations/<stem>.txt``
    (:func:`read_image_annotation_dir`), read after its label files. The
    charset and the input spec (image height, width bounds, channels) come from the model
    (:meth:`attach_model`), so data and weights always agree.

    ``synth`` asks for synthetic data: a Thai-line dataset is generated into ``data_dir`` on
    first use (``ocrlab.synth.thai_lines.ensure_thai_lines`` arguments), once, on local rank 0.
    Without it nothing is ever generated, and a ``data_dir`` that does not exist is an error.

    ``augment`` (``data.augment``: null/false off, true or a mapping of
    :class:`~ocrlab.datamodules.augment.AugmentConfig` settings) augments the training split's
    images, per (seed, epoch, item); validation and test images never are.
    """

    collate = staticmethod(collate_lines)

    def __init__(
        self,
        data_dir: str | None = None,
        train_files: Sequence[str] | None = (),
        val_files: Sequence[str] | None = (),
        test_files: Sequence[str] | None = (),
        train_dirs: Sequence[str] | None = (),
        val_dirs: Sequence[str] | None = (),
        test_dirs: Sequence[str] | None = (),
        image_root: str | None = None,
        correction_samples_dir: str | None = None,
        correction_val_ratio: float = 0.2,
        min_correction_samples: int = MIN_CORRECTION_SAMPLES,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        bucket_by_length: bool = True,
        on_unknown_char: str = "error",
        verify_images: str = "header",
        seed: int = 0,
        synth: dict | None = None,
        augment: Mapping | bool | None = None,
    ):
        super().__init__(batch_size, eval_batch_size, num_workers, pin_memory, bucket_by_length, seed)
        if on_unknown_char not in ("error", "skip"):
            raise ConfigError(f"data.on_unknown_char must be 'error' or 'skip', got {on_unknown_char!r}")
        if verify_images not in ("header", "full"):
            raise ConfigError(f"data.verify_images must be 'header' or 'full', got {verify_images!r}")
        if not 0.0 < correction_val_ratio < 1.0:
            raise ConfigError(f"data.correction_val_ratio must be in (0, 1), got {correction_val_ratio}")
        given = {"files": {"train": train_files, "val": val_files, "test": test_files},
                 "dirs": {"train": train_dirs, "val": val_dirs, "test": test_dirs}}
        for kind, what in (("files", "label files"), ("dirs", "folders")):
            for split, value in given[kind].items():
                if isinstance(value, str):
                    raise ConfigError(f"data.{split}_{kind} must be a list of {what}, got the string {value!r} "
                                      f"(write data.{split}_{kind}=[{value}])")
        self.data_dir = Path(data_dir) if data_dir else None
        self.files = {split: list(value or ()) for split, value in given["files"].items()}
        self.dirs = {split: list(value or ()) for split, value in given["dirs"].items()}
        self.image_root = Path(image_root) if image_root else None
        self.correction_samples_dir = Path(correction_samples_dir) if correction_samples_dir else None
        self.correction_val_ratio = correction_val_ratio
        self.min_correction_samples = min_correction_samples
        self.on_unknown_char = on_unknown_char
        self.verify_images = verify_images
        self.synth = dict(synth) if synth else None
        self.augment = AugmentConfig.from_setting(augment)
        self.charset: Charset | None = None
        self.spec: LineImageSpec | None = None

    def attach_model(self, model) -> None:
        encoding = model.data_encoder()
        if not isinstance(encoding, LineEncoding):
            raise ConfigError(f"data {type(self).__name__} reads text lines, but the model {type(model).__name__} "
                              f"is not a text-line recognizer (its data_encoder() gives {type(encoding).__name__}, "
                              "not a LineEncoding of charset and line input spec)")
        self.charset, self.spec = encoding.charset, encoding.spec
        super().attach_model(model)

    # -- files -----------------------------------------------------------------------------
    def label_paths(self, split: str) -> list[Path]:
        return self._paths(split, "files")

    def annotation_dirs(self, split: str) -> list[Path]:
        """``split``'s image/annotation folders (relative ones in ``data_dir``)."""
        return self._paths(split, "dirs")

    def _paths(self, split: str, kind: str) -> list[Path]:
        given = (self.files if kind == "files" else self.dirs)[split]
        paths = [Path(p) for p in given]
        if any(not p.is_absolute() for p in paths) and self.data_dir is None:
            raise ConfigError(f"data.{split}_{kind} has relative paths {given} but data.data_dir is not set")
        return [p if p.is_absolute() else self.data_dir / p for p in paths]

    def source_files(self, split: str) -> list[Path]:
        files = self.label_paths(split) + self.annotation_dirs(split)
        if self.correction_samples_dir is not None and split in ("train", "val"):
            files.append(self.correction_samples_dir)
        return files

    def has_split(self, split: str) -> bool:
        return (bool(self.files[split]) or bool(self.dirs[split])
                or (self.correction_samples_dir is not None and split in ("train", "val")))

    def training_texts(self) -> Iterator[str]:
        """The training split's labels (label files, image/annotation folders, then the training
        share of the correction samples): the vocabulary a charset is learned from."""
        if not self.has_split("train"):
            raise DatasetError(self.missing_split_error("train"))
        for path in self.label_paths("train"):
            for rec in read_label_file(path, self.image_root):
                yield rec.label
        for directory in self.annotation_dirs("train"):
            for rec in read_image_annotation_dir(directory):
                yield rec.label
        if self.correction_samples_dir is not None:
            for rec in self._correction_split["train"]:
                yield rec.label

    def missing_split_error(self, split: str) -> str:
        return (f"no {split} lines: give the {split} split's PaddleOCR label files (image_path<TAB>label lines), "
                f"e.g. data.{split}_files=[/data/rec/{split}.txt], or its folders of images/<stem>.png + "
                f"annotations/<stem>.txt, e.g. data.{split}_dirs=[/data/rec/{split}]")

    def prepare_splits(self, splits: Sequence[str]) -> None:
        """Generate the synthetic dataset if it is configured and a label file of ``splits``
        is missing. Without ``synth``, a missing data dir is an error naming it."""
        if self.synth is None:
            self._check_data_dir(splits)
            return
        if all(p.is_file() for s in splits for p in self.label_paths(s)):
            return
        from ocrlab.synth.thai_lines import ensure_thai_lines

        ensure_thai_lines(self.data_dir, **self.synth)

    def _check_data_dir(self, splits: Sequence[str]) -> None:
        relative = sorted({p for s in splits for p in (*self.files[s], *self.dirs[s]) if not Path(p).is_absolute()})
        if relative and self.data_dir is not None and not self.data_dir.is_dir():
            what = "is a file" if self.data_dir.exists() else "does not exist"
            raise DatasetError(f"data.data_dir {self.data_dir} {what} (expected the folder that holds the label "
                               f"files and folders {relative})")

    @cached_property
    def _correction_split(self) -> dict[str, list[LineRecord]]:
        """Read once, split once: train and val setup share it."""
        records = read_correction_samples(self.correction_samples_dir, self.min_correction_samples)
        perm = torch.randperm(len(records), generator=torch.Generator().manual_seed(self.seed)).tolist()
        n_val = max(1, round(len(records) * self.correction_val_ratio))
        return {"val": [records[i] for i in perm[:n_val]], "train": [records[i] for i in perm[n_val:]]}

    def records(self, split: str) -> list[LineRecord]:
        recs = [r for p in self.label_paths(split) for r in read_label_file(p, self.image_root)]
        recs += [r for d in self.annotation_dirs(split) for r in read_image_annotation_dir(d)]
        if self.correction_samples_dir is not None and split in ("train", "val"):
            recs += self._correction_split[split]
        return self._check_charset(recs, split)

    def _check_charset(self, records: list[LineRecord], split: str = "") -> list[LineRecord]:
        """Labels with characters outside the charset: an error, or skipped and counted (``skip``).
        A split that ``skip`` leaves empty is an error naming the option and what it removed."""
        from collections import Counter

        kept: list[LineRecord] = []
        chars: Counter[str] = Counter()  # unknown character -> lines it removed
        for rec in records:
            unknown = self.charset.unknown_chars(rec.label)
            if not unknown:
                kept.append(rec)
                continue
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in unknown)
            if self.on_unknown_char == "error":
                raise DatasetError(
                    f"{rec.source}: label {rec.label!r} has characters outside the charset {self.charset.name!r}: "
                    f"{shown} (set data.on_unknown_char=skip to skip such lines, or use a charset that has them)"
                )
            self.warn_sample("skipped_unknown_chars", "skipping %s: characters outside the charset: %s",
                             rec.source, shown)
            chars.update(unknown)
        removed = len(records) - len(kept)
        if removed:
            what = (f"{removed} for characters outside the charset {self.charset.name!r} (the most frequent: "
                    + ", ".join(f"{c!r} (U+{ord(c):04X}) in {n} lines" for c, n in chars.most_common(5))
                    + (f", and {len(chars) - 5} more characters" if len(chars) > 5 else "") + ")")
            if not kept:
                raise DatasetError(
                    f"no {split} lines left in {[str(p) for p in self.source_files(split)]}: data.on_unknown_char=skip "
                    f"removed all {len(records)} of them, by cause: {what}; use a charset that has these characters "
                    "(the model's charset) or fix the labels")
            log.warning("data.on_unknown_char=skip removed %d of %d %s lines, by cause: %s",
                        removed, len(records), split, what)
        return kept

    def build_dataset(self, split: str) -> LineDataset:
        if not self.has_split(split):
            raise ConfigError(f"no {split} data: set data.{split}_files (PaddleOCR label files) or data.{split}_dirs "
                              "(folders of images/ + annotations/)")
        if self.synth is None:
            self._check_data_dir([split])
        records = self.records(split)
        if not records:
            raise DatasetError(f"no {split} lines left in {[str(p) for p in self.source_files(split)]}")
        # every image is checked before training starts: a missing or unreadable file fails now,
        # with its name and label line (a truncated one at its first load, or now with "full")
        probe = partial(probe_image, full=self.verify_images == "full")
        with ThreadPoolExecutor(max_workers=4) as pool:
            sizes = list(pool.map(probe, records))
        widths = [self.spec.target_width(w, h) for w, h in sizes]
        log.info("%s: %d lines from %s", split, len(records), [str(p) for p in self.source_files(split)])
        # only the training split is augmented: validation and test score the images as they are
        augment = LineAugmenter(self.augment, self.seed) if split == "train" and self.augment is not None else None
        return LineDataset(records, self.charset, self.spec, widths, augment=augment)
