"""Distillation losses on a decoder's per-token logits (teacher and student share one vocabulary).

Both average over the target tokens that are not padding (-100), as the cross-entropy does, so the
terms mix at comparable scales whatever the line lengths. (Seed 001's ``KLDivLoss(batchmean)`` on
``(batch, tokens, vocab)`` logits divides a sum over all tokens, padding included, by the batch.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _kept(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return logits[mask].float()


def token_kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
                  temperature: float, alpha: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(total, kl, ce)``: total = α·KL(softmax(t/T) ‖ softmax(s/T))·T² + (1 − α)·CE(s, targets).

    Logits ``(batch, tokens, vocab)``; ``targets`` ``(batch, tokens)`` with -100 on padding, which
    neither term counts. The T² keeps the soft term's gradients at the hard term's scale (Hinton et al.)."""
    mask = targets != -100
    s, t = _kept(student_logits, mask), _kept(teacher_logits, mask)
    teacher_log_probs = F.log_softmax(t / temperature, dim=-1)
    student_log_probs = F.log_softmax(s / temperature, dim=-1)
    kl = (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(-1).mean()
    ce = F.cross_entropy(s, targets[mask])
    return alpha * kl * temperature**2 + (1.0 - alpha) * ce, kl, ce


def generalized_jsd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor, beta: float,
                    temperature: float = 1.0) -> torch.Tensor:
    """The generalized Jensen–Shannon divergence of GKD (Agarwal et al. 2024; TRL's ``GKDTrainer``),
    the mean over the tokens of ``mask``:

    JSD_β = β·KL(T ‖ M) + (1 − β)·KL(S ‖ M), with M = β·T + (1 − β)·S;

    at β = 0 and β = 1 the mixture is one of the two and the formula vanishes: there GKD (and TRL)
    take the forward KL(T ‖ S) and the reverse KL(S ‖ T), as here."""
    s = F.log_softmax(_kept(student_logits, mask) / temperature, dim=-1)
    t = F.log_softmax(_kept(teacher_logits, mask) / temperature, dim=-1)
    if beta <= 0.0:
        per_token = (t.exp() * (t - s)).sum(-1)
    elif beta >= 1.0:
        per_token = (s.exp() * (s - t)).sum(-1)
    else:
        mixture = torch.logsumexp(torch.stack([t + math.log(beta), s + math.log(1.0 - beta)]), dim=0)
        per_token = beta * (t.exp() * (t - mixture)).sum(-1) + (1.0 - beta) * (s.exp() * (s - mixture)).sum(-1)
    return per_token.mean()
