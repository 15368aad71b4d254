"""What ocrlab writes into checkpoints and export dirs, and the one safe reader of torch files.

Kept apart from the model classes and the loader so that both can use it without importing each
other.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from ocrlab.errors import CheckpointError

# the key of ocrlab's metadata in a Lightning checkpoint dict
CHECKPOINT_KEY = "ocrlab"
# 1: CRNN-only checkpoints (charset beside the model config); 2: label space frozen into the config
CHECKPOINT_FORMAT = 2
EXPORT_META = "ocrlab_model.json"
EXPORT_WEIGHTS = "weights.pt"


def read_torch_file(path: Path, what: str, expected: str, mmap: bool = False) -> Any:
    """``torch.load(weights_only=True)`` on CPU; any failure is a CheckpointError naming ``path``
    (``what`` prefixes it, e.g. "checkpoint") and what was ``expected``."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # any unpickling failure means the same to the user
        name = f"{what} {path}" if what else str(path)
        raise CheckpointError(f"{name} cannot be read as {expected}: {type(e).__name__}: {e}") from e


@functools.cache
def moved_targets() -> tuple[tuple[str, str], ...]:
    """``(old dotted path, today's)`` pairs, longest first, from every family folder's
    ``moved_modules.json``: where the modules and classes named in checkpoints of earlier
    releases (``_target_``) are now. Read as data: the loader imports no family to find them."""
    families = Path(__file__).resolve().parent / "families"
    pairs: dict[str, str] = {}
    for path in sorted(families.glob("*/moved_modules.json")):
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(f"{path} cannot be read as JSON: {e}") from e
        pairs.update({old: new for old, new in table.items() if not old.startswith("_")})
    return tuple(sorted(pairs.items(), key=lambda kv: -len(kv[0])))


def retarget(obj: Any, moved: tuple[tuple[str, str], ...] | None = None) -> Any:
    """A copy of ``obj`` (a checkpoint's metadata, a model config) with every ``_target_`` that
    names a moved module or class (:func:`moved_targets`) rewritten to today's path."""
    moved = moved_targets() if moved is None else moved
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if key == "_target_" and isinstance(value, str):
                old = next((o for o, _ in moved if value == o or value.startswith(o + ".")), None)
                if old is not None:
                    value = dict(moved)[old] + value[len(old):]
            out[key] = retarget(value, moved)
        return out
    if isinstance(obj, list):
        return [retarget(v, moved) for v in obj]
    return obj
