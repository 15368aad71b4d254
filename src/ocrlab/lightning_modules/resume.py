"""What exact resume needs besides Lightning's own state: the global RNG states (kept per rank in
the checkpoint), the loop state of a checkpoint written at an epoch's end, and the differences
between a checkpoint's model config and this run's (to refuse or to explain a resume), and the
checks of a resumed module's label space and architecture."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from ocrlab.errors import CheckpointError

# keys of a model config that do not change the network (may differ when resuming)
TRAINING_ONLY_KEYS = ("optimizer", "scheduler")


def config_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``key: checkpoint X vs this run Y`` for the leaves that differ (training-only keys skipped)."""
    return [f"{key}: checkpoint {short_repr(a)} vs this run {short_repr(b)}" for key, a, b in config_changes(old, new, prefix)]


def config_changes(old: dict, new: dict, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted key, checkpoint value, this run's value)`` for the leaves that differ
    (training-only keys skipped)."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        if not prefix and key in TRAINING_ONLY_KEYS:
            continue
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_changes(a, b, f"{name}.")
        elif a != b:
            out.append((name, a, b))
    return out


def short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def finish_interrupted_epoch(checkpoint: dict) -> bool:
    """Make a checkpoint written at an epoch's end (``on_train_epoch_end``: ``last.ckpt``, the
    periodic ones) resume where an uninterrupted run goes on: the next epoch's first batch.
    Returns whether the checkpoint was one (its loop state is then changed in place).

    Lightning (2.6) resumes such a checkpoint inside the finished epoch: with a step budget
    (``max_steps``) and no validation due at that epoch's last batch, it trains one batch more
    in that epoch from a fresh data iterator, and every later epoch boundary, sampler epoch and
    batch falls one step off the uninterrupted run's. Here the epoch is counted as completed and
    the per-epoch counters are reset, as the loops do between two epochs.
    """
    loops = checkpoint.get("loops") or {}
    fit = loops.get("fit_loop")
    if not isinstance(fit, dict) or not isinstance(fit.get("epoch_progress"), dict):
        return False
    epochs = fit["epoch_progress"]
    batches = fit.get("epoch_loop.batch_progress") or {}
    try:
        ends = [(p["ready"], p["started"], p["processed"], p["completed"]) for p in (epochs["total"], epochs["current"])]
    except (KeyError, TypeError):
        return False
    # on_train_epoch_end: the epoch processed, not yet counted as completed; all its batches done
    at_epoch_end = all(r == s == p == c + 1 for r, s, p, c in ends)
    if not at_epoch_end or not batches.get("is_last_batch"):
        return False
    for progress in (epochs["total"], epochs["current"]):
        progress["completed"] += 1
    _zero(batches.get("current"))
    batches["is_last_batch"] = False
    _zero((fit.get("epoch_loop.scheduler_progress") or {}).get("current"))
    optimizer = ((fit.get("epoch_loop.automatic_optimization.optim_progress") or {}).get("optimizer") or {})
    for part in optimizer.values():
        _zero(part.get("current") if isinstance(part, dict) else None)
    val = fit.get("epoch_loop.val_loop.batch_progress") or {}
    _zero(val.get("total"))  # validations run in the epoch (val_check_interval < 1.0)
    return True


def _zero(counters: dict | None) -> None:
    for key in counters or {}:
        counters[key] = 0


def rng_states() -> dict:
    """Global RNG states as tensors and plain lists (``weights_only``-loadable)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # dropout on a GPU draws from its own generator
        states["cuda"] = torch.cuda.get_rng_state()  # this rank's device
    return states


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])


# -- what a resume checks (the entry point before any work, and on_load_checkpoint) ---------------
def check_label_space(module, meta: dict, context: str) -> None:
    """The checkpoint's label space must be ``module``'s: a clear error otherwise."""
    from hydra.utils import instantiate

    stored = meta.get("label_space") or {}
    for key, current in module.label_space().items():
        if key not in stored:
            raise CheckpointError(f"{context}: the checkpoint has no label space {key!r}")
        if callable(getattr(current, "check_same", None)):  # raises with the family's own explanation
            current.check_same(instantiate(stored[key]), context)
        elif stored[key] != current.to_config():
            raise CheckpointError(f"{context}: the checkpoint's {key} differs from this run's")


def resume_changes(module, meta: dict) -> list[str]:
    """The model config values of this run that differ from the checkpoint's although the
    weights fit (:func:`check_architecture` passed; training-only keys aside), each with what
    resuming across it does (the module's ``resume_notes``)."""
    out = []
    for key, old, new in config_changes(meta.get("model_config") or {}, module.frozen_config()):
        note = module.resume_notes.get(key, "the weights do not depend on it: they load unchanged and this run "
                                            "uses its own value")
        out.append(f"{key}: checkpoint {short_repr(old)} vs this run {short_repr(new)}: {note}")
    return out


def check_architecture(module, meta: dict, state_dict: dict) -> None:
    """Same parameter names and shapes as the checkpoint, or an error saying which model config
    keys differ (instead of a list of state-dict keys)."""
    keys = module.checkpoint_state_keys()
    mine = {k: tuple(v.shape) for k, v in module.state_dict().items() if k in keys}
    theirs = {k: tuple(v.shape) for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    if mine == theirs:
        return
    diff = config_diff(meta.get("model_config") or {}, module.frozen_config())
    shown = "; ".join(diff[:10]) or "no config key differs (the code of the model changed?)"
    missing = sorted(set(mine) - set(theirs))[:3]
    unexpected = sorted(set(theirs) - set(mine))[:3]
    raise CheckpointError(
        f"the checkpoint's model config differs from this run's: {shown} "
        f"(weights missing from the checkpoint: {missing}; not in this model: {unexpected}). "
        "Resume with the checkpoint's model config, or start a new run."
    )
