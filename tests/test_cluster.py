"""The cluster launchers: the SLURM config follows the trainer, bad resources are refused before
submission, and a job signalled before its end is checkpointed, requeued and resumes exactly."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from conftest import ROOT, run_cli, tiny_overrides
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ocrlab.cluster import resume_checkpoint
from ocrlab.config import config_dir


def _launcher(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("train", [*overrides], return_hydra_config=True)
    return OmegaConf.to_container(cfg.hydra.launcher, resolve=True)


@pytest.mark.parametrize(("trainer", "gpus"), [("ddp", 4), ("default", None)])
def test_slurm_config_follows_the_trainer(trainer, gpus):
    launcher = _launcher(["hydra/launcher=slurm", f"trainer={trainer}", "trainer.devices=4", "trainer.num_nodes=2",
                          "hydra.launcher.partition=gpu"])
    assert launcher["_target_"] == "hydra_plugins.ocrlab_cluster.SlurmLauncher"
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (2, 4, gpus)
    assert launcher["partition"] == "gpu" and launcher["max_num_timeout"] > 0 and launcher["signal_delay_s"] > 0


def test_more_devices_than_gpus_is_refused_before_submission(tmp_path):
    out = run_cli(["train.py", "-m", "hydra/launcher=slurm", "trainer=ddp", "trainer.devices=8",
                   "hydra.launcher.gpus_per_node=4", f"paths.log_dir={tmp_path}"], timeout=120)
    assert out.returncode != 0
    assert "trainer.devices=8 but hydra.launcher.gpus_per_node=4" in out.stderr + out.stdout
    assert not list(tmp_path.rglob(".submitit"))  # nothing submitted


def test_resume_checkpoint_takes_the_newest(tmp_path):
    ckpts = tmp_path / "checkpoints"
    assert resume_checkpoint(tmp_path) is None
    ckpts.mkdir()
    (ckpts / "last.ckpt").write_bytes(b"a")
    (ckpts / "preempted.ckpt").write_bytes(b"b")
    os.utime(ckpts / "last.ckpt", (1, 1))
    assert resume_checkpoint(tmp_path) == ckpts / "preempted.ckpt"


@pytest.mark.slow
def test_signalled_job_is_requeued_and_resumes_exactly(tiny_lines, tmp_path):
    """Through submitit's local executor: the job gets the preemption signal at step 4 (mid-epoch),
    saves at that step's end, exits to be requeued; the requeued job resumes in the same run dir
    and ends with the weights of a run that was never interrupted."""
    import submitit

    common = [*tiny_overrides(tiny_lines, tmp_path / "logs"), "experiment=crnn_thai_cpu", "trainer.max_epochs=-1",
              "trainer.max_steps=12", "trainer.val_check_interval=6", "trainer.check_val_every_n_epoch=null",
              "trainer.deterministic=true", "test=false"]
    signum = int(submitit.JobEnvironment._usr_sig())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    out = run_cli(["train.py", "-m", "hydra/launcher=slurm_local", *common,
                   "+callbacks.preempt._target_=preempt_once.SignalAtStep", "+callbacks.preempt.step=4",
                   f"+callbacks.preempt.signum={signum}"], timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    (job,) = [p for p in (tmp_path / "logs" / "train" / "multiruns").glob("*/0")]
    logs = "".join(p.read_text() for p in [*job.parent.rglob(".submitit/*/*.err"), job / "train.log"])
    assert "requeued: resuming from" in logs and "preempted at step 5" in logs, logs[-3000:]
    assert (job / "checkpoints" / "preempted.ckpt").exists()
    assert "ckpt_path=" in (job / ".hydra" / "overrides.yaml").read_text()

    straight = run_cli(["train.py", *common, f"hydra.run.dir={tmp_path / 'straight'}"], timeout=600)
    assert straight.returncode == 0, straight.stderr[-3000:]
    resumed = torch.load(job / "checkpoints" / "last.ckpt", weights_only=True)
    reference = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == reference["global_step"] == 12
    for name, tensor in reference["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name


def test_signal_during_training_saves_at_the_step_end_then_hands_over(tiny_lines, tmp_path):
    """In one process: the deferred signal is acted on at the end of its step (a checkpoint, the
    report says requeued), then the launcher's handler runs (here: recorded) and the job exits."""
    import json

    from ocrlab.config import compose_config
    from ocrlab.training import train
    from ocrlab.utils import preemption

    handled = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: handled.append(signum))
    try:
        preemption.defer(signal.SIGUSR2)
        cfg = compose_config("train", [*tiny_overrides(tiny_lines, tmp_path / "logs"), "test=false",
                                       "+callbacks.preempt._target_=preempt_once.SignalAtStep",
                                       "+callbacks.preempt.step=3", f"+callbacks.preempt.signum={int(signal.SIGUSR2)}"],
                             tmp_path / "run")
        with pytest.raises(SystemExit):
            train(cfg)
    finally:
        signal.signal(signal.SIGUSR2, previous)
        preemption.reset()
    assert handled == [signal.SIGUSR2]
    saved = torch.load(tmp_path / "run" / "checkpoints" / "preempted.ckpt", weights_only=True)
    assert saved["global_step"] == 4  # the signal came in step 3's callbacks: saved at the next step's end
    assert json.loads((tmp_path / "run" / "training_report.json").read_text())["status"] == "requeued"
