"""The CRNN's ONNX export (``ocrlab-export <ckpt> --output <dir> --onnx [--int8]``): parity with
PyTorch on other batch sizes and widths than traced, the same decoded texts, the files a user needs
to run the graph without ocrlab, and the refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose_config, tiny_overrides

from ocrlab.cli import export_main
from ocrlab.datamodules.line_images import image_to_tensor, open_image
from ocrlab.datamodules.lines import collate_lines
from ocrlab.errors import CheckpointError
from ocrlab.families.crnn import CTCRecognizer
from ocrlab.inference import OnnxTextRecognizer, TextRecognizer
from ocrlab.loading import load_model, write_export
from ocrlab.onnx_export import run_session, session

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def crnn_ckpt(tiny_lines, tmp_path_factory) -> Path:
    """A tiny CRNN checkpoint: MobileNetV3-small + BiLSTM (the neck that must stop at each line's
    end) trained one step, its BatchNorm statistics then measured on the training lines. Without
    them, an untrained net's outputs barely depend on the image and decode to one string for
    every line, which would leave the equal-texts check empty."""
    from ocrlab.training import train

    out = tmp_path_factory.mktemp("crnn_onnx")
    overrides = ["experiment=crnn_thai_dev", "model.backbone.model_name=small", "model.neck.hidden_size=32",
                 *tiny_overrides(tiny_lines, out / "logs"), "trainer.max_epochs=1", "trainer.max_steps=1",
                 "++trainer.limit_val_batches=1", "test=false"]
    train(compose_config("train", overrides, out / "run"))
    path = out / "run" / "checkpoints" / "last.ckpt"
    model = load_model(path)
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over what follows
        norm.train()
    items = [{"image": image_to_tensor(open_image(p), model.input_spec), "label": "", "target": [], "path": str(p)}
             for p in sorted((tiny_lines / "images" / "train").glob("*.png"))]
    with torch.no_grad():
        model.forward_batch(collate_lines(items))
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"] = model.state_dict()
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def exported(crnn_ckpt, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "crnn"
    export_main([str(crnn_ckpt), "--output", str(out), "--onnx", "--int8"])
    return out


def test_export_writes_the_graph_its_check_and_runtime_files(exported, crnn_ckpt):
    model = load_model(crnn_ckpt)
    assert sorted(p.name for p in exported.iterdir()) == [
        "charset.json", "inference.json", "model.int8.onnx", "model.onnx", "ocrlab_model.json", "onnx_report.json",
        "weights.pt"]
    report = json.loads((exported / "onnx_report.json").read_text())
    assert report["inputs"] == ["images", "widths"] and report["outputs"] == ["log_probs", "lengths"]
    assert report["max_abs_diff"] < 1e-4
    assert report["checked_shapes"]["images"] != [2, 3, model.input_spec.height, 64]  # not the traced shape
    assert math.isfinite(report["int8_max_abs_diff"]) and report["int8_max_abs_diff"] > 0
    assert report["int8_bytes"] < report["fp32_bytes"]
    spec = json.loads((exported / "inference.json").read_text())
    assert spec["inputs"]["images"]["shape"] == ["batch", 3, model.input_spec.height, "width"]
    assert spec["decoding"]["blank_index"] == model.charset.blank_index == 0
    charset = json.loads((exported / "charset.json").read_text())
    assert charset["symbols"] == list(model.charset.symbols) and charset["blank_index"] == 0
    assert TextRecognizer.load(exported).labels == model.charset  # the export still loads as a model


@pytest.mark.parametrize(("batch_size", "width"), [(1, 48), (4, 212)])
def test_onnx_matches_pytorch_at_other_batch_sizes_and_widths(exported, crnn_ckpt, batch_size, width):
    model = load_model(crnn_ckpt)
    inputs = model.example_inputs(batch_size, width)  # lines of different widths, right-padded
    assert len(set(inputs["widths"].tolist())) == batch_size
    with torch.no_grad():
        expected = model.forward_batch(inputs)
    got = run_session(session(exported / "model.onnx", threads=1), inputs)
    assert [g.shape for g in got] == [tuple(e.shape) for e in expected]
    assert np.abs(expected[0].numpy() - got[0]).max() < 1e-4
    assert np.array_equal(expected[1].numpy(), got[1])


def test_onnx_recognizer_decodes_the_checkpoints_texts(exported, crnn_ckpt, tiny_lines):
    images = sorted((tiny_lines / "images" / "test").glob("*.png"))
    texts = TextRecognizer.load(crnn_ckpt).recognize(images, batch_size=5)
    assert len(set(texts)) > len(texts) // 2  # varied texts: their equality below is a real check
    assert OnnxTextRecognizer.load(exported, threads=1).recognize(images, batch_size=5) == texts
    int8 = OnnxTextRecognizer.load(exported, int8=True, threads=1).recognize(images, batch_size=5)
    assert len(int8) == len(texts) and all(isinstance(t, str) for t in int8)


def test_onnx_is_refused_for_a_model_without_a_graph(crnn_ckpt, tmp_path):
    class NoGraph(CTCRecognizer):
        onnx_outputs = ()

    model = load_model(crnn_ckpt)
    model.__class__ = NoGraph
    with pytest.raises(ValueError, match=r"NoGraph exports no ONNX graph \(--int8\): only models that define "
                                         r"ONNX outputs"):
        write_export(model, tmp_path / "out", int8=True)
    assert not (tmp_path / "out").exists()


def test_onnx_recognizer_needs_an_onnx_export(crnn_ckpt, tmp_path):
    plain = write_export(load_model(crnn_ckpt), tmp_path / "plain")
    with pytest.raises(CheckpointError, match="holds no model.onnx: .*--onnx"):
        OnnxTextRecognizer.load(plain)
    with pytest.raises(CheckpointError, match="holds no model.int8.onnx: .*--onnx --int8"):
        OnnxTextRecognizer.load(plain, int8=True)
