"""DataModule for text-line recognition (CRNN now; TrOCR reuses the data side later)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, partial
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from ocrlab.datamodules.labels import (
    MIN_CORRECTION_SAMPLES,
    LineRecord,
    check_charset,
    read_correction_samples,
    read_label_file,
)
from ocrlab.datamodules.lines import LineDataset, LineImageSpec, collate_lines, probe_image
from ocrlab.datamodules.samplers import BucketBatchSampler
from ocrlab.text.charset import Charset

log = logging.getLogger(__name__)

ALL_SPLITS = ["train", "val", "test"]
STAGE_SPLITS = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"], "predict": ["test"]}


class TextLineDataModule(pl.LightningDataModule):
    """PaddleOCR label files (and optional correction samples) -> padded line batches.

    ``data_dir`` is where relative label-file paths are looked up; image paths inside a label
    file are relative to ``image_root`` if set, else to the label file's own directory.
    With ``synth`` set, a synthetic Thai-line dataset is generated into ``data_dir`` on first use
    (``ocrlab.synth.thai_lines.ensure_thai_lines`` arguments), once, on local rank 0.
    """

    def __init__(
        self,
        charset: Charset,
        data_dir: str,
        train_files: Sequence[str] = (),
        val_files: Sequence[str] = (),
        test_files: Sequence[str] = (),
        image_root: str | None = None,
        correction_samples_dir: str | None = None,
        correction_val_ratio: float = 0.2,
        min_correction_samples: int = MIN_CORRECTION_SAMPLES,
        image_height: int = 32,
        max_width: int = 800,
        channels: int = 3,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        bucket_by_width: bool = True,
        on_unknown_char: str = "error",
        verify_images: str = "header",
        seed: int = 0,
        synth: dict | None = None,
    ):
        super().__init__()
        if on_unknown_char not in ("error", "skip"):
            raise ValueError(f"data.on_unknown_char must be 'error' or 'skip', got {on_unknown_char!r}")
        if not 0.0 < correction_val_ratio < 1.0:
            raise ValueError(f"data.correction_val_ratio must be in (0, 1), got {correction_val_ratio}")
        self.charset = charset
        self.data_dir = Path(data_dir)
        self.files = {"train": list(train_files), "val": list(val_files), "test": list(test_files)}
        self.image_root = Path(image_root) if image_root else None
        self.correction_samples_dir = Path(correction_samples_dir) if correction_samples_dir else None
        self.correction_val_ratio = correction_val_ratio
        self.min_correction_samples = min_correction_samples
        self.spec = LineImageSpec(height=image_height, max_width=max_width, channels=channels)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.bucket_by_width = bucket_by_width
        self.on_unknown_char = on_unknown_char
        if verify_images not in ("header", "full"):
            raise ValueError(f"data.verify_images must be 'header' or 'full', got {verify_images!r}")
        self.verify_images = verify_images
        self.seed = seed
        self.synth = dict(synth) if synth else None
        self.datasets: dict[str, LineDataset] = {}

    # -- files -----------------------------------------------------------------------------
    def label_paths(self, split: str) -> list[Path]:
        return [p if p.is_absolute() else self.data_dir / p for p in map(Path, self.files[split])]

    def prepare_splits(self, splits: Sequence[str]) -> None:
        """Generate the synthetic dataset if it is configured and a label file of ``splits``
        is missing (evaluating on your own label files never triggers generation)."""
        if self.synth is None or all(p.is_file() for s in splits for p in self.label_paths(s)):
            return
        from ocrlab.synth.thai_lines import ensure_thai_lines

        ensure_thai_lines(self.data_dir, **self.synth)

    def prepare_data(self) -> None:
        fn = getattr(getattr(self.trainer, "state", None), "fn", None)
        self.prepare_splits(STAGE_SPLITS.get(getattr(fn, "value", ""), ALL_SPLITS))

    @cached_property
    def _correction_split(self) -> dict[str, list[LineRecord]]:
        """Read once, split once: train and val setup share it."""
        records = read_correction_samples(self.correction_samples_dir, self.min_correction_samples)
        perm = torch.randperm(len(records), generator=torch.Generator().manual_seed(self.seed)).tolist()
        n_val = max(1, round(len(records) * self.correction_val_ratio))
        return {"val": [records[i] for i in perm[:n_val]], "train": [records[i] for i in perm[n_val:]]}

    def records(self, split: str) -> list[LineRecord]:
        recs = [r for p in self.label_paths(split) for r in read_label_file(p, self.image_root)]
        if self.correction_samples_dir is not None and split in ("train", "val"):
            recs += self._correction_split[split]
        return check_charset(recs, self.charset, self.on_unknown_char)

    def build_dataset(self, split: str) -> LineDataset:
        records = self.records(split)
        if not records:
            raise ValueError(f"no {split} data: set data.{split}_files (PaddleOCR label files)")
        # every image is checked before training starts: a missing or unreadable file fails now,
        # with its name and label line (a truncated one at its first load, or now with "full")
        probe = partial(probe_image, full=self.verify_images == "full")
        with ThreadPoolExecutor(max_workers=4) as pool:
            sizes = list(pool.map(probe, records))
        widths = [self.spec.target_width(w, h) for w, h in sizes]
        log.info("%s: %d lines from %s", split, len(records), [str(p) for p in self.label_paths(split)])
        return LineDataset(records, self.charset, self.spec, widths)

    def setup(self, stage: str | None = None) -> None:
        for split in STAGE_SPLITS.get(stage or "", ALL_SPLITS):
            if split not in self.datasets:
                self.datasets[split] = self.build_dataset(split)

    # -- loaders ---------------------------------------------------------------------------
    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        dataset = self.datasets[split]
        world, rank = self._world()
        sampler = BucketBatchSampler(dataset.widths, batch_size, shuffle=shuffle, bucket_by_width=self.bucket_by_width,
                                     seed=self.seed, num_replicas=world, rank=rank)
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=collate_lines,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            # a private generator: worker seeding must not draw from the global RNG, which the
            # model's dropout uses (resumed runs must match uninterrupted ones)
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True, batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False, batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False, batch_size=self.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
