"""The README's own-data commands run to the end on small valid datasets of their kind, and
never generate or substitute data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import compose_config, run_cli, run_overrides

from ocrlab.errors import DatasetError
from ocrlab.text import Charset
from ocrlab.training import train

SHORT = ["trainer.max_epochs=1", "data.batch_size=4"]


@pytest.fixture(scope="module")
def own_lines(tiny_lines, tmp_path_factory) -> Path:
    """A user's folder: two train label files, a val and a test file, images beside them."""
    root = tmp_path_factory.mktemp("own")
    rows = [line for name in ("train.txt", "val.txt") for line in (tiny_lines / name).read_text("utf-8").splitlines()]
    (root / "img").mkdir()
    out = []
    for i, row in enumerate(rows[:40]):
        path, label = row.split("\t")
        shutil.copy(tiny_lines / path, root / "img" / f"{i:03d}.png")
        out.append(f"img/{i:03d}.png\t{label}")
    for name, part in (("a.txt", out[:14]), ("b.txt", out[14:28]), ("val.txt", out[28:34]), ("test.txt", out[34:])):
        (root / name).write_text("\n".join(part) + "\n", encoding="utf-8")
    return root


def _run(tmp_path: Path, overrides: list[str]):
    cfg = compose_config("train", [*run_overrides(tmp_path / "logs"), *SHORT, *overrides], tmp_path / "run")
    metrics, objects = train(cfg)
    report = json.loads((tmp_path / "run" / "training_report.json").read_text())
    assert report["status"] == "success", report.get("error")
    return metrics, objects, report


def _paddle(root: Path) -> list[str]:
    return ["data=paddle_labels", f"data.data_dir={root}", "data.train_files=[a.txt,b.txt]",
            "data.val_files=[val.txt]", "data.test_files=[test.txt]"]


def test_paddle_label_files_several_per_split(own_lines, tmp_path):
    metrics, _, report = _run(tmp_path, _paddle(own_lines))
    assert report["samples"] == {"train": 28, "val": 6, "test": 6}
    assert report["splits"]["train"] == [str(own_lines / "a.txt"), str(own_lines / "b.txt")]
    assert "test/cer" in metrics
    assert sorted(p.name for p in own_lines.iterdir()) == ["a.txt", "b.txt", "img", "test.txt", "val.txt"]


def test_paddle_dict_charset(own_lines, tmp_path):
    symbols = sorted({c for name in ("a.txt", "b.txt", "val.txt", "test.txt")
                      for line in (own_lines / name).read_text("utf-8").splitlines() for c in line.split("\t")[1]})
    (tmp_path / "dict.txt").write_text("\n".join(s for s in symbols if s != " ") + "\n", encoding="utf-8")
    _, objects, _ = _run(tmp_path, [*_paddle(own_lines), "model/charset=paddle_dict",
                                    f"model.charset.path={tmp_path / 'dict.txt'}"])
    assert set(objects["model"].charset.symbols) == set(symbols) | {" "}


def test_vocabulary_from_label_files_charset(own_lines, tmp_path):
    _, objects, _ = _run(tmp_path, [*_paddle(own_lines), "data.val_files=[a.txt]", "data.test_files=[a.txt]",
                                    "model/charset=from_label_files"])
    texts = [line.split("\t")[1] for name in ("a.txt", "b.txt")
             for line in (own_lines / name).read_text("utf-8").splitlines()]
    assert objects["model"].charset == Charset.from_texts(texts)


def test_correction_samples_train_to_the_end(own_lines, tmp_path):
    corr = tmp_path / "corr"
    corr.mkdir()
    for i, line in enumerate((own_lines / "a.txt").read_text("utf-8").splitlines()[:12]):
        path, label = line.split("\t")
        shutil.copy(own_lines / path, corr / f"s{i:02d}.PNG")
        (corr / f"s{i:02d}.json").write_text(json.dumps({"corrected_text": label}, ensure_ascii=False), "utf-8")
    _, _, report = _run(tmp_path, ["data=correction_samples", f"data.correction_samples_dir={corr}"])
    assert report["samples"]["train"] + report["samples"]["val"] == 12
    assert "no test split" in report["test_skipped"]


