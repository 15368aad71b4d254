"""Sequence necks: ``(B, C, 1, T)`` feature maps -> ``(B, T, out_channels)`` sequences."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


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

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``lengths``: real time steps per sample; the LSTM then never reads right padding, so a
        line's output does not depend on what it was batched with."""
        if features.shape[2] != 1:
            raise ValueError(f"SequenceEncoder expects feature height 1, got {features.shape[2]}")
        seq = features.squeeze(2).permute(0, 2, 1)  # (B, T, C)
        if self.rnn is None:
            return seq
        if lengths is None:
            return self.rnn(seq)[0]
        packed = pack_padded_sequence(seq, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=seq.shape[1])[0]
