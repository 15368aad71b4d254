"""The training pipeline in-process: every experiment, overfitting, exact resume, reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from conftest import CONF, compose_config, experiment_overrides, model_and_data, tiny_overrides

from ocrlab.errors import CheckpointError, ConfigError
from ocrlab.metrics import score_texts
from ocrlab.text import Charset, CharsetError
from ocrlab.training import train

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def _train(tiny_lines: Path, tmp_path: Path, overrides: list[str], name: str = "run"):
    cfg = compose_config("train", tiny_overrides(tiny_lines, tmp_path / "logs") + overrides, tmp_path / name)
    return train(cfg)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_fast_dev_run(experiment, request, tmp_path):
    overrides = [*experiment_overrides(experiment, request, tmp_path / "logs"), "debug=fdr"]
    cfg = compose_config("train", overrides, tmp_path / "run")
    metrics, _ = train(cfg)
    assert "train/loss" in metrics and cfg.monitor.name in metrics
    assert any(k.startswith("test/") for k in metrics)
    report = json.loads((tmp_path / "run" / "training_report.json").read_text())
    assert report["status"] == "success" and report["monitor"]["name"] == cfg.monitor.name
    assert report["samples"]["train"] > 0 and report["hyperparameters"]["seed"] == 42
    assert (tmp_path / "run" / "config.yaml").is_file()


def test_text_line_experiment_reports_its_metrics(tiny_lines, tmp_path):
    metrics, _ = _train(tiny_lines, tmp_path, ["experiment=crnn_thai_cpu", "debug=fdr"])
    for key in ("train/loss", "val/cer", "test/cer", "test/wer", "test/acc", "test/ned", "test/ms_per_line"):
        assert key in metrics, key
    report = json.loads((tmp_path / "run" / "training_report.json").read_text())
    assert report["samples"]["train"] == 48 and report["model"]["label_space"] == {"charset": 182}


def test_default_model_overfits_one_batch(tiny_lines, tmp_path):
    cfg = compose_config("train", tiny_overrides(tiny_lines, tmp_path / "logs"), tmp_path / "run")
    torch.manual_seed(0)
    model, dm = model_and_data(cfg)
    batch = next(iter(dm.train_dataloader()))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses, cer = [], 1.0
    for step in range(1, 1001):  # usually done in 600-800 steps; stop as soon as it is memorized
        model.train()
        loss = model.loss(model.forward_batch(batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0:
            model.eval()
            preds = model.recognize_batch(batch)
            cer = score_texts(preds, batch["labels"])["test/cer"]
            if cer < 0.02:
                break
    assert losses[-1] < 0.1 * losses[0]
    assert cer < 0.02, list(zip(preds, batch["labels"], strict=True))


def _resumes_exactly(common: list[str], tmp_path: Path, epochs: int) -> None:
    """Straight; a first leg stopped by ``trainer.max_epochs=1`` (its last.ckpt, written at the
    epoch's end, is what a run killed after it leaves); that leg resumed: the straight run's
    weights, bit for bit, and one history entry per epoch."""

    def run(overrides: list[str], name: str):
        return train(compose_config("train", [*common, *overrides], tmp_path / name))[1]

    runs = {"straight": run([], "straight")}
    run(["trainer.max_epochs=1"], "first_leg")
    last = tmp_path / "first_leg" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 0
    runs["resumed"] = run([f"ckpt_path={last}"], "resumed")
    ends = {name: torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True) for name in runs}
    assert ends["straight"]["global_step"] == ends["resumed"]["global_step"]
    straight, resumed = ends["straight"]["state_dict"], ends["resumed"]["state_dict"]
    assert straight.keys() == resumed.keys()
    for k in straight:
        assert torch.equal(straight[k], resumed[k]), (k, float((straight[k].float() - resumed[k].float()).abs().max()))
    report = json.loads((tmp_path / "resumed" / "training_report.json").read_text())
    assert [h["epoch"] for h in report["history"]] == list(range(epochs))
    for name, objects in runs.items():  # each epoch had its own batch order (the sampler's epoch is the trainer's)
        assert objects["trainer"].train_dataloader.batch_sampler.epoch == epochs - 1, name


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_resume_from_last_matches_uninterrupted_run(experiment, request, tmp_path):
    """What differs from a plain epoch-budget run: a step budget (``max_steps``: every experiment
    that sets one made Lightning resume inside the finished epoch and train a batch more there),
    which is also the schedule's length (the first leg, stopped by its epoch limit, warmed up
    and decayed over its own shorter run), and no validation due at the interrupted epoch's end
    (validated every second epoch: in the resumed part)."""
    common = [*experiment_overrides(experiment, request, tmp_path / "logs"), "trainer.max_epochs=3",
              "trainer.max_steps=1000", "trainer.check_val_every_n_epoch=2", "trainer.deterministic=true",
              "test=false"]
    _resumes_exactly(common, tmp_path, epochs=3)


def test_default_experiment_resumes_exactly_with_its_own_settings(tiny_lines, tmp_path):
    """The default experiment as it runs (a step budget, validation every N steps, NHWC
    convolutions, every core to torch), here with validation due at the interrupted epoch's end
    (Lightning then stepped the schedule once more) and a loader worker (it was sent epoch 0's
    indices before the resumed epoch was known). 48 lines, batch 8: 6 steps an epoch."""
    common = [*tiny_overrides(tiny_lines, tmp_path / "logs"), "experiment=crnn_thai_cpu", "trainer.max_epochs=-1",
              "trainer.max_steps=15", "trainer.val_check_interval=6", "trainer.check_val_every_n_epoch=null",
              "data.num_workers=1", "trainer.deterministic=true", "test=false"]
    _resumes_exactly(common, tmp_path, epochs=3)


def test_augmented_training_resumes_exactly(tiny_lines, tmp_path):
    """With data.augment on (every transform at its default) and a loader worker: the resumed
    epochs see the augmented images the straight run saw (they depend on seed, epoch and item
    alone), so the weights match bit for bit."""
    common = [*tiny_overrides(tiny_lines, tmp_path / "logs"), "data.augment.enabled=true", "data.num_workers=1",
              # a step budget: the schedule's length, the same in the first leg as in the straight run
              "trainer.max_epochs=2", "trainer.max_steps=1000", "trainer.check_val_every_n_epoch=2",
              "trainer.deterministic=true", "test=false"]
    _resumes_exactly(common, tmp_path, epochs=2)


@pytest.mark.parametrize(("first", "then"), [(True, False), (False, True)])
def test_resume_across_channels_last_says_what_it_does(first, then, tiny_lines, tmp_path, caplog):
    """The memory format is not part of the weights: resuming across it is accepted, and the run
    says so and what it means; the resumed model computes in this run's format."""
    common = ["experiment=crnn_thai_cpu", "test=false"]
    _train(tiny_lines, tmp_path, [*common, f"model.channels_last={first}", "trainer.max_epochs=1"], "first")
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    with caplog.at_level("WARNING", logger="ocrlab"):
        _, objects = _train(tiny_lines, tmp_path, [*common, f"model.channels_last={then}", f"ckpt_path={last}"],
                            "second")
    warned = [r.getMessage() for r in caplog.records if "channels_last" in r.getMessage()]
    assert len(warned) == 1, caplog.text[-3000:]
    assert f"channels_last: checkpoint {first} vs this run {then}" in warned[0] and str(last) in warned[0]
    assert "memory format" in warned[0] and "weights" in warned[0] and "not bit-identical" in warned[0]
    conv = objects["model"].net.backbone.features[0][0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) is then and conv.is_contiguous() is not then
    assert objects["trainer"].global_step == 12  # 2 epochs of 6 steps: it trained on


