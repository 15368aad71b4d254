"""Lightning's W&B logger, minus the secrets W&B would copy from the command line.

W&B records ``sys.argv`` in each run's metadata (``wandb-metadata.json``), so a secret given
as an override (``+wandb_api_key=...``) would be stored with the run and uploaded. The command
line is scrubbed while the run is created, and restored at once (DDP re-launches from it).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from pytorch_lightning.loggers import WandbLogger as _WandbLogger

from ocrlab.utils.secrets import scrub, secret_values


@contextlib.contextmanager
def _argv_without_secrets() -> Iterator[None]:
    original = list(sys.argv)
    secrets = secret_values(overrides=original[1:])
    sys.argv[:] = [scrub(arg, secrets) for arg in original]
    try:
        yield
    finally:
        sys.argv[:] = original


class WandbLogger(_WandbLogger):
    """Offline (the default), W&B stages the tables it logs (with their images) as artifacts in
    ``$WANDB_DATA_DIR``, by default in the user's home: here in ``<save_dir>/wandb/data``, so the
    run dir holds everything ``wandb sync`` uploads later. A ``WANDB_DATA_DIR`` of the user's wins."""

    @property
    def experiment(self):
        if self._experiment is not None:
            return super().experiment
        if os.environ.get("WANDB_MODE") == "offline" and os.environ.get("WANDB_DATA_DIR") in (None, _data_dir["set"]):
            _data_dir["set"] = os.environ["WANDB_DATA_DIR"] = str(Path(self.save_dir or ".") / "wandb" / "data")
        with _argv_without_secrets():
            return super().experiment


    def after_save_checkpoint(self, checkpoint_callback) -> None:
        """Checkpoints are logged by :class:`ocrlab.callbacks.ModelArtifacts` (all of them, with the
        export), not here: Lightning's logging kept one checkpoint callback of several."""


_data_dir: dict[str, str | None] = {"set": None}  # the WANDB_DATA_DIR this module set (not the user's)


def table_image(logger, path: str | None):
    """A table cell for the image at ``path``: the image itself for W&B, else its path."""
    if path is None:
        return None
    if isinstance(logger, _WandbLogger):
        import wandb

        return wandb.Image(path)
    return str(path)


def confusion_plot(logger, confusion):
    """W&B's confusion-matrix plot of a :class:`~ocrlab.reports.ConfusionMatrix` (None for other
    loggers). W&B takes one (true, predicted) pair per sample: the counts are expanded."""
    if not isinstance(logger, _WandbLogger):
        return None
    import wandb

    names = list(confusion.class_names)
    y_true, preds = [], []
    for i, row in enumerate(confusion.matrix):
        for j, count in enumerate(row):
            y_true += [i] * int(count)
            preds += [j] * int(count)
    return wandb.plot.confusion_matrix(y_true=y_true, preds=preds, class_names=names) if y_true else None
