"""The CRNN's ONNX graph and what an export needs to run it without ocrlab.

The graph is :meth:`CTCRecognitionNet.ctc_outputs`: a right-padded batch (``images``) and each
line's unpadded width (``widths``: the backbone masks the padding and the BiLSTM stops at each
line's end, so a line reads the same whatever it is batched with) -> ``log_probs`` and ``lengths``,
exactly what :meth:`CTCRecognizer.decode` reads. Batch and width are dynamic; height and channels
are the model's (``input_spec``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ocrlab.datamodules.line_images import LineImageSpec
from ocrlab.onnx_export import INT8_FILE, ONNX_FILE
from ocrlab.utils.io import atomic_write_json

CHARSET_FILE = "charset.json"
INFERENCE_FILE = "inference.json"
WIDTH_MULTIPLE = 4  # collate_lines pads a batch to a multiple of the network's width stride


class CTCGraph(nn.Module):
    """``(images, widths) -> (log_probs, lengths)``: the network as training and decoding run it."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor, widths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.ctc_outputs(images, widths)


def example_lines(spec: LineImageSpec, batch_size: int, width: int) -> dict[str, torch.Tensor]:
    """Random lines of widths between ``width`` / 2 and ``width`` (the widest first), padded with
    zeros on the right as ``collate_lines`` pads: the padding masks are part of what is traced and
    checked. The narrower widths are odd, so the masks' rounding at every stride is checked too."""
    width = -(-int(width) // WIDTH_MULTIPLE) * WIDTH_MULTIPLE
    g = torch.Generator().manual_seed(batch_size * 100003 + width)
    widths = torch.linspace(width, max(width // 2, min(spec.min_width, width)), batch_size).round().long()
    widths[1:] |= 1
    images = torch.rand(batch_size, spec.channels, spec.height, width, generator=g) * 2 - 1
    images *= (torch.arange(width) < widths[:, None])[:, None, None, :]
    return {"images": images, "widths": widths}


def write_runtime_files(module, directory: str | Path, int8: bool = False) -> None:
    """``charset.json`` (the classes) and ``inference.json`` (preprocessing, outputs, decoding)."""
    directory = Path(directory)
    spec, charset = module.input_spec, module.charset
    atomic_write_json(directory / CHARSET_FILE, {"blank_index": charset.blank_index,
                                                 "note": "class i + 1 is symbols[i]; class blank_index is the CTC blank",
                                                 **charset.to_dict()})
    atomic_write_json(directory / INFERENCE_FILE, {
        "model": ONNX_FILE,
        "int8_model": INT8_FILE if int8 else None,
        "inputs": {
            "images": {
                "shape": ["batch", spec.channels, spec.height, "width"], "dtype": "float32",
                "color": spec.mode, "height": spec.height, "min_width": spec.min_width, "max_width": spec.max_width,
                "resize": ("bilinear, to max_width" if spec.fixed_width else
                           "bilinear, to `height` rows and round(w * height / h) columns clamped to "
                           "[min_width, max_width]"),
                "normalize": "pixel / 127.5 - 1 (0-255 to [-1, 1])",
                "pad": {"side": "right", "value": 0.0, "width_multiple": WIDTH_MULTIPLE},
            },
            "widths": {"shape": ["batch"], "dtype": "int64", "meaning": "each line's width before padding"},
        },
        "outputs": {
            "log_probs": {"shape": ["batch", "steps", charset.num_classes],
                          "meaning": f"log-softmax over the classes, steps = padded width // {WIDTH_MULTIPLE}"},
            "lengths": {"shape": ["batch"], "meaning": "the steps of each line (the rest is padding)"},
        },
        "decoding": {
            "charset": CHARSET_FILE, "blank_index": charset.blank_index,
            "method": module.decoder.method, "beam_width": module.decoder.beam_width,
            "greedy": "per line: argmax over the first `lengths` steps, merge repeats, drop the blank",
        },
    })