def test_checkpoints_best_last_and_periodic(tiny_lines, tmp_path):
    _train(tiny_lines, tmp_path, ["trainer.max_epochs=4", "callbacks.periodic_checkpoint.every_n_epochs=2"])
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    assert names == ["best.ckpt", "epoch_001.ckpt", "epoch_003.ckpt", "last.ckpt"]
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 3
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)
    assert Charset.from_dict(ckpt["ocrlab"]["charset"]) == Charset.thai()
    report = json.loads((tmp_path / "run" / "training_report.json").read_text())
    assert report["best_metrics"]["val/cer"] == min(h["val/cer"] for h in report["history"])
    assert set(report["test_metrics"]) >= {"test/cer", "test/ms_per_line"}
    assert all("train/loss" in h for h in report["history"])


def test_report_written_on_failure(tiny_lines, tmp_path):
    with pytest.raises(RuntimeError, match="simulated crash"):
        _train(tiny_lines, tmp_path, ["+callbacks.crash._target_=conftest.StopAfterEpochs",
                                      "+callbacks.crash.fail=true"])
    report = json.loads((tmp_path / "run" / "training_report.json").read_text())
    assert report["status"] == "failed" and "simulated crash" in report["error"]
    assert len(report["history"]) == 1


def test_resume_with_another_charset_is_refused(tiny_lines, tmp_path):
    _train(tiny_lines, tmp_path, ["trainer.max_epochs=1", "test=false"], "first")
    other = tmp_path / "dict.txt"
    other.write_text("\n".join([*Charset.thai().symbols, "€"]), encoding="utf-8")
    with pytest.raises(CharsetError, match="charset mismatch"):
        _train(tiny_lines, tmp_path, ["model/charset=paddle_dict", f"model.charset.path={other}", "test=false",
                                      f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.ckpt'}"], "second")


def test_resume_with_another_architecture_names_the_config_keys(tiny_lines, tmp_path):
    _train(tiny_lines, tmp_path, ["experiment=crnn_thai", "trainer.max_epochs=1", "test=false"], "first")
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match=r"model config differs.*neck.encoder_type: checkpoint 'rnn' vs this "
                                               r"run 'reshape'"):
        _train(tiny_lines, tmp_path, ["experiment=crnn_thai", "model/neck=reshape", f"ckpt_path={last}"], "second")
    report = json.loads((tmp_path / "second" / "training_report.json").read_text())
    assert report["status"] == "failed" and "neck.encoder_type" in report["error"]


@pytest.mark.parametrize(("make", "pattern"), [
    (lambda p: None, r"checkpoint .*bad.ckpt does not exist"),
    (lambda p: p.mkdir(), r"checkpoint .*bad.ckpt is a directory"),
    (lambda p: p.write_bytes(b"\x00 random bytes" * 20), r"checkpoint .*bad.ckpt cannot be read"),
], ids=["missing", "directory", "random-bytes"])
def test_bad_ckpt_path_for_training_is_named(tiny_lines, tmp_path, make, pattern):
    make(tmp_path / "bad.ckpt")
    with pytest.raises(CheckpointError, match=pattern):
        _train(tiny_lines, tmp_path, [f"ckpt_path={tmp_path / 'bad.ckpt'}"])


def test_truncated_checkpoint_is_named(tiny_lines, tmp_path):
    _train(tiny_lines, tmp_path, ["trainer.max_epochs=1", "test=false"], "first")
    data = (tmp_path / "first" / "checkpoints" / "last.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"checkpoint .*cut.ckpt cannot be read"):
        _train(tiny_lines, tmp_path, [f"ckpt_path={tmp_path / 'cut.ckpt'}"])


@pytest.mark.parametrize(("override", "pattern"), [
    ("trainer.max_steps=abc", r"trainer.max_steps='abc': expected int"),
    ("data.batch_size=abc", r"data.batch_size='abc': expected int"),
    ("trainer.precision=bf17", r"trainer.precision='bf17': expected .*'bf16-mixed'"),
])
def test_wrong_value_types_name_the_key(tiny_lines, tmp_path, override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        _train(tiny_lines, tmp_path, [override])
    report = json.loads((tmp_path / "run" / "training_report.json").read_text())
    assert report["status"] == "failed" and "expected" in report["error"]


def test_line_too_narrow_for_its_label_is_counted(tiny_lines, tmp_path, caplog):
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (1, 1), "white").save(data / "tiny.png")
    lines = (tiny_lines / "train.txt").read_text(encoding="utf-8").splitlines()[:15]
    rows = [f"{tiny_lines / line.split(chr(9))[0]}\t{line.split(chr(9))[1]}" for line in lines]
    (data / "train.txt").write_text("\n".join([*rows, "tiny.png\tabcdefghijklmnopqrstuvwxyz"]) + "\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="ocrlab"):
        _train(tiny_lines, tmp_path, [f"data.data_dir={data}", "data.train_files=[train.txt]",
                                      f"data.val_files=[{tiny_lines / 'val.txt'}]", "data.test_files=[]",
                                      "trainer.max_epochs=1"])
    report = json.loads((tmp_path / "run" / "training_report.json").read_text())
    assert report["sample_warnings"] == {"ctc_line_too_narrow_for_label": 1}
    # the warning names the image and both numbers: the CTC steps its width gives, the label's length
    warned = [r.getMessage() for r in caplog.records if "too narrow" in r.getMessage()]
    assert len(warned) == 1 and "tiny.png" in warned[0], caplog.text[-2000:]
    assert re.search(r": \d+ CTC steps? for a label of 26 characters", warned[0]), warned[0]
    assert report["test_skipped"] and report["status"] == "success"


def test_bf16_mixed_precision_on_cpu(tiny_lines, tmp_path):
    metrics, objects = _train(tiny_lines, tmp_path, ["debug=fdr", "trainer.precision=bf16-mixed"])
    assert objects["trainer"].precision == "bf16-mixed"
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