def test_image_annotation_dirs_beside_a_label_file_train_with_augmentation(own_lines, tmp_path):
    """data=image_annotation_dirs: a train folder plus a label file, a val folder; trains with the
    augmentation on, and the learned charset is the vocabulary of both training sources."""
    folders = tmp_path / "folders"
    a_lines = (own_lines / "a.txt").read_text("utf-8").splitlines()
    for split, lines in (("train", a_lines), ("val", a_lines[:6])):  # val: only characters the train split has
        for line in lines:
            path, label = line.split("\t")
            stem = Path(path).stem
            (folders / split / "images").mkdir(parents=True, exist_ok=True)
            (folders / split / "annotations").mkdir(parents=True, exist_ok=True)
            shutil.copy(own_lines / path, folders / split / "images" / f"{stem}.png")
            (folders / split / "annotations" / f"{stem}.txt").write_text(label + "\n", encoding="utf-8")
    _, objects, report = _run(tmp_path, ["data=image_annotation_dirs", f"data.data_dir={folders}",
                                         "data.train_dirs=[train]", "data.val_dirs=[val]",
                                         f"data.train_files=[{own_lines / 'b.txt'}]", "data.augment.enabled=true",
                                         "model/charset=from_label_files"])
    assert report["samples"] == {"train": 28, "val": 6}
    assert report["splits"]["train"] == [str(own_lines / "b.txt"), str(folders / "train")]
    assert report["hyperparameters"]["data"]["augment"]["enabled"] is True
    texts = [line.split("\t")[1] for name in ("a.txt", "b.txt")
             for line in (own_lines / name).read_text("utf-8").splitlines()]
    assert objects["model"].charset == Charset.from_texts(texts)
    assert objects["datamodule"].datasets["train"].augment is not None
    assert objects["datamodule"].datasets["val"].augment is None


def test_misspelt_data_dir_is_named_and_nothing_is_generated(own_lines, tmp_path):
    typo = tmp_path / "own_lnies"
    cfg = compose_config("train", [*run_overrides(tmp_path / "logs"), *SHORT, *_paddle(own_lines),
                                   f"data.data_dir={typo}"], tmp_path / "run")
    with pytest.raises(DatasetError, match="own_lnies does not exist"):
        train(cfg)
    assert not typo.exists()


def test_paddle_labels_without_files_is_hydras_missing_value(tmp_path):
    out = run_cli(["train.py", "data=paddle_labels", *run_overrides(tmp_path / "logs")], timeout=120)
    assert out.returncode != 0
    assert "Missing mandatory value" in out.stderr and "data_dir" in out.stderr
    assert not list((tmp_path / "logs").rglob("*.ckpt"))


@pytest.mark.parametrize("data", ["thai_lines", "thai_lines_short", "business_docs", "business_docs_cpu",
                                  "invoice_pairs"])
def test_data_that_generates_reads_only_what_exists_once_generation_is_off(data, tmp_path):
    """What evaluation does with any data config: nothing generated into a missing dir, and the
    test split is either an error naming the dir or absent with a message saying what was expected."""
    from hydra.utils import instantiate

    typo = tmp_path / "typo"
    key = "pairs_dir" if data == "invoice_pairs" else "data_dir"
    cfg = compose_config("train", [f"data={data}", f"data.{key}={typo}", *run_overrides(tmp_path / "logs")],
                         tmp_path / "run")
    assert cfg.data.synth, f"data={data} no longer generates: drop it from this test"
    datamodule = instantiate(cfg.data)
    datamodule.disable_generation()
    try:
        datamodule.prepare_splits(["test"])
    except DatasetError as e:
        assert str(typo) in str(e)
    else:
        assert not datamodule.has_split("test")
        assert str(typo) in datamodule.missing_split_error("test")
    assert not typo.exists()
