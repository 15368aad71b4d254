"""Distributed training on two CPU processes (gloo) with the document family: DDP, FSDP
(``trainer=fsdp``, sharded checkpoints) and FSDP2 (``trainer=fsdp2``): one run dir per run (also
in a multirun), exact resume from a sharded checkpoint, and sharded checkpoints loading,
consolidating and exporting like ``.ckpt`` files.

Each 2-process run costs ~15-35 s on a 2-core machine: the runs are shared by module fixtures.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from conftest import (
    run_cli,
    run_dirs,
    step_losses,
    tiny_doc_overrides,
    tiny_overrides,
    train_ok,
    training_report,
)

pytestmark = pytest.mark.slow

EXPERIMENT = "layoutlmv3_multitask_cpu"
# 32 train documents, batch 4, 2 ranks: 4 steps an epoch, 2 epochs
STEPS_PER_EPOCH, EPOCHS = 4, 2


def _common(strategy: str, data: Path, logs: Path) -> list[str]:
    return [f"experiment={EXPERIMENT}", f"trainer={strategy}", "trainer.devices=2", "trainer.deterministic=true",
            "trainer.log_every_n_steps=1", "test=false", *tiny_doc_overrides(data, logs),
            # keep the end-of-epoch-0 checkpoint (resumed from below); `mode` only makes the
            # callback's state key differ from last_checkpoint's (monitor is null)
            "callbacks.periodic_checkpoint.every_n_epochs=1", "+callbacks.periodic_checkpoint.mode=max"]


def _configs(root: Path) -> list[Path]:
    """What ``find <root> -name config.yaml -not -path '*/.hydra/*'`` lists: one per run dir."""
    return sorted(p for p in root.rglob("config.yaml") if ".hydra" not in p.parts)


@pytest.fixture(scope="module", params=["fsdp", "fsdp2"])
def sharded_run(request, tiny_docs, tmp_path_factory):
    """Two epochs straight, then a second run resumed from the end-of-epoch-0 sharded checkpoint."""
    strategy = request.param
    logs = tmp_path_factory.mktemp(strategy)
    common = _common(strategy, tiny_docs, logs)
    train_ok(common)
    (straight,) = run_dirs(logs)
    resumed_out = train_ok([*common, f"ckpt_path={straight / 'checkpoints' / 'epoch_000.ckpt'}"])
    (resumed,) = [p for p in run_dirs(logs) if p != straight]
    return {"strategy": strategy, "logs": logs, "straight": straight, "resumed": resumed,
            "stderr": resumed_out.stderr}


@pytest.fixture(scope="module")
def ddp_docs_run(tiny_docs, tmp_path_factory):
    logs = tmp_path_factory.mktemp("ddp_docs")
    out = train_ok(_common("ddp", tiny_docs, logs))
    (run_dir,) = run_dirs(logs)
    return {"logs": logs, "run": run_dir, "output": out.stdout + out.stderr}


def test_sharded_run_resumes_exactly_in_one_run_dir(sharded_run):
    straight, resumed = sharded_run["straight"], sharded_run["resumed"]
    expected = {"fsdp": "FSDPStrategy", "fsdp2": "ModelParallelStrategy"}[sharded_run["strategy"]]
    for run in (straight, resumed):
        report = training_report(run)
        assert report["status"] == "success"
        assert report["device"]["strategy"] == expected and report["device"]["num_devices"] == 2
        assert report["global_step"] == STEPS_PER_EPOCH * EPOCHS
    # a sharded checkpoint is a directory of shards plus Lightning's meta.pt
    last = straight / "checkpoints" / "last.ckpt"
    assert last.is_dir() and (last / "meta.pt").is_file() and (last / ".metadata").is_file()
    assert len(list(last.glob("*.distcp"))) == 2
    # the worker processes wrote into rank 0's run dir: two runs, two run dirs, two configs
    assert _configs(sharded_run["logs"]) == [straight / "config.yaml", resumed / "config.yaml"]
    # the resumed run goes on where the checkpoint was and draws what the straight one drew
    # (weights, optimizer state, schedule, each rank's RNG): the same losses, the same weights
    straight_losses, resumed_losses = step_losses(straight), step_losses(resumed)
    assert sorted(resumed_losses) == list(range(STEPS_PER_EPOCH, STEPS_PER_EPOCH * EPOCHS))
    assert resumed_losses == {s: straight_losses[s] for s in resumed_losses}
    assert [h["epoch"] for h in training_report(resumed)["history"]] == [0, 1]
    from ocrlab.loading import load_checkpoint

    a = load_checkpoint(last, optimizer=False)["state_dict"]
    b = load_checkpoint(resumed / "checkpoints" / "last.ckpt", optimizer=False)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sharded_checkpoint_consolidates_loads_and_exports(sharded_run, tiny_docs, tmp_path):
    from PIL import Image

    from ocrlab.cli import consolidate_main, export_main
    from ocrlab.families.layoutlmv3.annotations import read_split
    from ocrlab.loading import load_checkpoint, load_model, read_metadata
    from ocrlab.model_files import CHECKPOINT_KEY

    shards = sharded_run["straight"] / "checkpoints" / "last.ckpt"
    consolidate_main([str(shards), "--output", str(tmp_path / "full.ckpt")])
    full = torch.load(tmp_path / "full.ckpt", map_location="cpu", weights_only=True)
    # everything a .ckpt file holds, the ocrlab metadata (from meta.pt) among it
    assert {"state_dict", "optimizer_states", "lr_schedulers", "loops", "callbacks", CHECKPOINT_KEY} <= set(full)
    assert full["global_step"] == STEPS_PER_EPOCH * EPOCHS
    meta = full[CHECKPOINT_KEY]
    assert meta["model_config"]["_target_"] == "ocrlab.families.layoutlmv3.LayoutLMv3Multitask"
    assert set(meta["label_space"]) == {"labels", "tokenizer"}
    assert len(meta["rng_per_rank"]) == 2
    assert read_metadata(shards)["run"]["experiment"] == EXPERIMENT
    # optimizer state keyed by position, as a plain optimizer writes it
    opt = full["optimizer_states"][0]
    assert all(isinstance(k, int) for k in opt["state"]) and opt["param_groups"][0]["params"][0] == 0
    # shapes-only reading gathers nothing
    shapes = load_checkpoint(shards, weights=False)["state_dict"]
    assert shapes.keys() == full["state_dict"].keys()
    assert all(t.is_meta and t.shape == full["state_dict"][k].shape for k, t in shapes.items())

    from_shards, from_file = load_model(shards), load_model(tmp_path / "full.ckpt")
    export_main([str(shards), "--output", str(tmp_path / "export")])
    from_export = load_model(tmp_path / "export")
    ref = from_shards.state_dict()
    for other in (from_file, from_export):
        theirs = other.state_dict()
        assert ref.keys() == theirs.keys() and all(torch.equal(ref[k], theirs[k]) for k in ref)
    inputs = from_shards.example_inputs(batch_size=2)
    with torch.no_grad():
        outs = [m(**inputs) for m in (from_shards, from_file, from_export)]
    for out in outs[1:]:
        assert all(torch.equal(x, y) for x, y in zip(outs[0], out, strict=True))
    doc = read_split(tiny_docs / "test", from_shards.labels)[0]
    with Image.open(doc.image_path) as im:
        image = im.convert("RGB")
    predictions = [m.predict_document(doc.words, doc.boxes, image) for m in (from_shards, from_file, from_export)]
    assert predictions[0] == predictions[1] == predictions[2]


def test_loader_errors_for_directories_that_are_no_checkpoint(tmp_path, sharded_run):
    import shutil

    from ocrlab.errors import CheckpointError
    from ocrlab.loading import load_checkpoint, load_model

    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"empty is not an ocrlab export .* nor a sharded checkpoint"):
        load_model(tmp_path / "empty")
    with pytest.raises(CheckpointError, match=r"empty is a directory but not a sharded checkpoint"):
        load_checkpoint(tmp_path / "empty")
    shards = sharded_run["straight"] / "checkpoints" / "last.ckpt"
    no_meta = shutil.copytree(shards, tmp_path / "no_meta")
    (no_meta / "meta.pt").unlink()
    with pytest.raises(CheckpointError, match=r"no meta.pt"):
        load_model(no_meta)
    cut = shutil.copytree(shards, tmp_path / "cut")
    next(cut.glob("*.distcp")).unlink()
    with pytest.raises(CheckpointError, match=r"cut cannot be read .*FileNotFoundError"):
        load_model(cut)
    # the shards' index is a pickle: only torch.distributed.checkpoint's metadata classes load
    evil = shutil.copytree(shards, tmp_path / "evil")
    (evil / ".metadata").write_bytes(pickle.dumps(_RunsCode()))
    with pytest.raises(CheckpointError, match=r"posix.system is not allowed in a checkpoint index"):
        load_model(evil)


class _RunsCode:
    def __reduce__(self):
        return os.system, ("echo should-not-run",)


def test_fsdp_trains_what_ddp_trains(sharded_run, ddp_docs_run):
    """The same documents, seeds and steps: the sharded runs end where DDP does (up to the
    order of float reductions)."""
    from ocrlab.loading import load_checkpoint

    ddp = load_checkpoint(ddp_docs_run["run"] / "checkpoints" / "last.ckpt", optimizer=False)["state_dict"]
    sharded = load_checkpoint(sharded_run["straight"] / "checkpoints" / "last.ckpt", optimizer=False)["state_dict"]
    assert ddp.keys() == sharded.keys()
    for k in ddp:
        torch.testing.assert_close(sharded[k], ddp[k], rtol=1e-4, atol=1e-5, msg=k)


def test_ddp_document_family(ddp_docs_run):
    # the frozen relative-position biases get no gradient: DDP must not see them as unused
    assert "parameters that were not used" not in ddp_docs_run["output"]
    report = training_report(ddp_docs_run["run"])
    assert report["status"] == "success" and report["device"]["strategy"] == "DDPStrategy"
    assert report["global_step"] == STEPS_PER_EPOCH * EPOCHS
    assert _configs(ddp_docs_run["logs"]) == [ddp_docs_run["run"] / "config.yaml"]


def test_multirun_workers_join_their_job(tiny_docs, tmp_path):
    """Hydra #2070: Lightning starts each worker with the sweep's own command line (``-m``,
    the lists); each worker then ran a sweep of its own in new dirs and outlived the run. Here
    each job's worker runs that job, with its values, in its dir."""
    args = ["train.py", "-m", f"experiment={EXPERIMENT}", "trainer=ddp", "trainer.devices=2", "seed=1,2",
            *tiny_doc_overrides(tiny_docs, tmp_path / "logs"), "trainer.max_epochs=1", "test=false"]
    out = run_cli(args)
    assert out.returncode == 0, out.stderr[-4000:]
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    assert not (tmp_path / "logs" / "train" / "runs").exists()
    assert _configs(tmp_path / "logs") == [sweep / "0" / "config.yaml", sweep / "1" / "config.yaml"]
    for job, seed in (("0", 1), ("1", 2)):
        report = training_report(sweep / job)
        assert report["status"] == "success" and report["device"]["num_devices"] == 2
        assert report["hyperparameters"]["seed"] == seed and report["global_step"] == STEPS_PER_EPOCH
        # rank 1 of this job ran this job's values, logging into this job's dir
        assert f"[rank: 1] Seed set to {seed}" in (sweep / job / "train.log").read_text()


