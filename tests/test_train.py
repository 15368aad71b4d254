"""The training pipeline in-process: every experiment, overfitting, exact resume, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import CONF, compose_config, tiny_overrides

from ocrlab.lightning_modules import build_model
from ocrlab.metrics import score_texts
from ocrlab.text import Charset, CharsetError
from ocrlab.training import train

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def _train(tiny_lines: Path, tmp_path: Path, overrides: list[str], name: str = "run"):
    cfg = compose_config("train", tiny_overrides(tiny_lines, tmp_path / "logs") + overrides, tmp_path / name)
    return train(cfg)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_fast_dev_run(experiment, tiny_lines, tmp_path):
    metrics, _ = _train(tiny_lines, tmp_path, [f"experiment={experiment}", "debug=fdr"])
    for key in ("train/loss", "val/cer", "test/cer", "test/wer", "test/acc", "test/ned", "test/ms_per_line"):
        assert key in metrics, key
    report = json.loads((tmp_path / "run" / "training_report.json").read_text())
    assert report["status"] == "success"
    assert report["samples"]["train"] == 48 and report["hyperparameters"]["seed"] == 42
    assert (tmp_path / "run" / "config.yaml").is_file()


def test_default_model_overfits_one_batch(tiny_lines, tmp_path):
    cfg = compose_config("train", tiny_overrides(tiny_lines, tmp_path / "logs"), tmp_path / "run")
    torch.manual_seed(0)
    charset = Charset.thai()
    from hydra.utils import instantiate

    dm = instantiate(cfg.data, charset=charset)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    model = build_model(cfg.model, charset)
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


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_resume_from_last_matches_uninterrupted_run(tiny_lines, tmp_path):
    common = ["trainer.max_epochs=3", "trainer.deterministic=true", "test=false"]
    _train(tiny_lines, tmp_path, common, "straight")
    _train(tiny_lines, tmp_path, [*common, "+callbacks.stop._target_=conftest.StopAfterEpochs",
                                  "+callbacks.stop.epochs=1"], "first_leg")
    last = tmp_path / "first_leg" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 0
    _train(tiny_lines, tmp_path, [*common, f"ckpt_path={last}"], "resumed")
    straight = _weights(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    resumed = _weights(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert straight.keys() == resumed.keys()
    for k in straight:
        assert torch.equal(straight[k], resumed[k]), k
    report = json.loads((tmp_path / "resumed" / "training_report.json").read_text())
    assert [h["epoch"] for h in report["history"]] == [0, 1, 2]


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
        _train(tiny_lines, tmp_path, ["charset=paddle_dict", f"charset.path={other}", "test=false",
                                      f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.ckpt'}"], "second")


def test_missing_ckpt_path_is_a_clear_error(tiny_lines, tmp_path):
    with pytest.raises(FileNotFoundError, match="ckpt_path .*nope.ckpt does not exist"):
        _train(tiny_lines, tmp_path, [f"ckpt_path={tmp_path / 'nope.ckpt'}"])


def test_bf16_mixed_precision_on_cpu(tiny_lines, tmp_path):
    metrics, objects = _train(tiny_lines, tmp_path, ["debug=fdr", "trainer.precision=bf16-mixed"])
    assert objects["trainer"].precision == "bf16-mixed"
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
