"""What ocrlab's cluster launchers (``conf/hydra/launcher/slurm.yaml``, ``slurm_local.yaml``) add to
hydra-submitit-launcher's. (Hydra takes launcher classes from the ``hydra_plugins`` package only:
``hydra_plugins.ocrlab_cluster`` mixes :class:`Requeueing` into submitit's two.)

What they add to hydra-submitit-launcher's:

* **resources checked before submission**: each node runs one task per device
  (``trainer.devices``), and a task needs its GPU (:func:`check_resources`);
* **requeue that resumes**: the signal SLURM sends before a preemption or the time limit is
  deferred to the end of the current step, where a checkpoint is saved
  (:class:`~ocrlab.callbacks.PreemptionCheckpoint`); submitit then requeues the job, and the
  requeued job, started in the same run dir, resumes from the newest of that checkpoint and
  ``last.ckpt`` (an override ``ckpt_path=...``, visible in the job's ``.hydra/overrides.yaml``).
  The config's ``max_num_timeout`` bounds requeues after time limits (preemptions requeue freely).

Every task of a multi-node job computes the same run dir: the sweep dir's run id is resolved once
in the submitting process and travels with the pickled config.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from ocrlab.errors import ConfigError
from ocrlab.utils import preemption

log = logging.getLogger(__name__)

RESUME_FILES = ("preempted.ckpt", "last.ckpt")


def check_resources(params: dict[str, Any], trainer: DictConfig) -> None:
    """A clear error before submission when the job asked for cannot run ``trainer``."""
    devices, nodes = trainer.get("devices"), trainer.get("num_nodes", 1)
    if not isinstance(devices, int) or devices < 1:
        raise ConfigError(f"trainer.devices={devices!r}: a cluster job needs a number of devices per node "
                          "(one task each), e.g. trainer.devices=8")
    gpus = params.get("gpus_per_node")
    if gpus is not None and 0 < gpus < devices:
        raise ConfigError(f"trainer.devices={devices} but hydra.launcher.gpus_per_node={gpus}: each node runs "
                          f"one task per device, each on its own GPU; ask for {devices} GPUs per node or lower "
                          "trainer.devices")
    if params.get("tasks_per_node") != devices:
        raise ConfigError(f"hydra.launcher.tasks_per_node={params.get('tasks_per_node')} but trainer.devices="
                          f"{devices}: Lightning takes one task per device on each node")
    if params.get("nodes") != nodes:
        raise ConfigError(f"hydra.launcher.nodes={params.get('nodes')} but trainer.num_nodes={nodes}")


def resume_checkpoint(job_dir: Path) -> Path | None:
    """The newest of the job's preemption checkpoint and ``last.ckpt`` (files or sharded dirs)."""
    found = [job_dir / "checkpoints" / name for name in RESUME_FILES if (job_dir / "checkpoints" / name).exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


class Requeueing:
    """Mixed into submitit's launchers: checks before submission, resume and deferred signals in the job."""

    params: dict[str, Any]
    config: DictConfig
    hydra_context: Any

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int):
        check_resources(self.params, self.config.trainer)
        return super().launch(job_overrides, initial_job_idx)

    def __call__(self, sweep_overrides: list[str], job_dir_key: str, job_num: int, job_id: str,
                 singleton_state: dict) -> Any:
        import submitit

        overrides = list(sweep_overrides)
        resume = resume_checkpoint(self._job_dir(overrides, job_num))
        if resume is not None and not any(o.split("=", 1)[0].lstrip("+") == "ckpt_path" for o in overrides):
            log.warning("job %d was requeued: resuming from %s", job_num, resume)
            overrides.append(f"ckpt_path={resume}")
        preemption.defer(submitit.JobEnvironment._usr_sig())
        return super().__call__(overrides, job_dir_key, job_num, job_id, singleton_state)

    def _job_dir(self, overrides: list[str], job_num: int) -> Path:
        # the run dir Hydra will give this job (the same call the parent makes, cache copied)
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = job_num
        return Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)