@pytest.mark.parametrize("strategy", ["fsdp", "fsdp2"])
def test_fsdp_trains_the_default_experiment_and_tests_the_best_checkpoint(strategy, tiny_lines, tmp_path):
    """The default experiment as it is (``model.channels_last=true``: a convolution weight in the
    NHWC format) under both sharded strategies: FSDP1 trained an epoch and failed at the first
    checkpoint ("Only torch.contiguous_format memory_format is currently supported"), FSDP2 at
    setup; the parameters are made contiguous before sharding, and that is logged.
    ``test=true`` after fit under FSDP: Lightning sets the bare module up again and loads the
    sharded best checkpoint into views of the root's resharded flat parameter ("size mismatch
    ... current: torch.Size([0])"); the strategy reuses the root wrapper instead. (A family
    without ``layer_classes``: the whole model is one unit. The document family's test phase is
    not run here: its reports are written on rank 0 only, through a metric that syncs.)"""
    logs = tmp_path / "logs"
    out = run_cli(["train.py", "experiment=crnn_thai_cpu", f"trainer={strategy}", "trainer.accelerator=cpu",
                   "trainer.devices=2", *tiny_overrides(tiny_lines, logs), "test=true"])
    assert out.returncode == 0, out.stderr[-4000:]
    assert f"trainer={strategy}: 1 parameter(s) in another memory format" in out.stdout + out.stderr
    (run_dir,) = run_dirs(logs)
    report = training_report(run_dir)
    expected = {"fsdp": "FSDPStrategy", "fsdp2": "ModelParallelStrategy"}[strategy]
    assert report["status"] == "success" and report["device"]["strategy"] == expected
    assert report["hyperparameters"]["model"]["channels_last"] is True
    assert (run_dir / "checkpoints" / "best.ckpt" / "meta.pt").is_file()
    assert report["test_metrics"]["test/lines"] == 16


