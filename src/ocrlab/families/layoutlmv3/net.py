"""A LayoutLMv3 encoder with three heads: document type, subtype, token labels.

The network scores *windows* (one document longer than the sequence length becomes several):
its outputs are per window, so the same graph runs in PyTorch and ONNX Runtime. Documents are
put back together by :func:`merge_windows` (mean of the windows' document logits, equal to the
head applied to the mean CLS feature since the head is linear; per word, the mean logits of its
first sub-token over the windows that hold it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# keys of LayoutLMv3Config that describe the network (the rest is bookkeeping)
ENCODER_KEYS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
    "initializer_range", "layer_norm_eps", "pad_token_id", "bos_token_id", "eos_token_id",
    "max_2d_position_embeddings", "coordinate_size", "shape_size", "has_relative_attention_bias", "rel_pos_bins",
    "max_rel_pos", "rel_2d_pos_bins", "max_rel_2d_pos", "has_spatial_attention_bias", "text_embed", "visual_embed",
    "input_size", "num_channels", "patch_size",
)  # fmt: skip


def encoder_config(settings: dict[str, Any]):
    """A ``LayoutLMv3Config`` from plain settings, checked where LayoutLMv3 itself would fail late."""
    from transformers import LayoutLMv3Config

    unknown = sorted(set(settings) - set(ENCODER_KEYS))
    if unknown:
        raise ValueError(f"model.encoder: unknown LayoutLMv3 settings {unknown}")
    config = LayoutLMv3Config(**settings)
    spatial = 4 * config.coordinate_size + 2 * config.shape_size
    if spatial != config.hidden_size:
        raise ValueError(f"model.encoder: 4 x coordinate_size + 2 x shape_size must equal hidden_size "
                         f"({4 * config.coordinate_size} + {2 * config.shape_size} != {config.hidden_size})")
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(f"model.encoder: hidden_size {config.hidden_size} is not a multiple of "
                         f"num_attention_heads {config.num_attention_heads}")
    return config


def plain_encoder_settings(config) -> dict[str, Any]:
    """The network-defining settings of a ``LayoutLMv3Config`` (what checkpoints store)."""
    d = config.to_dict()
    return {k: d[k] for k in ENCODER_KEYS if k in d}


class LayoutMultitaskNet(nn.Module):
    """``LayoutLMv3Model`` + linear heads on the text CLS feature (document type, subtype)
    and on every text token (labels)."""

    def __init__(self, config, num_doc_types: int, num_subtypes: int, num_labels: int, dropout: float = 0.1,
                 context_kernel: int = 0):
        super().__init__()
        from transformers import LayoutLMv3Model

        self.backbone = LayoutLMv3Model(config)
        # optional local mixing of neighbouring tokens' embeddings (a depthwise 1-D convolution
        # over the sequence, added to the word embeddings): a model trained from scratch gets "the
        # word before me" at once instead of learning it through attention over absolute
        # positions, which HF's LayoutLMv3 does not help with (its relative biases get no
        # gradient, see below). 0: off (pretrained encoders keep their own inputs)
        if context_kernel and (context_kernel < 0 or context_kernel % 2 == 0):
            raise ValueError(f"model.context_kernel={context_kernel}: expected 0 (off) or an odd size")
        hidden = config.hidden_size
        self.context = (nn.Conv1d(hidden, hidden, context_kernel, padding=context_kernel // 2, groups=hidden)
                        if context_kernel else None)
        # LayoutLMv3 computes its relative-position biases under torch.no_grad(): they never get
        # a gradient, which DDP reports as unused parameters and FSDP2 as missing optimizer
        # state. They stay at their initial (or pretrained) values either way: freeze them.
        for name, p in self.backbone.encoder.named_parameters():
            if name.startswith("rel_pos"):
                p.requires_grad_(False)
        # the block's class, kept now: once FSDP wraps the layers their type is the wrapper's
        self._layer_class = type(self.backbone.encoder.layer[0])
        self.dropout = nn.Dropout(dropout)
        self.doc_type_head = nn.Linear(hidden, num_doc_types)
        self.subtype_head = nn.Linear(hidden, max(1, num_subtypes))
        self.token_head = nn.Linear(hidden, num_labels)

    @property
    def layer_class(self) -> type[nn.Module]:
        """The transformer block: FSDP's wrap unit and the activation-checkpointing unit."""
        return self._layer_class

    def forward(self, input_ids: torch.Tensor, bbox: torch.Tensor, attention_mask: torch.Tensor,
                pixel_values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per window: (doc-type logits [W, T], subtype logits [W, S], token logits [W, L, labels])."""
        embeds = None
        if self.context is not None:
            words = self.backbone.embeddings.word_embeddings(input_ids)
            words = words * attention_mask[..., None].to(words.dtype)  # padding mixes nothing in
            embeds = words + self.context(words.transpose(1, 2)).transpose(1, 2)
        # with both given, HF takes the position ids from input_ids and the embeddings as given
        out = self.backbone(input_ids=input_ids, bbox=bbox, attention_mask=attention_mask, inputs_embeds=embeds,
                            pixel_values=pixel_values).last_hidden_state
        text = self.dropout(out[:, : input_ids.shape[1]])
        cls = text[:, 0]
        return self.doc_type_head(cls), self.subtype_head(cls), self.token_head(text)


def merge_windows(doc_logits: torch.Tensor, subtype_logits: torch.Tensor, token_logits: torch.Tensor,
                  window_doc: torch.Tensor, word_index: torch.Tensor, num_docs: int,
                  words_per_doc: list[int]) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Windows -> documents: (doc-type logits [D, T], subtype logits [D, S], per document a
    [words, labels] tensor of word logits).

    ``window_doc[w]`` is the document of window ``w``; ``word_index[w, t]`` the word whose first
    sub-token sits at position ``t`` of window ``w`` (-1 elsewhere). Every word must appear in
    at least one window (``DocumentInputSpec.window_starts`` guarantees it; tested).
    """
    counts = torch.zeros(num_docs, device=doc_logits.device).index_add_(
        0, window_doc, torch.ones_like(window_doc, dtype=torch.float))
    def mean_by_doc(x: torch.Tensor) -> torch.Tensor:
        summed = torch.zeros(num_docs, x.shape[-1], device=x.device, dtype=torch.float)
        return summed.index_add_(0, window_doc, x.float()) / counts[:, None]

    starts = [0]
    for n in words_per_doc:  # python ints: no device sync
        starts.append(starts[-1] + int(n))
    offsets = torch.tensor(starts, device=token_logits.device)
    total = starts[-1]
    keep = word_index >= 0
    flat_word = (word_index + offsets[window_doc][:, None])[keep]  # global word ids
    picked = token_logits[keep].float()
    sums = torch.zeros(total, token_logits.shape[-1], device=token_logits.device).index_add_(0, flat_word, picked)
    hits = torch.zeros(total, device=token_logits.device).index_add_(0, flat_word, torch.ones_like(flat_word, dtype=torch.float))
    words = sums / hits.clamp(min=1)[:, None]
    per_doc = [words[starts[i] : starts[i + 1]] for i in range(num_docs)]
    return mean_by_doc(doc_logits), mean_by_doc(subtype_logits), per_doc
