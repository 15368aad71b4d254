"""ONNX export of a model's network, checked against PyTorch, and its dynamic INT8 copy.

A family that exports ONNX provides what :class:`~ocrlab.lightning_modules.OcrModule` declares for
it: ``example_inputs(batch_size, length)`` (named tensors), ``onnx_outputs`` (output names),
``onnx_dynamic_axes`` (input/output name -> {axis: name}) and ``onnx_graph()`` (the module traced:
the model itself unless the family wraps it).
The exported graph is run with ONNX Runtime on inputs of another batch size and length than
the ones traced, and must match PyTorch within ``atol``; the figures go into ``onnx_report.json``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ocrlab.utils.io import atomic_write_json

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
OPSET = 17


class _Positional(torch.nn.Module):
    """The module's forward with named inputs in a fixed order (ONNX inputs are positional)."""

    def __init__(self, module: torch.nn.Module, names: list[str]):
        super().__init__()
        self.module, self.names = module, names

    def forward(self, *args):
        return self.module(**dict(zip(self.names, args, strict=True)))


def session(path: str | Path, threads: int | None = None):
    """An ONNX Runtime CPU session; ``threads`` intra-op threads (None: ORT's default, all cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = int(threads), 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_session(sess, inputs: dict[str, torch.Tensor]) -> list[np.ndarray]:
    feeds = {i.name: inputs[i.name].cpu().numpy() for i in sess.get_inputs()}
    return sess.run(None, feeds)


def export_onnx(module, directory: str | Path, int8: bool = False, atol: float = 1e-4) -> dict[str, Any]:
    """Write ``model.onnx`` (and ``model.int8.onnx``) into ``directory``; returns the report."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise RuntimeError("ONNX export needs onnx and onnxruntime: pip install 'ocrlab[export]'") from e
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    module = module.eval().cpu()
    graph = module.onnx_graph().eval()
    traced = module.example_inputs(batch_size=2, length=64)
    names = list(traced)
    wrapper = _Positional(graph, names).eval()
    path = directory / ONNX_FILE
    partial = directory / f".{ONNX_FILE}.partial-{os.getpid()}"
    start = time.perf_counter()
    try:
        with torch.no_grad():
            torch.onnx.export(wrapper, tuple(traced[n] for n in names), str(partial), input_names=names,
                              output_names=list(module.onnx_outputs), dynamic_axes=module.onnx_dynamic_axes,
                              opset_version=OPSET, do_constant_folding=True, dynamo=False)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    report: dict[str, Any] = {"opset": OPSET, "inputs": names, "outputs": list(module.onnx_outputs),
                              "export_seconds": round(time.perf_counter() - start, 2)}
    # another batch size and length than traced: the dynamic axes must really be dynamic
    check = module.example_inputs(batch_size=3)
    report["checked_shapes"] = {n: list(t.shape) for n, t in check.items()}
    report["max_abs_diff"] = _max_diff(graph, session(path), check)
    if report["max_abs_diff"] > atol:
        path.unlink()
        raise RuntimeError(f"ONNX export: outputs differ from PyTorch by {report['max_abs_diff']:.2e} "
                           f"(> {atol:g}); the export was removed")
    log.info("ONNX: %s (max abs diff vs PyTorch %.2e)", path, report["max_abs_diff"])
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8_path = directory / INT8_FILE
        partial = directory / f".partial-{os.getpid()}.{INT8_FILE}"  # onnx.save reads the format off the suffix
        try:
            # per-channel weight scales; reduce_range keeps 7-bit weights, which avoids the u8s8
            # saturation of AVX2 CPUs without VNNI (ONNX Runtime's quantization guide)
            with _root_log_level(logging.WARNING):  # it logs every unquantized tensor at INFO
                quantize_dynamic(str(path), str(partial), weight_type=QuantType.QInt8, per_channel=True,
                                 reduce_range=True)
            os.replace(partial, int8_path)
        finally:
            partial.unlink(missing_ok=True)
        report["int8_max_abs_diff"] = _max_diff(graph, session(int8_path), check)
        report["int8_bytes"], report["fp32_bytes"] = int8_path.stat().st_size, path.stat().st_size
        log.info("ONNX INT8: %s (%.1f MB vs %.1f MB; max abs diff vs PyTorch %.3f)", int8_path,
                 report["int8_bytes"] / 1e6, report["fp32_bytes"] / 1e6, report["int8_max_abs_diff"])
    atomic_write_json(directory / "onnx_report.json", report)
    return report


@contextlib.contextmanager
def _root_log_level(level: int):
    root = logging.getLogger()
    before = root.level
    root.setLevel(max(before, level))
    try:
        yield
    finally:
        root.setLevel(before)


def _max_diff(graph, sess, inputs: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        expected = graph(**inputs)
    got = run_session(sess, inputs)
    return float(max(np.abs(e.float().numpy() - g).max() for e, g in zip(expected, got, strict=True)))


def check_onnx_option(module, options: dict[str, Any]) -> None:
    """``--onnx`` / ``--int8`` on a model without an ONNX graph: a ``ValueError`` naming the ones that have one."""
    asked = sorted(k for k in ("onnx", "int8") if options.get(k))
    if asked and not type(module).onnx_outputs:
        raise ValueError(f"{type(module).__name__} exports no ONNX graph ({', '.join('--' + k for k in asked)}): "
                         "only models that define ONNX outputs (`onnx_outputs`) do; export it without those options")
