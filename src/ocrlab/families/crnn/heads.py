"""Prediction heads."""

from __future__ import annotations

import torch
from torch import nn


class CTCHead(nn.Module):
    """Linear projection of each time step onto the charset classes (blank included)."""

    def __init__(self, in_channels: int, num_classes: int, mid_channels: int | None = None):
        super().__init__()
        if mid_channels:
            self.proj = nn.Sequential(nn.Linear(in_channels, mid_channels), nn.Hardswish(),
                                      nn.Linear(mid_channels, num_classes))
        else:
            self.proj = nn.Linear(in_channels, num_classes)
        self.out_channels = num_classes

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        return self.proj(seq)  # logits (B, T, num_classes)
