"""Composition of backbone -> neck -> head, each built from the previous ``out_channels``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class CTCRecognitionNet(nn.Module):
    """A CRNN: ``neck`` and ``head`` are factories taking ``in_channels`` (Hydra ``_partial_``).

    ``channels_last`` runs the backbone in NHWC memory format: the same numbers, and on CPU oneDNN's
    convolution kernels (depthwise ones above all) are faster in it; on an H100 the fp32 step was
    13x slower (conf/model/crnn.yaml), so it is for CPU recipes.
    """

    def __init__(self, backbone: nn.Module, neck: Callable[..., nn.Module], head: Callable[..., nn.Module],
                 num_classes: int, channels_last: bool = False):
        super().__init__()
        self.backbone = backbone
        self.neck = neck(in_channels=backbone.out_channels)
        self.head = head(in_channels=self.neck.out_channels, num_classes=num_classes)
        self.channels_last = channels_last
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> logits ``(B, T, num_classes)`` with ``T = W // 4``;
        ``widths`` (unpadded image widths) keep the recurrent neck off the padding."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        features = self.backbone(images, widths)
        lengths = None if widths is None else self.output_lengths(widths).clamp(max=features.shape[-1])
        return self.head(self.neck(features, lengths))

    def ctc_outputs(self, images: torch.Tensor, widths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What CTC loss and decoding read (and the ONNX graph returns): float32 log-probabilities
        ``(B, T, num_classes)`` and each line's valid steps."""
        log_probs = self(images, widths).float().log_softmax(-1)  # CTC in float32 whatever the autocast
        return log_probs, self.output_lengths(widths).clamp(max=log_probs.shape[1])

    @staticmethod
    def output_lengths(widths: torch.Tensor) -> torch.Tensor:
        """Time steps that hold real (unpadded) image columns, for CTC and decoding."""
        return torch.clamp(widths // 4, min=1)
