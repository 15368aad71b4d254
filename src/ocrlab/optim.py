"""Learning-rate schedules built from config (a ``_partial_`` factory called by the module)."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


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
    return LambdaLR(optimizer, WarmupCosineFactor(total_steps, warmup_steps, min_lr_ratio))
