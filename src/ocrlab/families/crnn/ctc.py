"""CTC post-processing, kept apart from the network (as in docTR): logits in, text out.

Both decoders share the model's :class:`~ocrlab.text.Charset`, so the blank index and symbol
order always match what the loss was trained with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ocrlab.text.charset import Charset


@dataclass(frozen=True)
class Decoded:
    text: str
    confidence: float  # geometric mean probability of the emitted path, in [0, 1]


class CTCDecoder:
    """Greedy (best path) or prefix beam search decoding of ``(B, T, C)`` log-probabilities."""

    def __init__(self, charset: Charset, method: str = "greedy", beam_width: int = 8):
        if method not in ("greedy", "beam"):
            raise ValueError(f"CTC decoding method must be 'greedy' or 'beam', got {method!r}")
        if beam_width < 1:
            raise ValueError(f"beam_width must be >= 1, got {beam_width}")
        self.charset = charset
        self.method = method
        self.beam_width = beam_width

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor | None = None) -> list[Decoded]:
        if log_probs.ndim != 3:
            raise ValueError(f"expected (batch, time, classes) log-probabilities, got {tuple(log_probs.shape)}")
        log_probs = log_probs.detach().float().cpu()
        batch, steps, _ = log_probs.shape
        lengths_list = [steps] * batch if lengths is None else [int(x) for x in lengths]
        if self.method == "greedy":
            return self._greedy(log_probs, lengths_list)
        return [self._beam(log_probs[b, : lengths_list[b]]) for b in range(batch)]

    def _greedy(self, log_probs: torch.Tensor, lengths: list[int]) -> list[Decoded]:
        best_logp, best = log_probs.max(dim=-1)
        out = []
        blank = self.charset.blank_index
        for b, n in enumerate(lengths):
            path = best[b, :n].tolist()
            kept = [c for t, c in enumerate(path) if c != blank and (t == 0 or c != path[t - 1])]
            mean_logp = float(best_logp[b, :n].mean()) if n else 0.0
            out.append(Decoded(self.charset.decode(kept), math.exp(mean_logp)))
        return out

    def _beam(self, log_probs: torch.Tensor) -> Decoded:
        """Prefix beam search; each prefix keeps (log p ending in blank, log p ending in symbol)."""
        blank = self.charset.blank_index
        neg_inf = -math.inf
        beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, neg_inf)}
        n_cand = min(self.beam_width, log_probs.shape[-1])
        for t in range(log_probs.shape[0]):
            row = log_probs[t]
            candidates = torch.topk(row, n_cand).indices.tolist()
            if blank not in candidates:
                candidates.append(blank)
            nxt: dict[tuple[int, ...], list[float]] = {}
            for prefix, (p_b, p_nb) in beams.items():
                total = _logaddexp(p_b, p_nb)
                for c in candidates:
                    lp = float(row[c])
                    if c == blank:
                        _accumulate(nxt, prefix, total + lp, neg_inf)
                    elif prefix and prefix[-1] == c:
                        _accumulate(nxt, prefix, neg_inf, p_nb + lp)  # repeat without blank: same prefix
                        _accumulate(nxt, prefix + (c,), neg_inf, p_b + lp)  # blank in between: new symbol
                    else:
                        _accumulate(nxt, prefix + (c,), neg_inf, total + lp)
            ranked = sorted(nxt.items(), key=lambda kv: _logaddexp(*kv[1]), reverse=True)
            beams = {k: (v[0], v[1]) for k, v in ranked[: self.beam_width]}
        best_prefix, (p_b, p_nb) = max(beams.items(), key=lambda kv: _logaddexp(*kv[1]))
        steps = max(log_probs.shape[0], 1)
        return Decoded(self.charset.decode(best_prefix), math.exp(_logaddexp(p_b, p_nb) / steps))


def _accumulate(beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], p_b: float, p_nb: float) -> None:
    """Add path probabilities (log space) ending in blank / in a symbol to a prefix."""
    cur = beams.setdefault(prefix, [-math.inf, -math.inf])
    cur[0] = _logaddexp(cur[0], p_b)
    cur[1] = _logaddexp(cur[1], p_nb)


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))
