"""Learning-rate schedules built from config (a ``_partial_`` factory called by the module)."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

log = logging.getLogger(__name__)


class WarmupCosineFactor:
    """LR multiplier: linear warmup from ~0 to 1, then cosine decay to ``min_lr_ratio``.

    A class rather than a closure so that the scheduler state saved in checkpoints holds only
    numbers (loadable with ``torch.load(weights_only=True)``).
    """

    def __init__(self, total_steps: int, warmup_steps: int, min_lr_ratio: float = 0.0):
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = max(0, min(int(warmup_steps), self.total_steps - 1))
        self.min_lr_ratio = float(min_lr_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class RunLengthLR(LambdaLR):
    """``LambdaLR`` whose shape stays this run's when resumed from a checkpoint.

    ``LambdaLR.load_state_dict`` also loads the multiplier's attributes (here the total and
    warmup steps, which the factory computed from the saving run's budget): a run resumed with
    another budget (a first leg with ``trainer.max_epochs=1``, or a run extended with a larger
    ``max_steps``) would follow the first leg's schedule, e.g. decay to zero at its end and
    train on at lr 0. Here the checkpoint gives the position (steps taken) and this run's
    budget the shape; the optimizer's learning rates (restored with its state) are set to the
    schedule's value at that position, and a change of shape is logged.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = list(state_dict.get("lr_lambdas") or [])
        mine = [dict(fn.__dict__) for fn in self.lr_lambdas]
        super().load_state_dict({**state_dict, "lr_lambdas": [None] * len(self.lr_lambdas)})
        values = [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs, strict=True)]
        for group, value in zip(self.optimizer.param_groups, values, strict=True):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(value)
            else:
                group["lr"] = value
        self._last_lr = values
        changed = [(old, new) for old, new in zip(saved, mine, strict=False) if old is not None and old != new]
        if changed:
            from pytorch_lightning.utilities import rank_zero_only

            if rank_zero_only.rank == 0:
                old, new = changed[0]
                log.warning("resuming at step %d: the learning-rate schedule follows this run's budget %s, not the "
                            "checkpoint's %s (the lr is now %.4g)", self.last_epoch, _shape(new), _shape(old),
                            values[0])


def _shape(attributes: dict) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in sorted(attributes.items())) + ")"


def warmup_cosine(optimizer: Optimizer, total_steps: int, steps_per_epoch: int, warmup_epochs: float = 0.0,
                  warmup_steps: int | None = None, min_lr_ratio: float = 0.0,
                  warmup_ratio: float | None = None) -> LambdaLR:
    """Cosine schedule stepped every optimizer step; warmup in steps, or as a share of all steps
    (``warmup_ratio``, e.g. 0.1), or else in epochs (either of the first two wins over epochs)."""
    if warmup_steps is not None and warmup_ratio is not None:
        raise ValueError(f"scheduler: warmup_steps={warmup_steps} and warmup_ratio={warmup_ratio}: give one")
    if warmup_ratio is not None:
        if not 0 <= warmup_ratio < 1:
            raise ValueError(f"scheduler.warmup_ratio={warmup_ratio}: expected 0 <= ratio < 1")
        warmup_steps = round(warmup_ratio * total_steps)
    elif warmup_steps is None:
        warmup_steps = round(warmup_epochs * steps_per_epoch)
    return RunLengthLR(optimizer, WarmupCosineFactor(total_steps, warmup_steps, min_lr_ratio))
