"""The DataModule every family builds on.

Contract (what the trainer, the entry points and the training report rely on):

* :meth:`attach_model` takes what the data needs from the model (its label space, input spec,
  tokenizer). Called by :meth:`setup` with the trainer's module, or by hand before it.
* :meth:`build_dataset` returns a split's dataset; each dataset has ``lengths`` (one int per
  sample, the key batches are grouped by: image width for lines, tokens for documents). A dataset
  whose items depend on the epoch (train-time augmentation) says so with a true
  ``per_epoch_items``: its loader then asks it for ``dataset[(epoch, index)]``.
* :meth:`collate` turns a list of samples into a batch.
* :meth:`has_split` says whether a split has data configured (the test phase is skipped, with
  a warning, when ``test`` has none).
* :meth:`source_files` names the files a split was read from.
* :meth:`training_texts` reads the training split's texts (a label space learned from data).
* ``datasets`` (split -> dataset, after setup) and ``sample_warnings`` (kind -> count of samples
  kept or skipped with a warning) feed :meth:`summary`, which the training report writes.

Batches are sharded per rank here (the trainer runs with ``use_distributed_sampler: false``):
deterministic per (seed, epoch), so a resumed run sees the batches an uninterrupted one would.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ocrlab.datamodules.samplers import BucketBatchSampler, EpochDataLoader
from ocrlab.errors import ConfigError

log = logging.getLogger(__name__)

ALL_SPLITS = ("train", "val", "test")
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}


class OcrDataModule(pl.LightningDataModule):
    def __init__(self, batch_size: int = 32, eval_batch_size: int | None = None, num_workers: int = 0,
                 pin_memory: bool = False, bucket_by_length: bool = True, seed: int = 0):
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.bucket_by_length = bucket_by_length
        self.seed = seed
        self.datasets: dict[str, Dataset] = {}
        self.sample_warnings: Counter[str] = Counter()
        self._attached = False

    # -- to implement ----------------------------------------------------------------------
    def attach_model(self, model: pl.LightningModule) -> None:
        """Take what the data needs from the model (label space, input spec)."""
        self._attached = True

    def build_dataset(self, split: str) -> Dataset:
        raise NotImplementedError

    def collate(self, items: list[Any]) -> Any:
        raise NotImplementedError

    def has_split(self, split: str) -> bool:
        raise NotImplementedError

    def source_files(self, split: str) -> list[Path]:
        return []

    def prepare_splits(self, splits: Sequence[str]) -> None:
        """Make the data of ``splits`` exist (generate synthetic data, if configured)."""

    def training_texts(self) -> Iterator[str]:
        """The texts of the prepared training split that a label space is learned from (a
        line's label, a document's words, a pair's prompt and answer), read when iterated: what
        :mod:`ocrlab.label_spaces` fits a charset or a tokenizer on."""
        raise ConfigError(f"data {type(self).__name__} has no training texts to learn a label space from: give the "
                          "model a fitted one (a built-in charset, a dictionary file, a checkpoint's)")

    def missing_split_error(self, split: str) -> str:
        """Why ``split`` has no data and what this module reads (the error of an entry point that
        needs the split, e.g. ``evaluate.py`` and the test split)."""
        return f"no {split} data configured for {type(self).__name__}"

    # -- generation ------------------------------------------------------------------------
    #: the generator's settings (the data config's ``synth``) when missing data is generated on
    #: first use; None: nothing is ever generated, and missing data is an error naming its path
    synth: dict | None = None

    def disable_generation(self) -> None:
        """Read only data that exists. ``evaluate.py`` scores the data a user names: a misspelt
        path is an error naming it, never a test set generated into it."""
        self.synth = None

    # -- lifecycle -------------------------------------------------------------------------
    def prepare_data(self) -> None:
        fn = getattr(getattr(self.trainer, "state", None), "fn", None)
        self.prepare_splits(STAGE_SPLITS.get(getattr(fn, "value", ""), ALL_SPLITS))

    def setup(self, stage: str | None = None) -> None:
        if not self._attached:
            if self.trainer is None or self.trainer.lightning_module is None:
                raise RuntimeError(f"{type(self).__name__}.setup before attach_model: no model to take "
                                   "the label space from")
            self.attach_model(self.trainer.lightning_module)
        for split in STAGE_SPLITS.get(stage or "", ALL_SPLITS):
            if split not in self.datasets and (split != "test" or self.has_split(split)):
                self.datasets[split] = self.build_dataset(split)

    def warn_sample(self, kind: str, message: str, *args: Any) -> None:
        """Log a warning about one sample and count it for the training report."""
        self.sample_warnings[kind] += 1
        log.warning(message, *args)

    def summary(self) -> dict:
        return {
            "samples": {split: len(d) for split, d in self.datasets.items()},
            "splits": {split: [str(f) for f in self.source_files(split)] for split in ALL_SPLITS
                       if self.source_files(split)},
            "sample_warnings": dict(self.sample_warnings),
        }

    # -- loaders ---------------------------------------------------------------------------
    def _world(self) -> tuple[int, int]:
        """(replicas, this replica) of the data: the data-parallel ranks (with tensor
        parallelism, a tensor-parallel group reads the same batches)."""
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        kwargs = trainer.distributed_sampler_kwargs
        if kwargs:
            return int(kwargs["num_replicas"]), int(kwargs["rank"])
        return trainer.world_size, trainer.global_rank

    def _batches_done(self) -> int:
        """Batches of the current training epoch already trained on (a mid-epoch resume), from
        Lightning's restored loop progress; 0 at an epoch's start."""
        trainer = self.trainer
        if trainer is None:
            return 0
        return trainer.fit_loop.epoch_loop.batch_progress.current.ready

    def loader(self, split: str, shuffle: bool, batch_size: int, collate=None) -> DataLoader:
        """``split``'s batches (``collate``: the batch builder, default :meth:`collate`)."""
        if split not in self.datasets:
            raise RuntimeError(f"no {split} dataset: call setup() first")
        dataset = self.datasets[split]
        world, rank = self._world()
        sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, bucket_by_length=self.bucket_by_length,
                                     seed=self.seed, num_replicas=world, rank=rank,
                                     # the epoch travels with each key: a worker's copy of the
                                     # dataset never learns it otherwise (persistent workers)
                                     epoch_keys=getattr(dataset, "per_epoch_items", False))
        return EpochDataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=collate or self.collate,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            # a private generator: worker seeding must not draw from the global RNG, which the
            # model's dropout uses (resumed runs must match uninterrupted ones)
            generator=torch.Generator().manual_seed(self.seed),
            batches_done=self._batches_done if split == "train" else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True, batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val", shuffle=False, batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.loader("test", shuffle=False, batch_size=self.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
