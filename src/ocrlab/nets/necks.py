"""Sequence necks: ``(B, C, 1, T)`` feature maps -> ``(B, T, out_channels)`` sequences."""

from __future__ import annotations

import torch
from torch import nn


class SequenceEncoder(nn.Module):
    """PaddleOCR's ``SequenceEncoder``: ``reshape`` only, or a bidirectional LSTM (``rnn``)."""

    def __init__(self, in_channels: int, encoder_type: str = "rnn", hidden_size: int = 96,
                 num_layers: int = 2, dropout: float = 0.0):
        super().__init__()
        if encoder_type not in ("rnn", "reshape"):
            raise ValueError(f"SequenceEncoder encoder_type must be 'rnn' or 'reshape', got {encoder_type!r}")
        self.encoder_type = encoder_type
        if encoder_type == "rnn":
            self.rnn = nn.LSTM(in_channels, hidden_size, num_layers=num_layers, bidirectional=True,
                               batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
            self.out_channels = 2 * hidden_size
        else:
            self.rnn = None
            self.out_channels = in_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.shape[2] != 1:
            raise ValueError(f"SequenceEncoder expects feature height 1, got {features.shape[2]}")
        seq = features.squeeze(2).permute(0, 2, 1)  # (B, T, C)
        if self.rnn is not None:
            seq, _ = self.rnn(seq)
        return seq
