"""LoRA for PaddleOCR-VL: which Linear layers to adapt, wrapping, merging, saving and loading adapters.

:func:`lora_target_regex` scopes the adapted layers to model parts. ``q_proj/k_proj/v_proj``
exist in both towers, so a bare name list would also adapt the vision encoder; the default regex
adapts the language model only. Adapters are peft's (the shared :mod:`ocrlab.lora`); everything is loaded from local directories.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ocrlab import lora as shared
from ocrlab.lora import linear_module_names, load_adapter, merge_lora, save_adapter

if TYPE_CHECKING:  # heavy imports stay out of module import (config composition, --help)
    from peft import PeftModel
    from torch import nn

log = logging.getLogger(__name__)

# the Linear layers of each part, by leaf name (transformers 5 module names)
PART_PREFIXES = {
    "language_model": r"model\.language_model\.layers\.\d+\.(?:self_attn|mlp)",
    "vision": r"model\.visual\.vision_model\.encoder\.layers\.\d+\.(?:self_attn|mlp)",
    "projector": r"model\.projector",
    # the output head (tied to the input embeddings in the small presets; merge_lora unties it)
    "lm_head": "",
}
PART_LINEARS = {
    "language_model": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "vision": ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
    "projector": ("linear_1", "linear_2"),
    "lm_head": ("lm_head",),
}


__all__ = ["apply_lora", "linear_module_names", "load_adapter", "lora_target_regex", "merge_lora", "save_adapter"]


def lora_target_regex(parts: Sequence[str] = ("language_model",), modules: Sequence[str] | None = None) -> str:
    """A ``target_modules`` regex adapting the Linear layers of ``parts`` (``language_model``,
    ``vision``, ``projector``, ``lm_head``). ``modules=None``: every Linear of each part
    (``PART_LINEARS``); a list: those leaf names in each part (each part must have one)."""
    return shared.target_regex(PART_PREFIXES, PART_LINEARS, parts, modules)


def apply_lora(model: nn.Module, r: int = 8, alpha: float = 32, dropout: float = 0.05,
               target_modules: str | Sequence[str] | None = None,
               modules_to_save: Sequence[str] | None = None) -> PeftModel:
    """:func:`ocrlab.lora.apply_lora` with the language model's Linear layers as the default target;
    a bare name list that also reaches the vision tower is warned about."""
    target = lora_target_regex() if target_modules is None else target_modules
    if not isinstance(target, str):
        visual = [n for n in linear_module_names(model) if ".visual." in f".{n}" and shared.matches(list(target), n)]
        if visual:
            log.warning("lora.target_modules=%s also adapts %d vision-encoder layers (bare names match both "
                        "towers; use lora_target_regex to scope them)", list(target), len(visual))
    return shared.apply_lora(model, target, r, alpha, dropout, modules_to_save)
