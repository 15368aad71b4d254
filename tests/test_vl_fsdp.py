"""PaddleOCR-VL LoRA under FSDP on two CPU processes (gloo), FSDP1 (``trainer=fsdp``) and FSDP2
(``trainer=fsdp2``), on a tiny pretrained base directory: only the adapters train (the base
weights stay bit-identical to the directory's, the optimizer holds the adapters only), a run
resumed from a sharded checkpoint goes on exactly as the straight one, and the export
directories written during training hold the whole adapter gathered from the ranks.

Each 2-process run costs ~30 s of CPU (~20 s on an idle 2-core machine): the runs are shared by module
fixtures (per strategy: one straight, one resumed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import compose_config, run_dirs, step_losses, tiny_pair_overrides, train_ok, training_report

pytestmark = pytest.mark.slow

EXPERIMENT = "paddleocr_vl_lora_cpu"
# 16 training pairs (tasks vendor + summary of 8 documents), batch 4, 2 ranks: 2 steps an epoch
STEPS_PER_EPOCH, EPOCHS = 2, 2


@pytest.fixture(scope="module")
def base_dir(tiny_pairs, tmp_path_factory) -> Path:
    """A tiny PaddleOCR-VL model directory (weights + processor): the pretrained base LoRA adapts."""
    from ocrlab.families.paddleocr_vl import net as vl
    from ocrlab.families.paddleocr_vl.data import PairTexts
    from ocrlab.families.paddleocr_vl.hf_processor import build_processor

    torch.manual_seed(0)
    processor = build_processor(PairTexts(str(tiny_pairs / "train.jsonl")), vocab_size=600, min_pixels=3136,
                                max_pixels=12544)
    model = vl.build_network({"preset": "tiny"}, tokenizer=processor.tokenizer)
    return vl.save_pretrained(model, processor, tmp_path_factory.mktemp("base") / "model")


def _common(strategy: str, pairs: Path, base: Path, logs: Path) -> list[str]:
    return [f"experiment={EXPERIMENT}", f"trainer={strategy}", "trainer.devices=2", "trainer.deterministic=true",
            "trainer.log_every_n_steps=1", "test=false", *tiny_pair_overrides(pairs, logs),
            f"model.pretrained={base}",
            # a sharded checkpoint (resumed from below) and an export directory after epoch 0
            f"callbacks.periodic_checkpoint.every_n_train_steps={STEPS_PER_EPOCH}",
            f"callbacks.export_directories.every_n_steps={STEPS_PER_EPOCH}"]


@pytest.fixture(scope="module", params=["fsdp", "fsdp2"])
def lora_run(request, tiny_pairs, base_dir, tmp_path_factory):
    """Two epochs straight, then a second run resumed from the step-2 sharded checkpoint."""
    strategy = request.param
    logs = tmp_path_factory.mktemp(f"vl_{strategy}")
    common = _common(strategy, tiny_pairs, base_dir, logs)
    train_ok(common)
    (straight,) = run_dirs(logs)
    train_ok([*common, f"ckpt_path={straight / 'checkpoints' / f'step_{STEPS_PER_EPOCH:06d}.ckpt'}"])
    (resumed,) = [p for p in run_dirs(logs) if p != straight]
    return {"strategy": strategy, "straight": straight, "resumed": resumed}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from ocrlab.loading import load_checkpoint

    return load_checkpoint(path, optimizer=False)["state_dict"]


def _adapters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if ".lora_" in k}


def test_lora_trains_only_the_adapters(lora_run, base_dir):
    from ocrlab.families.paddleocr_vl.lora import PART_LINEARS
    from ocrlab.families.paddleocr_vl.net import load_pretrained
    from ocrlab.loading import load_checkpoint

    straight = lora_run["straight"]
    report = training_report(straight)
    expected = {"fsdp": "FSDPStrategy", "fsdp2": "ModelParallelStrategy"}[lora_run["strategy"]]
    assert report["status"] == "success", report.get("error")
    assert report["device"]["strategy"] == expected and report["device"]["num_devices"] == 2
    assert report["global_step"] == STEPS_PER_EPOCH * EPOCHS
    last = straight / "checkpoints" / "last.ckpt"
    assert last.is_dir() and len(list(last.glob("*.distcp"))) == 2  # sharded: one file per rank
    ckpt = load_checkpoint(last)
    state = ckpt["state_dict"]
    base, _ = load_pretrained(base_dir)
    layers = base.config.text_config.num_hidden_layers
    adapters = _adapters(state)
    # lora_A and lora_B on every Linear of each language-model layer (the default scope), nowhere else
    assert len(adapters) == 2 * len(PART_LINEARS["language_model"]) * layers
    assert all(".language_model.layers." in k for k in adapters)
    # every other weight is the base directory's, bit for bit
    # (the module's `net` is the PeftModel: net.base_model.model.<HF name>, LoRA layers add base_layer)
    frozen = {k.removeprefix("net.base_model.model.").replace(".base_layer.", "."): v
              for k, v in state.items() if k not in adapters}
    reference = base.state_dict()
    assert frozen.keys() == reference.keys()
    changed = [k for k in reference if not torch.equal(frozen[k], reference[k])]
    assert not changed, f"frozen base weights changed in training: {changed[:5]}"
    # ... while the adapters trained: lora_B starts at zero, and both moved after the step-2 checkpoint
    assert all(v.abs().sum() > 0 for k, v in adapters.items() if ".lora_B." in k)
    at_step_2 = _adapters(_weights(straight / "checkpoints" / f"step_{STEPS_PER_EPOCH:06d}.ckpt"))
    assert at_step_2.keys() == adapters.keys()
    assert all(not torch.equal(at_step_2[k], adapters[k]) for k in adapters)
    # the optimizer holds the adapters only: one AdamW state per LoRA tensor, of its shape
    (opt,) = ckpt["optimizer_states"]
    assert sum(len(g["params"]) for g in opt["param_groups"]) == len(adapters)
    assert sorted(tuple(s["exp_avg"].shape) for s in opt["state"].values()) == sorted(
        tuple(v.shape) for v in adapters.values())


def test_lora_resumes_exactly_from_a_sharded_checkpoint(lora_run):
    straight, resumed = lora_run["straight"], lora_run["resumed"]
    assert training_report(resumed)["status"] == "success"
    assert training_report(resumed)["global_step"] == STEPS_PER_EPOCH * EPOCHS
    straight_losses, resumed_losses = step_losses(straight), step_losses(resumed)
    assert sorted(straight_losses) == list(range(STEPS_PER_EPOCH * EPOCHS))
    # the resumed run starts at the checkpoint's step and draws what the straight one drew
    # (adapter weights, AdamW state, schedule, each rank's RNG for LoRA dropout)
    assert sorted(resumed_losses) == list(range(STEPS_PER_EPOCH, STEPS_PER_EPOCH * EPOCHS))
    assert resumed_losses == {s: straight_losses[s] for s in resumed_losses}
    a, b = _weights(straight / "checkpoints" / "last.ckpt"), _weights(resumed / "checkpoints" / "last.ckpt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_exports_during_training_hold_the_whole_adapter(lora_run, base_dir):
    """Each rank holds a shard of every adapter: the export directories (step_2 mid-training,
    last at the end, best) are written from the gathered weights, the checkpoint's, exactly."""
    from safetensors.torch import load_file

    from ocrlab.loading import load_model

    straight = lora_run["straight"]
    exports = straight / "exports"
    assert {"best", "last", f"step_{STEPS_PER_EPOCH}", f"step_{STEPS_PER_EPOCH * EPOCHS}"} <= {
        p.name for p in exports.iterdir()}
    for export, ckpt in ((f"step_{STEPS_PER_EPOCH}", f"step_{STEPS_PER_EPOCH:06d}.ckpt"), ("last", "last.ckpt")):
        saved = load_file(exports / export / "adapter" / "adapter_model.safetensors")
        # peft's file names a weight without the adapter name: lora_A.weight for lora_A.default.weight
        expected = {k.removeprefix("net.").replace(".default.", "."): v
                    for k, v in _adapters(_weights(straight / "checkpoints" / ckpt)).items()}
        assert saved.keys() == expected.keys(), export
        for k, v in expected.items():
            assert saved[k].shape == v.shape and torch.equal(saved[k], v), f"{export}: {k}"
    meta = json.loads((exports / "last" / "ocrlab_model.json").read_text())
    # the base is the pretrained directory, named, not written again
    assert meta["export"] == {"merged": False, "adapter": "adapter"}
    assert meta["model_config"]["pretrained"] == str(base_dir)
    # and it loads to the checkpoint's model
    from_export, from_ckpt = load_model(exports / "last").state_dict(), _weights(straight / "checkpoints" / "last.ckpt")
    assert from_export.keys() == from_ckpt.keys()
    assert all(torch.equal(from_export[k], from_ckpt[k]) for k in from_ckpt)


def test_fsdp_refuses_use_orig_params_false_for_lora(tiny_pairs, base_dir, tmp_path):
    """One process, in-process: FSDP1 flattens each unit into one tensor, trainable or frozen as
    a whole; with frozen base weights beside the adapters that needs ``use_orig_params``."""
    from ocrlab.errors import ConfigError
    from ocrlab.strategies import end_of_job, job_state
    from ocrlab.training import train

    overrides = [*_common("fsdp", tiny_pairs, base_dir, tmp_path / "logs"), "trainer.devices=1", "callbacks=none",
                 "trainer.strategy.use_orig_params=false", "model.evaluate_base=false"]
    overrides = [o for o in overrides if not o.startswith("callbacks.")]
    before = job_state()
    try:
        with pytest.raises(ConfigError, match=r"use_orig_params=false: PaddleOCRVL has frozen and trainable"):
            train(compose_config("train", overrides, tmp_path / "run"))
    finally:
        end_of_job(*before)
