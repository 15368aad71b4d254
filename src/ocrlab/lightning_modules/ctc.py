"""The CRNN-CTC recognizer: backbone -> neck -> CTC head, trained with CTC loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ocrlab.lightning_modules.base import TextRecognitionModule
from ocrlab.nets.recognizer import CTCRecognitionNet
from ocrlab.text.charset import Charset
from ocrlab.text.ctc import CTCDecoder


class CTCRecognizer(TextRecognitionModule):
    """``backbone`` is a built module; ``neck`` and ``head`` are factories (sizes are inferred);
    ``channels_last``: see :class:`~ocrlab.nets.recognizer.CTCRecognitionNet`."""

    def __init__(self, charset: Charset, backbone: nn.Module, neck: Callable[..., nn.Module],
                 head: Callable[..., nn.Module], optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None, input: dict | None = None, decoding: str = "greedy",
                 beam_width: int = 8, num_val_samples_logged: int = 8, channels_last: bool = False):
        super().__init__(charset, optimizer, scheduler, input, num_val_samples_logged)
        self.net = CTCRecognitionNet(backbone, neck, head, charset.num_classes, channels_last)
        self.decoder = CTCDecoder(charset, method=decoding, beam_width=beam_width)
        self.ctc_loss = nn.CTCLoss(blank=charset.blank_index, zero_infinity=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def forward_batch(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        # CTC in float32 whatever the autocast precision
        log_probs = self.net(batch["images"], batch["widths"]).float().log_softmax(-1)
        lengths = self.net.output_lengths(batch["widths"]).clamp(max=log_probs.shape[1])
        return log_probs, lengths

    def loss(self, outputs: tuple[torch.Tensor, torch.Tensor], batch: dict) -> torch.Tensor:
        log_probs, lengths = outputs
        return self.ctc_loss(log_probs.transpose(0, 1), batch["targets"], lengths, batch["target_lengths"])

    def decode(self, outputs: Any, batch: dict) -> list[str]:
        log_probs, lengths = outputs
        return [d.text for d in self.decoder(log_probs, lengths)]
