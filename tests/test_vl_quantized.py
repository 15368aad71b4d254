"""Quantized inference of the PaddleOCR-VL family (``evaluate.py quantize=...``; OcrModule.quantized):
dynamic INT8 on the CPU, the bitsandbytes modes' errors without CUDA / bitsandbytes, the shared
errors (a family without modes, an unknown mode, a conflicting trainer)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from conftest import compose_config, model_and_data, tiny_pair_overrides
from omegaconf import OmegaConf

from ocrlab.errors import CheckpointError, ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _module_and_data(pairs: Path, tmp_path: Path, extra: list[str] = ()):
    overrides = [*tiny_pair_overrides(pairs, tmp_path / "logs"), "experiment=paddleocr_vl_lora_cpu",
                 "model.lora.dropout=0.0", *extra]
    cfg = compose_config("train", overrides, tmp_path / "run")
    torch.manual_seed(0)
    return model_and_data(cfg)


@pytest.fixture(scope="module")
def fitted(tiny_pairs, tmp_path_factory):
    """The tiny model with LoRA fitted on 2 training pairs (confident answers: the case where INT8
    must answer as fp32 does). A frozen random head of init std 0.02 bounds the logits near 1.3 (no
    adapter can fit that); std 0.2 stands in for a trained head."""
    model, dm = _module_and_data(tiny_pairs, tmp_path_factory.mktemp("fitted"),
                                 ["++model.net.text_config.initializer_range=0.2"])
    # one pair of each task: told apart by their prompts (the tiny vision tower on 16-patch images
    # tells documents apart only after many more steps)
    items = {}
    for i in range(len(dm.datasets["train"])):
        item = dm.datasets["train"][i]
        items.setdefault(item["task"], item)
    batch = dm.collate_eval(list(items.values()))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(40):
        loss = model._loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.generation["max_new_tokens"] = 24
    return model, batch, loss.item()


def test_int8_replaces_every_linear_and_answers_as_fp32(fitted):
    from ocrlab.quantization import is_dynamic_int8

    model, batch, loss = fitted
    assert loss < 0.3, f"the fixture did not fit its pairs (loss {loss:.3f})"
    fp32_answers = model.generate_texts(batch["generate"])
    truths = [r["answer"] for r in batch["rows"]]
    assert all(t.startswith(a) and len(a) > 20 for a, t in zip(fp32_answers, truths, strict=True)), fp32_answers
    with torch.no_grad():
        fp32_logits = model.net(**model._inputs(batch)).logits
    from ocrlab.families.paddleocr_vl.lora import merge_lora

    # the merged model's Linear layers (LoRA's own lora_A / lora_B are Linear layers too)
    linears = sum(type(m) is torch.nn.Linear for m in merge_lora(copy.deepcopy(model.net)).modules())

    quantized = copy.deepcopy(model).quantized("int8")
    assert quantized.lora is None and not hasattr(quantized.net, "peft_config")  # merged first
    assert not any(type(m) is torch.nn.Linear for m in quantized.net.modules())
    assert sum(is_dynamic_int8(m) for m in quantized.net.modules()) == quantized.quantization["layers"] == linears
    sizes = quantized.quantization["linear_weight_mb"]
    assert sizes["after"] < sizes["before"] / 3.5  # 1 byte a weight instead of 4
    assert quantized.quantization["lora_merged"] and quantized.quantization["trainer"]["accelerator"] == "cpu"

    assert quantized.generate_texts(batch["generate"]) == fp32_answers
    with torch.no_grad():
        int8_logits = quantized.net(**quantized._inputs(batch)).logits
    answer = batch["labels"][:, 1:] != -100  # logits at t predict token t + 1
    agree = (int8_logits[:, :-1].argmax(-1) == fp32_logits[:, :-1].argmax(-1))[answer].float().mean()
    assert agree >= 0.98, f"INT8 and fp32 agree on {agree:.1%} of the answer tokens"
    assert not torch.equal(int8_logits, fp32_logits)  # it did quantize something
    # the fp32 module is unchanged
    assert model.lora is not None and model.quantization is None

    with pytest.raises(ConfigError, match="already quantized"):
        quantized.quantized("int8")
    with pytest.raises(CheckpointError, match=r"quantized for inference \(quantize=int8\).*without quantize"):
        quantized.checkpoint_metadata()  # never saved or exported as if it were the model


def test_evaluate_with_quantize_int8_records_it(fitted, tiny_pairs, tmp_path):
    from ocrlab.evaluation import evaluate

    model = copy.deepcopy(fitted[0])
    ckpt = tmp_path / "fitted.ckpt"
    state = {"state_dict": model.state_dict()}
    model.on_save_checkpoint(state)
    torch.save(state, ckpt)
    cfg = compose_config("evaluate", [f"ckpt_path={ckpt}", "experiment=paddleocr_vl_lora_cpu", "quantize=int8",
                                      f"data.pairs_dir={tiny_pairs}", "data.tasks=[vendor,summary]",
                                      "trainer.accelerator=auto", f"paths.log_dir={tmp_path}"], tmp_path / "eval")
    metrics, objects = evaluate(cfg)
    run = tmp_path / "eval"
    assert {"test/overall_score", "test/field_accuracy", "test/loss"} <= set(metrics)
    assert json.loads((run / "metrics.json").read_text()) == metrics
    recorded = json.loads((run / "quantization.json").read_text())
    assert recorded["mode"] == "int8" and recorded["layers"] > 0 and recorded["lora_merged"]
    report = json.loads((run / "reports" / "extraction_report.json").read_text())
    assert report["quantization"] == recorded
    assert OmegaConf.load(run / "config.yaml").quantize == "int8"
    assert objects["model"].quantization["mode"] == "int8"
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 and {r["task"] for r in rows} == {"vendor", "summary"}

    # INT8 kernels are CPU kernels: an explicit GPU trainer is refused, naming both settings
    cfg = compose_config("evaluate", [f"ckpt_path={ckpt}", "experiment=paddleocr_vl_lora_cpu", "quantize=int8",
                                      f"data.pairs_dir={tiny_pairs}", "trainer.accelerator=gpu",
                                      f"paths.log_dir={tmp_path}"], tmp_path / "eval_gpu")
    with pytest.raises(ConfigError, match=r"quantize=int8 .*trainer\.accelerator=gpu \(it needs cpu\)"):
        evaluate(cfg)
    assert not (tmp_path / "eval_gpu" / "metrics.json").exists()


def test_unknown_modes_and_families_without_quantization_are_named(fitted):
    from ocrlab.lightning_modules.base import OcrModule

    model = fitted[0]
    with pytest.raises(ConfigError, match=r"quantize='int4'.*no such .*modes: int8: CPU.*int8_cuda: CUDA.*nf4: CUDA"):
        model.quantized("int4")
    with pytest.raises(ConfigError, match=r"OcrModule has no quantized inference \(modes: none\)"):
        OcrModule(optimizer=torch.optim.SGD).quantized("int8")
    assert model.quantization is None and model.lora is not None


@pytest.mark.parametrize("mode", ["int8_cuda", "nf4"])
def test_cuda_modes_name_what_is_missing(fitted, mode, monkeypatch):
    import importlib.util

    from ocrlab import quantization

    model = fitted[0]
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):  # bitsandbytes absent whatever is installed here
        return None if name == "bitsandbytes" else real_find_spec(name, *args)

    monkeypatch.setattr(quantization.importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=rf"quantize={mode} .*needs a CUDA GPU .* and bitsandbytes >= 0\.46\.1 "
                                          r"\(not installed: pip install 'ocrlab\[quant\]'\).*quantize=int8"):
        model.quantized(mode)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU, but no bitsandbytes
    with pytest.raises(ConfigError, match=rf"quantize={mode} .*needs bitsandbytes") as error:
        model.quantized(mode)
    assert "CUDA GPU" not in str(error.value)
    # nothing was changed before the error (adapters not merged)
    assert model.quantization is None and model.lora is not None and hasattr(model.net, "peft_config")


def test_bitsandbytes_configs():
    from ocrlab.quantization import bitsandbytes_config

    nf4 = bitsandbytes_config("nf4")
    assert nf4.load_in_4bit and not nf4.load_in_8bit and nf4.bnb_4bit_quant_type == "nf4"
    assert nf4.bnb_4bit_compute_dtype == torch.bfloat16 and nf4.bnb_4bit_use_double_quant
    int8 = bitsandbytes_config("int8_cuda")
    assert int8.load_in_8bit and not int8.load_in_4bit
    with pytest.raises(ConfigError, match="not a bitsandbytes mode"):
        bitsandbytes_config("int8")


def test_dynamic_int8_casts_a_bf16_model_and_refuses_one_without_linear_layers():
    from ocrlab.quantization import dynamic_int8

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.GELU(), torch.nn.Linear(32, 8))
    x = torch.randn(4, 32)
    with torch.no_grad():
        expected = module(x)
    bf16 = copy.deepcopy(module).to(torch.bfloat16)
    report = dynamic_int8(bf16)  # the INT8 kernels take fp32 activations only: cast first
    assert report["cast_from"] == ["torch.bfloat16"] and report["layers"] == 2
    with torch.no_grad():
        got = bf16(x)
    assert got.dtype == torch.float32 and torch.allclose(got, expected, atol=0.05)
    assert dynamic_int8(copy.deepcopy(module))["cast_from"] is None
    with pytest.raises(ConfigError, match="Sequential has no nn.Linear layer"):
        dynamic_int8(torch.nn.Sequential(torch.nn.GELU()))
