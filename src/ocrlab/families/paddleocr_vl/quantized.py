"""Quantized PaddleOCR-VL inference (``evaluate.py quantize=...``; ``OcrModule.quantized``)."""

from __future__ import annotations

from typing import Any

import torch


def quantize_network(net, processor, mode: str, merge: bool) -> tuple[Any, dict[str, Any]]:
    """(the quantized network, what was done). ``merge``: LoRA adapters are merged first: peft's
    LoRA layers wrap the Linear layers, which then are not plain ``nn.Linear`` to quantize
    (merging is exact within 1e-6). ``int8``: every Linear (both towers, projector, head)
    quantized in place on the CPU. ``int8_cuda`` / ``nf4``: bitsandbytes quantizes while
    ``from_pretrained`` loads, so the current weights go through a temporary model directory and
    come back quantized on the current GPU."""
    import ocrlab.families.paddleocr_vl.net as vl
    from ocrlab import quantization as q
    from ocrlab.families.paddleocr_vl.lora import merge_lora

    if mode in q.BNB_MODES:
        q.require_cuda_bitsandbytes(mode)  # before the merge: the model is unchanged when this fails
    if merge:
        net = merge_lora(net)
    if mode == q.INT8:
        report = q.dynamic_int8(net.cpu())
        # torch's dynamic INT8 kernels are CPU kernels and take fp32 activations
        return net, {**report, "trainer": {"accelerator": "cpu", "devices": 1, "precision": "32-true"}}
    import tempfile

    import bitsandbytes as bnb

    config = q.bitsandbytes_config(mode)
    with tempfile.TemporaryDirectory(prefix="ocrlab_quantize_") as tmp:
        vl.save_pretrained(net, processor.get(), tmp)
        net, _ = vl.load_pretrained(tmp, dtype=torch.bfloat16, quantization_config=config,
                                    device_map={"": torch.cuda.current_device()})
    net.eval()
    layers = sum(isinstance(m, (bnb.nn.Linear8bitLt, bnb.nn.Linear4bit)) for m in net.modules())
    return net, {"method": f"transformers BitsAndBytesConfig({q.BNB_MODES[mode]}) in from_pretrained, bf16 otherwise",
                 "bitsandbytes": bnb.__version__, "layers": layers,
                 "memory_footprint_mb": round(net.get_memory_footprint() / 1e6, 3),
                 "trainer": {"accelerator": "gpu", "devices": 1}}
