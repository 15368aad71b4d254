"""Random draws shared by the document generators (one definition each)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def choice(rng: np.random.Generator, seq: Sequence[Any]) -> Any:
    """One element of ``seq``, uniformly."""
    return seq[int(rng.integers(len(seq)))]


def weighted_choice(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    """A key of ``weights`` with probability proportional to its (non-negative) weight."""
    names = [n for n, w in weights.items() if w > 0]
    if not names:
        raise ValueError(f"every weight is 0: {dict(weights)}")
    p = np.array([weights[n] for n in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


@functools.cache
def faker_for(locale: str):
    """One Faker per locale and process (building one costs ~20 ms); callers reseed it per
    sample with ``seed_instance`` so samples stay independent of the order they are made in."""
    from faker import Faker

    return Faker(locale)
