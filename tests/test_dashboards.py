"""What a run shows people: training curves and test reports in reports/, and W&B offline runs
holding the line images in their sample tables."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_overrides

from ocrlab.config import compose_config
from ocrlab.training import train


def _run(tiny_lines, tmp_path, extra: list[str]):
    overrides = [*(o for o in tiny_overrides(tiny_lines, tmp_path / "logs") if not o.startswith("logger=")),
                 "experiment=crnn_thai_cpu", "trainer.max_epochs=-1", "trainer.max_steps=6",
                 "trainer.val_check_interval=3", "trainer.check_val_every_n_epoch=null",
                 "trainer.log_every_n_steps=2", *extra]
    return train(compose_config("train", overrides, tmp_path / "run"))


def test_curves_and_test_report_in_reports(tiny_lines, tmp_path):
    _run(tiny_lines, tmp_path, ["logger=csv"])
    reports = tmp_path / "run" / "reports"
    curves = json.loads((reports / "training_curves.json").read_text())
    assert [s for s, _ in curves["train"]["train/loss"]] == [1, 2, 4, 6]
    assert [s for s, _ in curves["val"]["val/cer"]] == [3, 6]
    assert "train/lr" in curves["train"] and (reports / "training_curves.png").stat().st_size > 5000
    assert all(v > 0 for _, v in curves["train"]["train/samples_per_s"])
    by_length = json.loads((reports / "cer_by_length.json").read_text())
    assert sum(b["lines"] for b in by_length) == 16  # every test line in one bucket
    assert (reports / "cer_by_length.png").is_file()


@pytest.mark.parametrize("wandb_mode", ["offline"])
def test_wandb_offline_run_holds_line_images_and_plots(tiny_lines, tmp_path, monkeypatch, wandb_mode):
    monkeypatch.setenv("WANDB_MODE", wandb_mode)
    _run(tiny_lines, tmp_path, ["logger=wandb"])
    (files,) = (tmp_path / "run").glob("wandb/offline-run-*/files")
    tables = {p.parent.name + "/" + p.name.split("_")[0] for p in files.glob("media/table/*/*.table.json")}
    assert {"val/samples", "test/worst"} <= tables, tables
    worst = json.loads(next(files.glob("media/table/test/worst_lines_*.table.json")).read_text())
    assert worst["columns"] == ["image", "reference", "prediction", "errors", "cer"] and len(worst["data"]) == 16
    assert len(list(files.glob("media/images/**/*.png"))) == 2  # training curves, CER by length
    # the tables themselves, images included, are staged as artifacts inside the run dir
    staged = [p.read_bytes() for p in (tmp_path / "run" / "wandb" / "data").rglob("staging/*")]
    tables = [json.loads(b) for b in staged if b.startswith(b"{") and b'"_type": "table"' in b]
    assert any(t["columns"][0] == "image" and t["data"][0][0]["_type"] == "image-file" for t in tables)
    assert sum(b.startswith(b"\x89PNG") for b in staged) >= 16  # the line images


@pytest.mark.parametrize("experiment", ["crnn_thai_cpu", "layoutlmv3_multitask_cpu", "trocr_teacher_cpu",
                                        "paddleocr_vl_lora_cpu"])
def test_log_model_logs_checkpoints_and_export_as_artifacts(experiment, request, tmp_path, monkeypatch):
    """Every family: best and last checkpoints and the family's export (its metadata file and
    weights) staged as W&B artifacts, with the run's config."""
    from conftest import experiment_overrides

    monkeypatch.setenv("WANDB_MODE", "offline")
    overrides = [o for o in experiment_overrides(experiment, request, tmp_path / "logs") if not o.startswith("logger=")]
    train(compose_config("train", [*overrides, "logger=wandb", "logger.wandb.log_model=true", "test=false",
                                   "trainer.max_epochs=1"], tmp_path / "run"))
    run = tmp_path / "run"
    staged = {p.read_bytes() for p in (run / "wandb" / "data").rglob("staging/*")}
    exported = [p for p in (run / "export").rglob("*") if p.is_file()]
    assert (run / "export" / "ocrlab_model.json") in exported and len(exported) > 1
    for path in (run / "checkpoints" / "best.ckpt", run / "checkpoints" / "last.ckpt", run / "config.yaml",
                 *exported):
        assert path.read_bytes() in staged, path


def test_log_model_with_the_csv_logger_is_a_clear_error(tmp_path):
    from conftest import run_cli

    out = run_cli(["train.py", "logger=csv", "logger.wandb.log_model=true", f"paths.log_dir={tmp_path}"], timeout=120)
    assert out.returncode != 0
    assert "logger.wandb.log_model" in out.stderr and "wandb" in out.stderr.split("logger.wandb.log_model")[-1]


def test_testing_the_best_checkpoint_keeps_the_whole_history(tiny_lines, tmp_path):
    """The test phase restores best.ckpt's callback states: the report and the curves must still
    end where training ended, not at the best validation."""
    _run(tiny_lines, tmp_path, ["logger=csv", "trainer.max_steps=12", "trainer.val_check_interval=2",
                                "callbacks.model_checkpoint.mode=max"])  # best = the worst CER: an early one
    report = json.loads((tmp_path / "run" / "training_report.json").read_text())
    assert report["history"][-1]["step"] == report["global_step"] == 12
    assert report["best_metrics"]["step"] < 12 or len({h["val/cer"] for h in report["history"]}) == 1
    curves = json.loads((tmp_path / "run" / "reports" / "training_curves.json").read_text())
    assert curves["val"]["val/cer"][-1][0] == 12


def test_document_model_logs_confusion_matrices_field_f1_and_drawn_pages(tiny_docs, tmp_path, monkeypatch):
    from conftest import tiny_doc_overrides

    monkeypatch.setenv("WANDB_MODE", "offline")
    overrides = [*(o for o in tiny_doc_overrides(tiny_docs, tmp_path / "logs") if not o.startswith("logger=")),
                 "experiment=layoutlmv3_multitask_cpu", "logger=wandb", "trainer.max_steps=-1"]
    train(compose_config("train", overrides, tmp_path / "run"))
    (files,) = (tmp_path / "run").glob("wandb/offline-run-*/files")
    plots = {p.name.split("_table")[0] for p in files.glob("media/table/test/*confusion_matrix_table*.table.json")}
    assert "doc_type_confusion_matrix" in plots, sorted(p.name for p in files.rglob("*.json"))
    confusion = json.loads(next(files.glob("media/table/test/doc_type_confusion_matrix_table*.table.json")).read_text())
    assert sum(row[-1] for row in confusion["data"]) == 4  # W&B's (actual, predicted, n) rows: the 4 test pages
    assert (tmp_path / "run" / "reports" / "field_f1.png").is_file()
    pages = sorted((tmp_path / "run" / "reports" / "pages").glob("*.png"))
    assert len(pages) == 4  # every test page drawn with its predicted fields
    from PIL import Image

    with Image.open(pages[0]) as img:  # boxes in the right/wrong/missed colours were drawn
        colours = {c for _, c in img.convert("RGB").getcolors(1 << 20)}
    assert colours & {(0, 150, 60), (220, 30, 30), (245, 150, 0)}
    table = json.loads(next(files.glob("media/table/test/pages_*.table.json")).read_text())
    assert table["columns"][0] == "page" and len(table["data"]) == 4
