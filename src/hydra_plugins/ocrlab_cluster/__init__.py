"""ocrlab's cluster launchers, here because Hydra loads launchers from ``hydra_plugins`` only; what
they do is in :mod:`ocrlab.cluster`."""

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher as _LocalLauncher
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _SlurmLauncher

from ocrlab.cluster import Requeueing


class SlurmLauncher(Requeueing, _SlurmLauncher):
    """submitit's SLURM launcher: resources checked before submission, requeued jobs resume."""


class LocalLauncher(Requeueing, _LocalLauncher):
    """submitit's local executor with the same requeue and resume (for trying the SLURM path here)."""
