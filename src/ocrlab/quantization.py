"""Quantized inference: what the families share (``evaluate.py quantize=<mode>``).

A family opts in through :meth:`ocrlab.lightning_modules.base.OcrModule.quantized`: it names its
modes (``quantization_modes``) and converts itself in ``_quantize``, with the helpers here:

* ``int8`` (CPU): :func:`dynamic_int8`, dynamic INT8 of every ``nn.Linear`` (weights quantized
  once per output channel, activations per batch at run time), with
  ``torch.ao.quantization.quantize_dynamic`` and torch's fbgemm/x86 kernels. The same recipe as the
  ONNX ``--int8`` export of the families that have a graph (``ocrlab.onnx_export``: per-channel
  QInt8 weights, dynamic activations), for networks that have none (``generate`` loops).
  torch 2.14 marks ``torch.ao.quantization`` deprecated in favour of torchao, but torchao 0.18's
  ``Int8DynamicActivationInt8WeightConfig`` has no fused CPU kernel in eager mode: on a 4-layer
  256/768 MLP at batch 8 (1 thread) it took 23.7 ms against 1.46 ms for fp32 and 1.46 ms for
  ``quantize_dynamic`` (it needs ``torch.compile``, ~80 s a compile here). So torch.ao it is, while
  torch has it; a torch without it gets an error saying so.
* ``int8_cuda`` / ``nf4`` (CUDA): bitsandbytes 8-bit (LLM.int8()) or 4-bit NF4 weights, applied by
  transformers while loading a model directory (:func:`bitsandbytes_config`); bitsandbytes is the
  optional extra ``ocrlab[quant]``. :func:`require_cuda_bitsandbytes` says which of the two (a CUDA
  GPU, bitsandbytes) is missing before any work is done.

A quantized model is for inference only: its checkpoint metadata is refused (no save, no export).
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import TYPE_CHECKING, Any

from ocrlab.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

INT8 = "int8"
# mode -> (BitsAndBytesConfig arguments); the compute dtype is bf16, PaddleOCR-VL's own
BNB_MODES: dict[str, dict[str, Any]] = {
    "int8_cuda": {"load_in_8bit": True},
    "nf4": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True},
}
# what transformers' bitsandbytes integration requires (transformers.utils.import_utils)
BITSANDBYTES_MIN_VERSION = "0.46.1"


def check_mode(name: str, modes: dict[str, str], mode: str, current: dict | None) -> None:
    """``mode`` must be one of a model's ``modes`` (``name``: its class), not yet applied."""
    if not modes:
        raise ConfigError(f"quantize={mode!r}: {name} has no quantized inference (modes: none); "
                          "evaluate it with quantize=null")
    if mode not in modes:
        raise ConfigError(f"quantize={mode!r}: {name} has no such quantized inference mode (modes: "
                          + "; ".join(f"{m}: {what}" for m, what in modes.items()) + ")")
    if current is not None:
        raise ConfigError(f"quantize={mode!r}: this {name} is already quantized ({current['mode']}); "
                          "load the model again")


def dynamic_int8(module: nn.Module) -> dict[str, Any]:
    """Replace every ``nn.Linear`` of ``module`` (in place) by torch's dynamic INT8 Linear
    (per-channel qint8 weights, activations quantized per batch). Returns the report:
    ``method``, ``layers`` (how many were replaced), ``linear_weight_mb`` before / after and
    ``cast_from`` (the dtypes of a module that was not fp32: it is cast to fp32 first)."""
    import torch
    from torch import nn

    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as e:  # removed in a torch newer than the 2.14 this was written for
        raise ConfigError(f"quantize={INT8}: this torch ({torch.__version__}) has no "
                          "torch.ao.quantization.quantize_dynamic; use a torch that has it (<= 2.14)") from e
    linears = [m for m in module.modules() if type(m) is nn.Linear]
    if not linears:
        raise ConfigError(f"quantize={INT8}: {type(module).__name__} has no nn.Linear layer to quantize")
    before_bytes = sum(m.weight.numel() * m.weight.element_size() for m in linears)  # as loaded
    # the kernels take fp32 activations only ("expected scalar type Float but found BFloat16"):
    # a bf16 model (a published checkpoint's dtype) runs in fp32 around its INT8 layers
    dtypes = sorted({str(p.dtype) for p in module.parameters() if p.is_floating_point()} - {"torch.float32"})
    module.float().eval()
    with warnings.catch_warnings():
        # the deprecation notices of torch.ao (see the module docstring for why it is still used)
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*quantize_per_tensor.*deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", message=r".*quantize_per_channel.*deprecated", category=UserWarning)
        quantize_dynamic(module, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    quantized = [m for m in module.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    int8_bytes = sum(m.weight().numel() for m in quantized)  # one byte a weight (+ a scale per channel)
    return {"method": "torch.ao.quantization.quantize_dynamic(nn.Linear, per_channel_dynamic_qconfig, qint8)",
            "backend": torch.backends.quantized.engine, "layers": len(quantized),
            "linear_weight_mb": {"before": round(before_bytes / 1e6, 3), "after": round(int8_bytes / 1e6, 3)},
            "cast_from": dtypes or None}


def is_dynamic_int8(module: nn.Module) -> bool:
    """Whether ``module`` is one of torch's dynamic INT8 Linear layers."""
    import torch

    return isinstance(module, torch.ao.nn.quantized.dynamic.Linear)


def require_cuda_bitsandbytes(mode: str) -> None:
    """A ``ConfigError`` naming what a bitsandbytes mode lacks here: a CUDA GPU, bitsandbytes
    (or a recent enough one), or both."""
    import torch

    missing = []
    if not torch.cuda.is_available():
        missing.append(f"a CUDA GPU (torch.cuda.is_available() is False; torch {torch.__version__})")
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append(f"bitsandbytes >= {BITSANDBYTES_MIN_VERSION} (not installed: pip install 'ocrlab[quant]')")
    else:
        from importlib.metadata import version

        from packaging.version import Version

        installed = version("bitsandbytes")
        if Version(installed) < Version(BITSANDBYTES_MIN_VERSION):
            missing.append(f"bitsandbytes >= {BITSANDBYTES_MIN_VERSION} (installed: {installed}; transformers "
                           "needs the newer one)")
    if missing:
        raise ConfigError(f"quantize={mode} (bitsandbytes, CUDA) needs {' and '.join(missing)}; "
                          f"on a CPU use quantize={INT8}")


def bitsandbytes_config(mode: str):
    """transformers' ``BitsAndBytesConfig`` of a mode of :data:`BNB_MODES` (bf16 compute)."""
    import torch
    from transformers import BitsAndBytesConfig

    if mode not in BNB_MODES:
        raise ConfigError(f"quantize={mode!r}: not a bitsandbytes mode (those are {', '.join(BNB_MODES)})")
    kwargs = dict(BNB_MODES[mode])
    if kwargs.get("load_in_4bit"):
        kwargs["bnb_4bit_compute_dtype"] = torch.bfloat16
    return BitsAndBytesConfig(**kwargs)
