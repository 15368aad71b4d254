"""A preemption or time-limit signal, deferred to the next step boundary.

SLURM (through submitit) signals a job shortly before it kills it; submitit's handler would
requeue and exit at once, in the middle of a step. :func:`defer` wraps that handler: the signal
only marks the stop as pending while training runs; the :class:`~ocrlab.callbacks.PreemptionCheckpoint`
callback saves a checkpoint at the end of the current step (every rank at the same step), then
:func:`proceed` hands over to the wrapped handler (requeue, exit). Outside training the wrapped
handler runs at once. Process-local state: no torch import.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

log = logging.getLogger(__name__)

_state: dict[str, Any] = {"installed": False, "training": False, "pending": None, "stopped": False}


def defer(signum: int) -> None:
    """Route ``signum`` through the step boundary; its current handler runs after the save."""
    original = signal.getsignal(signum)

    def deferred(received: int, frame: Any) -> None:
        if _state["training"]:
            log.warning("signal %s: stopping at the end of this step to save a checkpoint and requeue",
                        signal.Signals(received).name)
            _state["pending"] = (original, received, frame)
        elif callable(original):
            original(received, frame)

    signal.signal(signum, deferred)
    _state["installed"] = True


def installed() -> bool:
    """A deferred handler is in place (the job runs under a requeueing launcher)."""
    return bool(_state["installed"])


def set_training(running: bool) -> None:
    _state["training"] = running


def pending() -> bool:
    return _state["pending"] is not None


def proceed() -> None:
    """Run the deferred handler (requeue and exit under submitit), then exit if it returned."""
    handler, signum, frame = _state["pending"] or (None, None, None)
    _state.update(pending=None, stopped=True)
    if callable(handler):
        handler(signum, frame)
    raise SystemExit(0)  # a non-zero rank (submitit requeues from rank 0) or no handler: stop here


def stopped() -> bool:
    """Training was stopped for a requeue (the exit that follows is not a failure)."""
    return bool(_state["stopped"])


def reset() -> None:
    _state.update(installed=False, training=False, pending=None, stopped=False)
