"""The CRNN-CTC recognizer: backbone -> neck -> CTC head, trained with CTC loss."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ocrlab.families.crnn.ctc import CTCDecoder
from ocrlab.families.crnn.net import CTCRecognitionNet
from ocrlab.lightning_modules.text_recognition import TextRecognitionModule
from ocrlab.text.charset import Charset

log = logging.getLogger(__name__)


class CTCRecognizer(TextRecognitionModule):
    """``backbone`` is a built module; ``neck`` and ``head`` are factories (sizes are inferred);
    ``channels_last``: see :class:`~ocrlab.families.crnn.net.CTCRecognitionNet`."""

    resume_notes: ClassVar[dict[str, str]] = {
        "channels_last": "the backbone's memory format (NHWC or NCHW) is not part of the weights: they load unchanged "
                         "and this run computes in its own format, which rounds floats differently (the run is not "
                         "bit-identical to one continued in the checkpoint's format)",
    }

    def __init__(self, charset: Charset, backbone: nn.Module, neck: Callable[..., nn.Module],
                 head: Callable[..., nn.Module], optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None, input: dict | None = None, decoding: str = "greedy",
                 beam_width: int = 8, num_val_samples_logged: int = 8, channels_last: bool = False):
        super().__init__(optimizer, scheduler, input, num_val_samples_logged)
        self.charset = charset
        self.net = CTCRecognitionNet(backbone, neck, head, charset.num_classes, channels_last)
        self.decoder = CTCDecoder(charset, method=decoding, beam_width=beam_width)
        self.ctc_loss = nn.CTCLoss(blank=charset.blank_index, zero_infinity=True)
        self._too_short: set[str] = set()

    label_space_keys = ("charset",)

    def line_labels(self) -> Charset:
        return self.charset

    def checkpoint_metadata(self) -> dict:
        # the charset also at the top, as format-1 checkpoints had it (readable without hydra)
        return {**super().checkpoint_metadata(), "charset": self.charset.to_dict()}

    @classmethod
    def upgrade_metadata(cls, meta: dict) -> dict:
        """Format 1 (no ``format`` key): the charset was kept beside the model config."""
        if meta.get("format") not in (None, 1) or "charset" not in meta:
            return meta
        charset = Charset.from_dict(meta["charset"])
        config = {**(meta.get("model_config") or {}), "charset": charset.to_config()}
        return {**meta, "format": 2, "model_config": config, "label_space": {"charset": charset.to_config()}}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def forward_batch(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.ctc_outputs(batch["images"], batch["widths"])

    def loss(self, outputs: tuple[torch.Tensor, torch.Tensor], batch: dict) -> torch.Tensor:
        log_probs, lengths = outputs
        if self.training:
            self._check_alignable(lengths, batch)
        return self.ctc_loss(log_probs.transpose(0, 1), batch["targets"], lengths, batch["target_lengths"])

    def _check_alignable(self, lengths: torch.Tensor, batch: dict) -> None:
        """CTC needs a time step per label character (two between repeats); a line too narrow
        for its label gets an infinite loss, which ``zero_infinity`` turns into no gradient.
        Such lines are named once and counted in the training report, not dropped in silence."""
        needed = batch["target_lengths"].clone()
        for i, target in enumerate(torch.split(batch["targets"], batch["target_lengths"].tolist())):
            needed[i] += int((target[1:] == target[:-1]).sum())
        short = (lengths.cpu() < needed.cpu()).nonzero().flatten().tolist()
        for i in short:
            path = batch["paths"][i]
            if path in self._too_short:
                continue
            self._too_short.add(path)
            self.sample_warnings["ctc_line_too_narrow_for_label"] += 1
            log.warning("%s: %d CTC steps for a label of %d characters (%r): the line image is too narrow "
                        "for its label and teaches nothing (check the image or the label)",
                        path, int(lengths[i]), int(batch["target_lengths"][i]), batch["labels"][i])

    def decode(self, outputs: Any, batch: dict) -> list[str]:
        log_probs, lengths = outputs
        return [d.text for d in self.decoder(log_probs, lengths)]

    # -- export ----------------------------------------------------------------------------
    def export(self, directory: str | Path, onnx: bool = False, int8: bool = False, **options: Any) -> Path:
        """weights + config (the base export); with ``onnx`` also ``model.onnx`` checked against
        PyTorch (``int8``: its dynamically quantized copy), ``charset.json`` and ``inference.json``
        (preprocessing and decoding, to run the graph without ocrlab)."""
        directory = Path(super().export(directory, **options))
        if onnx or int8:
            from ocrlab.families.crnn.onnx import write_runtime_files
            from ocrlab.onnx_export import export_onnx

            export_onnx(self, directory, int8=int8)
            write_runtime_files(self, directory, int8=int8)
        return directory

    onnx_outputs = ("log_probs", "lengths")

    @property
    def onnx_dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {"images": {0: "batch", 3: "width"}, "widths": {0: "batch"},
                "log_probs": {0: "batch", 1: "steps"}, "lengths": {0: "batch"}}

    def onnx_graph(self) -> nn.Module:
        from ocrlab.families.crnn.onnx import CTCGraph

        return CTCGraph(self.net)

    def example_inputs(self, batch_size: int = 1, length: int | None = None) -> dict[str, torch.Tensor]:
        """A right-padded batch of random lines ``length`` columns wide at most (None: ``max_width``)."""
        from ocrlab.families.crnn.onnx import example_lines

        return example_lines(self.input_spec, batch_size, length or self.input_spec.max_width)
