"""Checkpoints written before the family folders (``tests/fixtures/pre_family_folders``, made by
commit 0c5f728) load, evaluate to the same metrics and predictions, resume and export with
today's code: the module paths stored in them are mapped (``families/*/moved_modules.json``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import compose_config, run_overrides

from ocrlab.cli import with_checkpoint_experiment
from ocrlab.loading import export_model, load_checkpoint, load_model, read_metadata

FIXTURES = Path(__file__).parent / "fixtures" / "pre_family_folders"
TIMINGS = ("ms_per", "_per_s")
# the architecture each was trained with (besides its experiment's), for resuming it
ARCHITECTURE = {
    "crnn": ["model/backbone=small_cnn", "model.backbone.channels=[8,16,32]", "model.neck.hidden_size=16",
             "model.channels_last=false"],
    "layoutlmv3": ["model/encoder=tiny", "model.max_length=128", "model.stride=32", "model.tokenizer.vocab_size=300",
                   "++model.init_from=null", "data.num_workers=0"],
    "paddleocr_vl": ["model/net=tiny", "++model.pretrained=null", "model.processor.vocab_size=300",
                     "model.processor.min_pixels=3136", "model.processor.max_pixels=12544", "model.max_length=512",
                     "model.generation.max_new_tokens=12", "model.gradient_checkpointing=false",
                     "data.tasks=[vendor,summary]", "data.eval_batch_size=4"],
}
FAMILIES = sorted(ARCHITECTURE)


def _data(family: str, tmp_path: Path) -> tuple[list[str], list[str]]:
    """(evaluation data overrides, training data overrides): the fixture's test split, copied to
    every split for training."""
    fx = FIXTURES / family
    root = tmp_path / "data"
    if family == "crnn":
        shutil.copytree(fx / "lines", root)
        data = [f"data.data_dir={root}", "++data.synth=null", "data.test_files=[test.txt]"]
        return data, ["data=paddle_labels", f"data.data_dir={root}", "data.train_files=[test.txt]",
                      "data.val_files=[test.txt]", "data.batch_size=4"]
    if family == "layoutlmv3":
        for split in ("train", "val", "test"):
            shutil.copytree(fx / "docs" / "test", root / split)
        shutil.copy(fx / "docs" / "label_map.json", root)
        data = [f"data.data_dir={root}"]
        return data, ["data=document_annotations", *data, "data.batch_size=1"]
    pairs = (fx / "pairs" / "test.jsonl.in").read_text(encoding="utf-8").replace("@FX@", str(fx))
    root.mkdir()
    for split in ("train", "val", "test"):
        (root / f"{split}.jsonl").write_text(pairs, encoding="utf-8")
    data = [f"data.pairs_dir={root}", "++data.synth=null"]
    return data, [*data, "data.batch_size=2"]


def _same_metrics(expected: dict, got: dict) -> list[str]:
    return [f"{k}: {got.get(k)} (was {v})" for k, v in expected.items()
            if not any(t in k for t in TIMINGS) and (k not in got or abs(float(got[k]) - float(v)) > 1e-6)]


@pytest.mark.parametrize("family", FAMILIES)
def test_an_old_checkpoint_evaluates_to_the_same_metrics_and_predictions(family, tmp_path):
    from ocrlab.evaluation import evaluate

    ckpt = FIXTURES / family / "model.ckpt"
    data, _ = _data(family, tmp_path)
    meta = read_metadata(ckpt)
    assert meta["model_config"]["_target_"].startswith(f"ocrlab.families.{family}.")
    # evaluate.py's own path: the experiment recorded in the checkpoint is composed
    args = with_checkpoint_experiment([f"ckpt_path={ckpt}", *data, f"paths.log_dir={tmp_path}"])
    assert args[-1] == f"experiment={meta['run']['experiment']}"
    metrics, _ = evaluate(compose_config("evaluate", args, tmp_path / "eval"))
    expected = json.loads((FIXTURES / family / "expected.json").read_text())
    assert not _same_metrics(expected, metrics)
    rows = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    old = [json.loads(line) for line in (FIXTURES / family / "expected_predictions.jsonl").read_text().splitlines()]
    drop = ("image", "images")  # paths of the machine that made them
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows] == \
        [{k: v for k, v in r.items() if k not in drop} for r in old]


@pytest.mark.parametrize("family", FAMILIES)
def test_an_old_checkpoint_resumes_and_exports(family, tmp_path):
    from ocrlab.training import train

    ckpt = FIXTURES / family / "model.ckpt"
    old = load_checkpoint(ckpt)
    _, data = _data(family, tmp_path)
    experiment = read_metadata(ckpt)["run"]["experiment"]
    steps = old["global_step"] + 2
    cfg = compose_config("train", [f"experiment={experiment}", *ARCHITECTURE[family], *data,
                                   *run_overrides(tmp_path / "logs"), f"ckpt_path={ckpt}", "trainer.max_epochs=-1",
                                   f"trainer.max_steps={steps}", "test=false", "trainer.precision=32-true",
                                   "trainer.accelerator=cpu", "++trainer.limit_val_batches=1"], tmp_path / "run")
    train(cfg)
    resumed = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == steps
    assert resumed["ocrlab"]["model_config"]["_target_"].startswith(f"ocrlab.families.{family}.")
    # the export of the old checkpoint loads and holds its weights
    export_model(ckpt, tmp_path / "export")
    exported = load_model(tmp_path / "export").state_dict()
    assert all(torch.equal(exported[k], v) for k, v in load_model(ckpt).state_dict().items())
