"""Lightning's W&B logger, minus the secrets W&B would copy from the command line.

W&B records ``sys.argv`` in each run's metadata (``wandb-metadata.json``), so a secret given
as an override (``+wandb_api_key=...``) would be stored with the run and uploaded. The command
line is scrubbed while the run is created, and restored at once (DDP re-launches from it).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

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
    @property
    def experiment(self):
        if self._experiment is not None:
            return super().experiment
        with _argv_without_secrets():
            return super().experiment


def table_image(logger, path: str | None):
    """A table cell for the image at ``path``: the image itself for W&B, else its path."""
    if path is None:
        return None
    if isinstance(logger, _WandbLogger):
        import wandb

        return wandb.Image(path)
    return str(path)
