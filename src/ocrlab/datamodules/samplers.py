"""Batch samplers that are deterministic per (seed, epoch) and shard themselves across ranks.

Lightning calls ``set_epoch`` at each epoch's start (on ``loader.sampler`` and
``loader.batch_sampler.sampler``), so a run resumed from a checkpoint sees the same batches in
the same order as an uninterrupted one, on any number of processes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length (less padding), shuffled per epoch, split across ranks.

    ``lengths`` is the family's length key per sample (image width for lines, tokens for
    documents). Indices are shuffled, cut into pools of ``batch_size * pool_batches``, each pool
    sorted by length and cut into batches; batch order is shuffled again. ``bucket_by_length=False`` keeps
    the plain shuffled order. Every rank gets the same number of batches (the list is padded by
    repeating its start, as ``DistributedSampler`` does).

    ``epoch_keys`` yields ``(epoch, index)`` keys instead of indices, for a dataset whose items
    depend on the epoch (train-time augmentation): the epoch reaches the loader workers with
    each key, whatever epoch they were started in.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, bucket_by_length: bool = True,
                 drop_last: bool = False, seed: int = 0, num_replicas: int = 1, rank: int = 0, pool_batches: int = 50,
                 epoch_keys: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket_by_length = bucket_by_length
        self.drop_last = drop_last
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.pool_batches = pool_batches
        self.epoch_keys = epoch_keys
        self.epoch = 0
        self.skip = 0  # batches of this epoch the next iteration leaves out (trained before a resume)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def sampler(self) -> BucketBatchSampler:
        """Itself: Lightning sets the epoch of ``batch_sampler.sampler``, never of the batch sampler
        (without this every epoch had epoch 0's batches)."""
        return self

    def _all_batches(self) -> list[list[int]]:
        n = len(self.lengths)
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(n, generator=gen).tolist() if self.shuffle else list(range(n))
        if self.bucket_by_length:
            pool = self.batch_size * self.pool_batches
            pools = [order[i : i + pool] for i in range(0, n, pool)]
            order = [i for p in pools for i in sorted(p, key=lambda j: self.lengths[j])]
        batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle and self.bucket_by_length:
            perm = torch.randperm(len(batches), generator=gen).tolist()
            batches = [batches[i] for i in perm]
        if self.num_replicas > 1 and batches:
            short = (-len(batches)) % self.num_replicas
            batches += batches[:short] if short <= len(batches) else (batches * short)[:short]
        return batches

    def __iter__(self) -> Iterator[list[int]] | Iterator[list[tuple[int, int]]]:
        for batch in self._all_batches()[self.rank :: self.num_replicas][self.skip :]:
            yield [(self.epoch, i) for i in batch] if self.epoch_keys else batch

    def __len__(self) -> int:
        n = len(self.lengths)
        n_batches = n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        return math.ceil(n_batches / self.num_replicas)


class EpochDataLoader(DataLoader):
    """A ``DataLoader`` whose iterator asks the sampler for indices at the first batch, not when made.

    Lightning makes the train iterator while setting the run up (to count the batches), before
    a resumed run's epoch is restored, and sets the sampler's epoch afterwards; loader workers
    are sent indices as soon as their iterator exists, which would be the epoch the sampler had
    then (0). Started at the first ``next``, every epoch reads the batches of the epoch set.

    ``batches_done`` (the training loader's): how many batches of the current epoch the run has
    trained on when the iterator starts: 0, or, in a run resumed from a mid-epoch checkpoint
    (a preemption), the batches before it, which the sampler then leaves out: the resumed epoch
    goes on with the batch an uninterrupted run would train on next. The loader's state in
    checkpoints (Lightning's ``state_dict`` protocol) is its order's seed, checked on resume.
    """

    def __init__(self, *args: Any, batches_done: Callable[[], int] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.batches_done = batches_done

    def __iter__(self) -> Iterator[Any]:
        return _Deferred(self._start)

    def _start(self) -> Iterator[Any]:
        if self.batches_done is not None and isinstance(self.batch_sampler, BucketBatchSampler):
            self.batch_sampler.skip = self.batches_done()
        return super().__iter__()

    def state_dict(self) -> dict[str, Any]:
        sampler = self.batch_sampler
        return {"seed": sampler.seed, "num_replicas": sampler.num_replicas} if isinstance(sampler, BucketBatchSampler) \
            else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        sampler = self.batch_sampler
        if not isinstance(sampler, BucketBatchSampler) or not state:
            return
        if (state["seed"], state["num_replicas"]) != (sampler.seed, sampler.num_replicas):
            from ocrlab.errors import CheckpointError

            raise CheckpointError(
                f"the checkpoint's training batches were ordered with data seed {state['seed']} over "
                f"{state['num_replicas']} rank(s); this run has seed {sampler.seed} over {sampler.num_replicas}: a "
                "mid-epoch resume would train on other batches (resume with the same seed and devices, or from "
                "an end-of-epoch checkpoint)")


class _Deferred:
    def __init__(self, start: Callable[[], Iterator[Any]]):
        self._start = start
        self._iterator: Iterator[Any] | None = None

    def __iter__(self) -> _Deferred:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._start()
        return next(self._iterator)
