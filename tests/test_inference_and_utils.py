"""Inference API round trips, atomic writes and secret redaction."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import compose_config, tiny_overrides

from ocrlab.errors import CheckpointError
from ocrlab.inference import TextRecognizer
from ocrlab.loading import build_model, load_checkpoint, load_model
from ocrlab.text import Charset
from ocrlab.utils.io import atomic_write, atomic_write_json
from ocrlab.utils.secrets import REDACTED, is_secret_key, redact


@pytest.fixture
def recognizer(tiny_lines, tmp_path) -> TextRecognizer:
    # the seed-004 CRNN (MobileNetV3 + BiLSTM): the recurrent neck is what padding could leak into
    cfg = compose_config("train", ["experiment=crnn_thai", *tiny_overrides(tiny_lines, tmp_path / "logs")],
                         tmp_path / "run")
    torch.manual_seed(0)
    return TextRecognizer(build_model(cfg.model))


def test_export_reloads_identical_and_recognizes(recognizer, tiny_lines, tmp_path):
    images = sorted((tiny_lines / "images" / "test").glob("*.png"))[:5]
    before = recognizer.recognize(images, batch_size=2)
    export = recognizer.save(tmp_path / "export")
    assert sorted(p.name for p in export.iterdir()) == ["ocrlab_model.json", "weights.pt"]
    again = TextRecognizer.load(export)
    assert again.labels == recognizer.labels and again.input_spec == recognizer.input_spec
    assert again.recognize(images, batch_size=5) == before
    for k, v in recognizer.module.state_dict().items():
        assert torch.equal(v, again.module.state_dict()[k])
    with pytest.raises(FileExistsError, match="already exists"):
        recognizer.save(export)
    assert recognizer.save(export, overwrite=True) == export and TextRecognizer.load(export).labels == again.labels
    users = tmp_path / "users"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="replaces only an earlier export"):
        recognizer.save(users, overwrite=True)
    assert [p.name for p in users.iterdir()] == ["notes.txt"]  # nothing of the user's is lost or mixed in


def test_bad_checkpoints_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="nope.ckpt does not exist"):
        load_checkpoint(tmp_path / "nope.ckpt")
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(CheckpointError, match="not an ocrlab checkpoint"):
        load_checkpoint(plain)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="not an ocrlab export"):
        TextRecognizer.load(tmp_path)


def test_format_1_export_still_loads(recognizer, tiny_lines, tmp_path):
    """Exports written before the label space moved into the model config (charset beside it)."""
    export = recognizer.save(tmp_path / "new")
    meta = json.loads((export / "ocrlab_model.json").read_text())
    config = {k: v for k, v in meta["model_config"].items() if k != "charset"}
    old = {"format": 1, "charset": meta["charset"], "model_config": config}
    (export / "ocrlab_model.json").write_text(json.dumps(old))
    images = sorted((tiny_lines / "images" / "test").glob("*.png"))[:3]
    again = TextRecognizer.load(export)
    assert again.labels == Charset.thai() and again.recognize(images) == recognizer.recognize(images)


def test_loader_refuses_a_non_line_model_for_line_inference(tmp_path):
    meta = {"format": 2, "model_config": {"_target_": "torch.nn.Linear"}}
    (tmp_path / "ocrlab_model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="torch.nn.Linear' is not an ocrlab OcrModule"):
        load_model(tmp_path)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "report.json"
    atomic_write_json(target, {"a": 1})

    def explode(f):
        f.write(b'{"half": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, explode)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left


def _user_dir(path):
    """A folder of the user's own files (not an export): what ``--overwrite`` must never delete."""
    (path / "labels").mkdir(parents=True)
    (path / "notes.txt").write_text("notes\n")
    (path / "labels" / "train.txt").write_text("a.png\tb\n")
    return path


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_export_overwrite_replaces_only_an_earlier_export(recognizer, tmp_path):
    from ocrlab.cli import export_main
    from ocrlab.loading import export_model

    source = recognizer.save(tmp_path / "source")
    mine = _user_dir(tmp_path / "mine")
    refused = r"mine is not an ocrlab export \(no ocrlab_model.json in it; it holds labels/, notes.txt\)"
    for overwrite in (True, False):
        with pytest.raises(FileExistsError, match=refused):
            export_model(source, mine, overwrite=overwrite)
    with pytest.raises(SystemExit) as exited:
        export_main([str(source), "--output", str(mine), "--overwrite"])
    assert "ocrlab-export:" in str(exited.value.code) and "labels/, notes.txt" in str(exited.value.code)
    assert _tree(mine) == ["labels", "labels/train.txt", "notes.txt"]
    assert (mine / "notes.txt").read_text() == "notes\n" and (mine / "labels" / "train.txt").read_text() == "a.png\tb\n"
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(FileExistsError, match="afile exists and is not a directory"):
        export_model(source, afile, overwrite=True)
    assert afile.read_text() == "x"
    # an empty dir is written into; an earlier export is replaced with --overwrite only
    empty = tmp_path / "empty"
    empty.mkdir()
    export_model(source, empty)
    assert _tree(empty) == ["ocrlab_model.json", "weights.pt"]
    with pytest.raises(FileExistsError, match=r"empty already exists \(pass --overwrite"):
        export_model(source, empty)
    (empty / "weights.pt").write_bytes(b"stale")
    export_model(source, empty, overwrite=True)
    assert _tree(empty) == ["ocrlab_model.json", "weights.pt"] and (empty / "weights.pt").read_bytes() != b"stale"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left behind