@pytest.mark.parametrize("strategy", ["fsdp", "fsdp2"])
def test_the_wrap_unit_comes_from_the_model(strategy, tiny_docs, tmp_path):
    """One process, in-process: FSDP wraps (and with activation checkpointing, checkpoints)
    each block of ``layer_classes``; FSDP2 shards each of ``fsdp_units()`` and the net, once, however
    often Lightning calls ``configure_model``."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper
    from torch.distributed.fsdp import FSDPModule, FullyShardedDataParallel
    from torch.distributed.tensor import DTensor

    from ocrlab.config import compose_config
    from ocrlab.strategies import end_of_job, job_state
    from ocrlab.training import train

    overrides = [f"experiment={EXPERIMENT}", f"trainer={strategy}", "trainer.devices=1", "callbacks=none",
                 *(o for o in tiny_doc_overrides(tiny_docs, tmp_path / "logs") if not o.startswith("callbacks.")),
                 "trainer.max_steps=2", "++trainer.limit_val_batches=1", "test=false",
                 "trainer.enable_progress_bar=false"]
    if strategy == "fsdp":
        overrides.append("trainer.strategy.activation_checkpointing=true")
    before = job_state()
    try:
        _, objects = train(compose_config("train", overrides, tmp_path / "run"))
        model, trainer = objects["model"], objects["trainer"]
        # the block class itself: after wrapping, `model.layer_classes` (types of the first blocks)
        # names the wrapper under FSDP1
        from transformers.models.layoutlmv3.modeling_layoutlmv3 import LayoutLMv3Layer

        layers = [m for m in trainer.model.modules() if isinstance(m, LayoutLMv3Layer)]
        assert len(layers) == model.net.backbone.config.num_hidden_layers
        if strategy == "fsdp":
            wrapped = [m for m in trainer.model.modules() if isinstance(m, FullyShardedDataParallel)]
            assert len(wrapped) == 1 + len(layers)  # the root and one unit per block
            assert len([m for m in trainer.model.modules() if isinstance(m, CheckpointWrapper)]) == len(layers)
        else:
            assert all(isinstance(m, FSDPModule) for m in [*model.fsdp_units(), model.net])
            model.configure_model()  # again: nothing changes
            assert all(isinstance(p, DTensor) for p in model.net.parameters())
    finally:
        end_of_job(*before)


@pytest.mark.parametrize("strategy", ["fsdp", "fsdp2"])
def test_distillation_under_fsdp_trains_only_the_student_and_resumes(strategy, tiny_lines, tiny_trocr_teacher,
                                                                     tmp_path):
    """2 CPU processes: the student is sharded (FSDP1 wraps its encoder and decoder blocks, two
    classes; FSDP2 shards them), the teacher stays whole on each rank, outside the checkpoint; the
    run resumes from its sharded last checkpoint."""
    from ocrlab.loading import load_checkpoint

    logs = tmp_path / "logs"
    common = ["train.py", "experiment=trocr_distill_cpu", f"trainer={strategy}", "trainer.accelerator=cpu",
              "trainer.devices=2", *tiny_overrides(tiny_lines, logs), "model/trocr_net=tiny",
              f"model.teacher={tiny_trocr_teacher}", "model.distill.mode=logits", "test=false"]
    out = run_cli([*common, "trainer.max_epochs=1"])
    assert out.returncode == 0, out.stderr[-4000:]
    (run_dir,) = run_dirs(logs)
    last = run_dir / "checkpoints" / "last.ckpt"
    state = load_checkpoint(last)["state_dict"]
    assert state and not any("teacher" in k for k in state)
    assert training_report(run_dir)["status"] == "success"
    out = run_cli([*common, "trainer.max_epochs=2", f"ckpt_path={last}"])
    assert out.returncode == 0, out.stderr[-4000:]
    resumed = [d for d in run_dirs(logs) if d != run_dir]
    assert resumed and training_report(resumed[0])["history"][-1]["epoch"] == 1
