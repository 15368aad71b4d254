"""``evaluate.py ckpt_path=A compare=[B,...] [baseline=tesseract]``: several models in one table."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest
from conftest import compose_config, tiny_overrides

from ocrlab.comparison import row_names
from ocrlab.errors import CheckpointError, ConfigError, DatasetError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FIXTURES = Path(__file__).parent / "fixtures" / "pre_family_folders"
HAS_TESSERACT = shutil.which("tesseract") is not None


@pytest.fixture(scope="module")
def two_models(tiny_lines, tmp_path_factory) -> dict[str, Path]:
    """Two tiny CRNNs of different sizes and input heights, one epoch each: the default
    experiment's (MobileNetV3-small, 48 px) and crnn_thai_dev's (MobileNetV3-large + BiLSTM, 32 px)."""
    from ocrlab.training import train

    root = tmp_path_factory.mktemp("compare")
    runs = {"crnn_small": ["experiment=crnn_thai_cpu"],
            "crnn_large": ["experiment=crnn_thai_dev", "model.input.height=32"]}
    for name, extra in runs.items():
        train(compose_config("train", [*tiny_overrides(tiny_lines, root / "logs"), *extra,
                                       "trainer.max_epochs=1", "test=false"], root / name))
    return {name: root / name / "checkpoints" / "last.ckpt" for name in runs}


def _evaluate(tiny_lines: Path, out: Path, ckpt: Path, *overrides: str):
    from ocrlab.evaluation import evaluate

    cfg = compose_config("evaluate", ["experiment=crnn_thai_cpu", f"ckpt_path={ckpt}", "data.synth=null",
                                      f"data.test_files=[{tiny_lines / 'test.txt'}]", "data.batch_size=4",
                                      f"paths.log_dir={out.parent / 'logs'}", *overrides], out)
    return evaluate(cfg)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_row_names_are_run_dirs_stems_or_dir_names_made_unique(tmp_path):
    run = tmp_path / "2026-01-02_03-04-05_abc123" / "checkpoints"
    run.mkdir(parents=True)
    for f in ("best.ckpt", "last.ckpt"):
        (run / f).write_bytes(b"")
    (tmp_path / "exports" / "crnn_thai").mkdir(parents=True)
    (tmp_path / "model_a.ckpt").write_bytes(b"")
    paths = [str(run / "best.ckpt"), str(tmp_path / "exports" / "crnn_thai"), str(tmp_path / "model_a.ckpt")]
    assert row_names(paths) == ["2026-01-02_03-04-05_abc123", "crnn_thai", "model_a"]
    # best and last of one run: the run's name and the file's; the same model twice: numbered
    assert row_names([str(run / "best.ckpt"), str(run / "last.ckpt"), "tesseract"]) == \
        ["2026-01-02_03-04-05_abc123-best", "2026-01-02_03-04-05_abc123-last", "tesseract"]
    assert row_names([str(run / "best.ckpt")] * 2) == \
        ["2026-01-02_03-04-05_abc123-1", "2026-01-02_03-04-05_abc123-2"]


def test_compare_two_models_and_tesseract_in_one_table(two_models, tiny_lines, tmp_path):
    import torch
    from PIL import Image

    from ocrlab.loading import load_model

    small, large = two_models["crnn_small"], two_models["crnn_large"]
    out = tmp_path / "eval"
    baseline = ["baseline=tesseract"] if HAS_TESSERACT else []
    _, objects = _evaluate(tiny_lines, out, small, f"compare=[{large}]", "logger=wandb", *baseline)

    table = json.loads((out / "comparison.json").read_text())
    rows = table["rows"]
    assert [r["name"] for r in rows] == ["crnn_small", "crnn_large", *(["tesseract"] if HAS_TESSERACT else [])]
    assert [r["path"] for r in rows[:2]] == [str(small), str(large)]
    assert [r["model_class"] for r in rows[:2]] == ["CTCRecognizer", "CTCRecognizer"]
    assert table["reference"] == "crnn_small" and table["lines"] == 16
    assert table["test_files"] == [str(tiny_lines / "test.txt")]
    assert all(r["lines"] == 16 for r in rows)

    # the first row is the model's own evaluation; the second is what evaluating it alone gives
    first = json.loads((out / "metrics.json").read_text())
    assert (rows[0]["cer"], rows[0]["wer"], rows[0]["line_accuracy"]) == \
        (first["test/cer"], first["test/wer"], first["test/acc"])
    alone, _ = _evaluate(tiny_lines, tmp_path / "alone", large)
    assert rows[1]["cer"] == pytest.approx(alone["test/cer"], abs=1e-9)
    assert rows[1]["wer"] == pytest.approx(alone["test/wer"], abs=1e-9)
    second = json.loads((out / "compare" / "crnn_large" / "metrics.json").read_text())
    assert second["test/cer"] == rows[1]["cer"] and second["test/lines"] == 16
    # the same 16 lines, each read through the model's own input spec (48 vs 32 px)
    preds = {name: _jsonl(out / sub / "predictions.jsonl") for name, sub in (("small", "."), ("large", "compare/crnn_large"))}
    assert sorted(r["image"] for r in preds["small"]) == sorted(r["image"] for r in preds["large"])
    assert len(preds["large"]) == 16

    assert "delta_cer" not in rows[0] and "speed_ratio" not in rows[0]
    for row in rows[1:]:
        for col in ("cer", "wer", "line_accuracy"):
            assert row[f"delta_{col}"] == pytest.approx(row[col] - rows[0][col], abs=1e-12)
        assert row["speed_ratio"] == pytest.approx(row["lines_per_s"] / rows[0]["lines_per_s"])
    for row, path in zip(rows, (small, large), strict=False):
        assert row["parameters"] == sum(p.numel() for p in load_model(path).parameters())
    assert rows[0]["parameters"] < rows[1]["parameters"]
    # speed: lines over their seconds; p50 the median of each batch's ms per line (4 batches of 4)
    comparison = objects["comparison"]
    run = comparison.runs["crnn_large"][0]
    assert len(run.batches) == 4 and sum(n for _, n in run.batches) == 16
    assert rows[1]["p50_ms_per_line"] == pytest.approx(statistics.median(1000 * s / n for s, n in run.batches))
    assert rows[1]["lines_per_s"] == pytest.approx(16 / sum(s for s, _ in run.batches))
    for row in rows:
        assert row["lines_per_s"] == pytest.approx(row["lines"] / row["seconds"]) and row["p50_ms_per_line"] > 0

    if HAS_TESSERACT:
        tess = json.loads((out / "metrics_tesseract.json").read_text())
        assert rows[2]["kind"] == "baseline" and rows[2]["parameters"] is None
        assert rows[2]["cer"] == tess["test/cer"] < 0.5 and rows[2]["line_accuracy"] == tess["test/acc"]
        assert rows[2]["delta_cer"] == pytest.approx(tess["test/cer"] - rows[0]["cer"])

    md = (out / "comparison.md").read_text(encoding="utf-8").splitlines()
    body = [line for line in md if line.startswith("| ") and not line.startswith("| name")]
    assert [line.split(" | ")[0] for line in body] == [f"| {r['name']}" for r in rows]
    assert f"{rows[1]['delta_cer']:+.4f}" in body[1] and f"{rows[1]['parameters']:,}" in body[1]
    assert "(reference)" in body[0]
    with Image.open(out / "comparison.png") as png:
        assert png.format == "PNG" and png.width >= 600

    # the W&B table (offline run in the run dir): one row per model, the same values
    wandb_tables = list(out.glob("wandb/offline-run-*/files/media/table/comparison_*.table.json"))
    assert len(wandb_tables) == 1
    logged = json.loads(wandb_tables[0].read_text())
    assert [r[logged["columns"].index("name")] for r in logged["data"]] == [r["name"] for r in rows]
    assert [r[logged["columns"].index("cer")] for r in logged["data"]] == [r["cer"] for r in rows]
    assert torch.get_num_threads() == 1  # the module's thread setting was left alone


def _assert_nothing_written(out: Path) -> None:
    written = [p.name for p in out.iterdir()] if out.exists() else []
    assert not {"config.yaml", "metrics.json", "comparison.json", "compare"} & set(written), written


@pytest.mark.parametrize(
    ("first", "compare", "error", "pattern"),
    [("{small}", "{large}", ConfigError, r"compare must be a list .* write compare=\[.*last\.ckpt\]"),
     ("{small}", "[{tmp}/nope.ckpt]", ConfigError, r"compare entry .*nope\.ckpt does not exist"),
     ("{small}", "[{fixtures}/layoutlmv3/model.ckpt]", ConfigError,
      (r"compare entry .*layoutlmv3/model\.ckpt holds a LayoutLMv3Multitask, a model of the task 'documents', "
       r"but the first model .* a CTCRecognizer\) serves 'text_lines'")),
     ("{small}", "[{large},{fixtures}/paddleocr_vl/model.ckpt]", ConfigError,
      r"paddleocr_vl/model\.ckpt holds a PaddleOCRVL, a model of the task 'extraction'"),
     ("{fixtures}/layoutlmv3/model.ckpt", "[{small}]", ConfigError,
      (r"holds a CTCRecognizer, a model of the task 'text_lines', but the first model .* "
       r"a LayoutLMv3Multitask\) serves 'documents'")),
     ("{small}", "[{tmp}]", CheckpointError, r"compare entry .*: .* is not an ocrlab export")],
    ids=["string", "missing", "layoutlmv3", "vl-second-entry", "first-of-another-task", "not-a-model"],
)
def test_bad_compare_entries_fail_before_anything_is_scored(two_models, tiny_lines, tmp_path, first, compare,
                                                            error, pattern):
    paths = {"small": two_models["crnn_small"], "large": two_models["crnn_large"], "tmp": tmp_path,
             "fixtures": FIXTURES}
    out = tmp_path / "eval"
    with pytest.raises(error, match=pattern):
        _evaluate(tiny_lines, out, first.format(**paths), f"compare={compare.format(**paths)}")
    _assert_nothing_written(out)


def test_compare_refuses_quantize(two_models, tiny_lines, tmp_path):
    with pytest.raises(ConfigError, match="does not take quantize="):
        _evaluate(tiny_lines, tmp_path / "eval", two_models["crnn_small"], f"compare=[{two_models['crnn_large']}]",
                  "quantize=int8")
    _assert_nothing_written(tmp_path / "eval")


@pytest.fixture
def narrow_charset_export(tiny_lines, tmp_path) -> Path:
    """An untrained CRNN export whose charset has only the characters of half the test lines."""
    from ocrlab.loading import build_model, write_export

    labels = [line.split("\t", 1)[1] for line in (tiny_lines / "test.txt").read_text(encoding="utf-8").splitlines()]
    chars = sorted({c for label in labels[:8] for c in label} - {" "})
    assert any(set(label) - set(chars) - {" "} for label in labels[8:])  # some lines it cannot read
    (tmp_path / "dict.txt").write_text("\n".join(chars) + "\n", encoding="utf-8")
    cfg = compose_config("train", ["experiment=crnn_thai_cpu", "model/charset=paddle_dict",
                                   f"model.charset.path={tmp_path / 'dict.txt'}"], tmp_path / "build")
    return write_export(build_model(cfg.model), tmp_path / "narrow")


@pytest.mark.parametrize(("on_unknown", "pattern"), [
    ("error", r"compare entry .*narrow \(CTCRecognizer\): .*test\.txt.* has characters outside the charset"),
    ("skip", r"compare entry .*narrow \(CTCRecognizer\) reads \d+ test samples where the first model reads 16"),
])
def test_a_label_space_that_cannot_read_every_line_is_refused_before_scoring(two_models, narrow_charset_export,
                                                                             tiny_lines, tmp_path, on_unknown,
                                                                             pattern):
    out = tmp_path / "eval"
    with pytest.raises(DatasetError, match=pattern):
        _evaluate(tiny_lines, out, two_models["crnn_small"], f"compare=[{narrow_charset_export}]",
                  f"data.on_unknown_char={on_unknown}")
    assert not (out / "metrics.json").exists() and not (out / "comparison.json").exists()
