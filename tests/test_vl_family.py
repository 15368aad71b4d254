"""The PaddleOCR-VL family end to end: LoRA scoping, exports (adapter and merged), evaluation
rows that mining reads, the callbacks of a training run, bad inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from conftest import compose_config, model_and_data, tiny_pair_overrides

from ocrlab.callbacks.test_reports import write_report
from ocrlab.errors import ConfigError
from ocrlab.loading import export_model, load_model


def _module_and_data(pairs: Path, tmp_path: Path, extra: list[str]):
    overrides = [*tiny_pair_overrides(pairs, tmp_path / "logs"), "experiment=paddleocr_vl_lora_cpu",
                 "model.generation.max_new_tokens=256", *extra]
    cfg = compose_config("train", overrides, tmp_path / "run")
    torch.manual_seed(0)
    return model_and_data(cfg)


def _save_ckpt(model, tmp_path: Path) -> Path:
    """A checkpoint file as the trainer writes it (weights + ocrlab metadata)."""
    path = tmp_path / "base.ckpt"
    ckpt = {"state_dict": model.state_dict()}
    model.on_save_checkpoint(ckpt)
    torch.save(ckpt, path)
    return path


def test_merged_export_is_a_plain_transformers_model_with_the_adapted_outputs(tiny_pairs, tmp_path):
    from transformers import PaddleOCRVLForConditionalGeneration

    model, dm = _module_and_data(tiny_pairs, tmp_path, ["model.lora.dropout=0.0"])
    with torch.no_grad():  # adapters away from their zero init: merging must change the weights
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    batch = dm.collate([dm.datasets["train"][i] for i in range(2)])
    with torch.no_grad():
        expected = model.net(**model._inputs(batch)).logits
    ckpt = _save_ckpt(model, tmp_path)
    merged_dir = export_model(ckpt, tmp_path / "merged", merge=True)
    plain = PaddleOCRVLForConditionalGeneration.from_pretrained(str(merged_dir / "model"), local_files_only=True)
    assert not any("lora" in n for n, _ in plain.named_parameters())
    with torch.no_grad():
        merged = plain.eval()(**model._inputs(batch)).logits
    assert torch.allclose(merged, expected, atol=1e-5)
    # the adapter export reloads to the same outputs too (base written beside it: no pretrained dir)
    adapter_dir = export_model(ckpt, tmp_path / "adapter")
    assert (adapter_dir / "adapter" / "adapter_config.json").is_file()
    with torch.no_grad():
        again = load_model(adapter_dir).net(**model._inputs(batch)).logits
    assert torch.allclose(again, expected, atol=1e-5)


def test_lora_targets_that_match_nothing_list_the_layers(tiny_pairs, tmp_path):
    with pytest.raises(ConfigError, match=r"matches no Linear layer.*language_model\.layers\.N\.self_attn\.q_proj"):
        _module_and_data(tiny_pairs, tmp_path, ["model.lora.target_modules=nothing_here"])


def test_evaluate_writes_rows_that_mining_reads(tiny_pairs, tmp_path):
    from conftest import run_cli

    from ocrlab.families.paddleocr_vl.mining import analyse

    model, _ = _module_and_data(tiny_pairs, tmp_path, [])
    ckpt = _save_ckpt(model, tmp_path)
    out = run_cli(["evaluate.py", "experiment=paddleocr_vl_lora_cpu", f"ckpt_path={ckpt}",
                   f"data.pairs_dir={tiny_pairs}", "model.generation.max_new_tokens=8", f"paths.log_dir={tmp_path}"])
    assert out.returncode == 0, out.stderr[-3000:]
    run = next((tmp_path / "eval" / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"test/field_accuracy", "test/teds", "test/field_f1", "test/numeric_consistency",
            "test/overall_score"} <= set(metrics)
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 5 and {r["task"] for r in rows} == {"full", "vendor", "client", "line_items", "summary"}
    report = json.loads((run / "reports" / "extraction_report.json").read_text())
    assert set(report["breakdown"]) >= {"fields", "hard_kinds", "locales", "currencies"}
    # a bar chart per breakdown: accuracy per field, field accuracy per hard kind (and locale, ...)
    plots = {p.name for p in (run / "reports").glob("*.png")}
    assert {"accuracy_by_fields.png", "field_accuracy_by_hard_kinds.png"} <= plots
    # the rows are what ocrlab-mine reads: ids are the ground truth's file stems
    analysis = analyse([{"id": r["id"], "task": r["task"], "prediction": r["prediction"]} for r in rows],
                       tiny_pairs.parent / "invoices")
    assert analysis["summary"]["documents"] == 1 and analysis["hard_samples"]


def test_training_writes_adapters_and_a_mining_plan_after_validation(tiny_pairs, tmp_path):
    from ocrlab.synth.plan import parse_plan
    from ocrlab.training import train

    overrides = [*tiny_pair_overrides(tiny_pairs, tmp_path / "logs"), "experiment=paddleocr_vl_lora_cpu",
                 "trainer.max_epochs=1", "test=false"]
    metrics, _ = train(compose_config("train", overrides, tmp_path / "run"))
    assert {"val/overall_score", "val/field_accuracy", "base/overall_score"} <= set(metrics)
    analysis = json.loads((tmp_path / "run" / "hard_samples_analysis.json").read_text())
    assert {"hard_samples", "synthesis_plan", "error_patterns"} <= set(analysis)
    parse_plan(analysis["synthesis_plan"])  # what ocrlab-synth invoices --plan accepts
    assert list((tmp_path / "run" / "mining").glob("hard_samples_step*.json"))
    for name in ("best", "last"):
        assert (tmp_path / "run" / "exports" / name / "adapter" / "adapter_config.json").is_file()
    base_scores = json.loads((tmp_path / "run" / "reports" / "base_model_scores.json").read_text())
    # the base's scores reach the loggers at step 0 (where a dashboard shows "before fine-tuning")
    with open(tmp_path / "run" / "csv" / "metrics.csv", newline="") as f:
        logged = [r for r in csv.DictReader(f) if r.get("base/overall_score")]
    assert [int(r["step"]) for r in logged] == [0]
    assert float(logged[0]["base/overall_score"]) == pytest.approx(base_scores["base/overall_score"])
    assert metrics["base/overall_score"] == pytest.approx(base_scores["base/overall_score"])


def test_repeat_stop_ends_loops_and_leaves_other_answers_alone():
    from ocrlab.lightning_modules.generation import RepeatStop

    prompt = [7, 7, 7, 7]  # repeats in the prompt do not count
    rows = torch.tensor([
        prompt + [1, 2, 3, 1, 2, 3, 1, 2, 3],  # a 3-token block three times: a loop
        prompt + [5, 5, 5, 4, 5, 5, 5, 6, 6],  # repeats, but no block three times in a row at the end
        prompt + [9, 8, 9, 9, 9, 9, 4, 4, 4],  # one token three times: a loop
    ])
    assert RepeatStop(3, len(prompt))(rows).tolist() == [True, False, True]
    assert RepeatStop(4, len(prompt))(rows).tolist() == [False, False, False]
    with pytest.raises(ConfigError, match="repeat_stop"):
        RepeatStop(1, 0)


def test_images_below_the_processors_minimum_are_named(tiny_pairs, tmp_path):
    from ocrlab.errors import DatasetError

    big = ["model.processor.min_pixels=20000000", "model.processor.max_pixels=30000000"]
    with pytest.raises(DatasetError, match=r"train\.jsonl: \d+ image\(s\) smaller than .* 20000000 pixels.*_p1\.jpg"):
        _module_and_data(tiny_pairs, tmp_path / "a", big)
    _, dm = _module_and_data(tiny_pairs, tmp_path / "b", [*big, "data.small_images=upscale"])
    assert len(dm.datasets["train"]) > 0  # the processor enlarges them instead


def test_test_reports_send_answers_with_their_images_and_each_breakdown_to_table_loggers(tiny_pairs, tmp_path):
    from pytorch_lightning.loggers import WandbLogger

    from ocrlab.loggers import table_image

    model, dm = _module_and_data(tiny_pairs, tmp_path, ["model.generation.max_new_tokens=4"])
    model.eval()
    rows = model._score(dm.collate_eval([dm.datasets["val"][i] for i in range(2)]))

    class TableLogger:
        def __init__(self):
            self.tables = {}

        def log_table(self, key, columns, data):
            self.tables[key] = (columns, data)

    logger = TableLogger()
    write_report(model.build_test_report(model._records), tmp_path / "reports", [logger])
    columns, data = logger.tables["test/answers"]
    assert columns == ["image", "id", "task", "prediction", "truth", "errors"] and len(data) == 2
    assert [d[0] for d in data] == [r["images"][0] for r in rows]  # the page each answer was read from
    assert [d[3] for d in data] == [r["prediction"] for r in rows]
    report = json.loads((tmp_path / "reports" / "extraction_report.json").read_text())
    for name, table in report["breakdown"].items():
        columns, data = logger.tables[f"test/by_{name}"]
        assert columns[0] == name and [d[0] for d in data] == list(table)
    # W&B gets the image itself
    wandb_logger = WandbLogger(offline=True, save_dir=str(tmp_path / "wandb"))
    image = table_image(wandb_logger, rows[0]["images"][0])
    assert type(image).__name__ == "Image" and table_image(wandb_logger, None) is None