def test_export_directories_callback_replaces_only_earlier_exports(recognizer, tmp_path):
    from types import SimpleNamespace

    from ocrlab.callbacks import ExportDirectories

    exports = tmp_path / "exports"
    callback = ExportDirectories(str(exports), monitor="val/cer", mode="min")
    _user_dir(exports / "best")
    trainer = SimpleNamespace(is_global_zero=True, strategy=SimpleNamespace(broadcast=lambda obj, src=0: obj))
    with pytest.raises(FileExistsError, match=r"export_directories.dirpath=.*best is not an ocrlab export"):
        callback.setup(trainer, recognizer.module, "fit")  # before training, not at its end
    with pytest.raises(FileExistsError, match=r"best is not an ocrlab export .*it holds labels/, notes.txt"):
        callback._write_rank_zero(recognizer.module, "best")
    assert _tree(exports / "best") == ["labels", "labels/train.txt", "notes.txt"]
    callback._write_rank_zero(recognizer.module, "last")
    callback._write_rank_zero(recognizer.module, "last")  # an earlier export: replaced
    assert _tree(exports / "last") == ["ocrlab_model.json", "weights.pt"]


def test_consolidate_overwrite_replaces_only_an_earlier_checkpoint(recognizer, tmp_path, monkeypatch):
    from ocrlab import loading
    from ocrlab.model_files import CHECKPOINT_KEY

    sharded = tmp_path / "sharded"  # its reading is stubbed: the output side is under test
    sharded.mkdir()
    (sharded / ".metadata").write_bytes(b"")
    ckpt = {CHECKPOINT_KEY: recognizer.module.checkpoint_metadata(), "state_dict": recognizer.module.state_dict()}
    real = loading.load_checkpoint
    monkeypatch.setattr(loading, "load_checkpoint",
                        lambda path, **kw: dict(ckpt) if path == sharded else real(path, **kw))
    notes = tmp_path / "notes.txt"
    notes.write_text("notes\n")
    with pytest.raises(FileExistsError, match=r"notes.txt exists and is not an ocrlab checkpoint .*cannot be read"):
        loading.consolidate_to_file(sharded, notes, overwrite=True)
    assert notes.read_text() == "notes\n"
    out = loading.consolidate_to_file(sharded, tmp_path / "full.ckpt")
    with pytest.raises(FileExistsError, match=r"full.ckpt already exists \(pass --overwrite"):
        loading.consolidate_to_file(sharded, out)
    loading.consolidate_to_file(sharded, out, overwrite=True)  # an earlier checkpoint: replaced
    assert real(out)["state_dict"].keys() == ckpt["state_dict"].keys()


def test_redact_secret_looking_keys():
    cfg = {"logger": {"wandb": {"api_key": "abc", "project": "ocrlab"}}, "hf_token": "t", "tags": ["x"],
           "password": None}
    out = redact(cfg)
    assert out["logger"]["wandb"] == {"api_key": REDACTED, "project": "ocrlab"}
    assert out["hf_token"] == REDACTED and out["tags"] == ["x"] and out["password"] is None


def test_settings_named_after_tokens_are_not_secrets():
    assert all(is_secret_key(k) for k in ("WANDB_API_KEY", "HF_TOKEN", "token", "access-token", "db_password",
                                          "client_secret", "apikey"))
    settings = {"tokenizer": {"vocab_size": 600}, "loss_weights": {"tokens": 1.0}, "max_new_tokens": 64,
                "pad_token": "<pad>", "token_labels": [0], "keyboard": 1}
    assert redact(settings) == settings


def test_recognition_does_not_depend_on_batching(recognizer, tiny_lines):
    images = sorted((tiny_lines / "images" / "test").glob("*.png"))
    one_by_one = [recognizer.recognize([p])[0] for p in images]
    assert recognizer.recognize(images, batch_size=16) == one_by_one
    log_probs = {}
    for bs in (1, 16):  # the network output itself stays (nearly) padding-independent
        from ocrlab.datamodules.line_images import image_to_tensor, open_image
        from ocrlab.datamodules.lines import collate_lines

        items = [{"image": image_to_tensor(open_image(p), recognizer.input_spec), "label": "", "target": [],
                  "path": str(p)} for p in images[:bs]]
        batch = collate_lines(items)
        with torch.no_grad():
            lp, lengths = recognizer.module.forward_batch(batch)
        log_probs[bs] = lp[0, : lengths[0]]
    # the backbone zeroes padded columns after every layer, the LSTM never reads them (packed)
    assert torch.allclose(log_probs[1], log_probs[16], atol=1e-4)
