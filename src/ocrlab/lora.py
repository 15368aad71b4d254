"""LoRA adapters (peft) for any family's transformers network: wrapping the Linear layers a target
names, merging, saving and loading adapters, all from local directories.

A family scopes the targets to its model parts with :func:`target_regex` (its part -> module-name
prefix and Linear leaf names): attention projections named alike in two towers (``q_proj`` in a
vision encoder and a decoder) are then adapted only where the config says.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ocrlab.errors import CheckpointError, ConfigError

if TYPE_CHECKING:  # heavy imports stay out of module import (config composition, --help)
    from peft import PeftModel
    from torch import nn

log = logging.getLogger(__name__)


def target_regex(prefixes: Mapping[str, str], linears: Mapping[str, Sequence[str]], parts: Sequence[str],
                 modules: Sequence[str] | None = None, what: str = "lora") -> str:
    """A ``target_modules`` regex (peft full-matches it on module names) adapting the Linear layers
    of ``parts``: ``prefixes[part]`` is the regex of the part's module names, ``linears[part]`` its
    Linear leaf names. ``modules=None``: every Linear of each part; a list: those leaf names in
    each part (each part must have one). ``what`` names the config entry in errors."""
    if isinstance(parts, str):
        parts = [parts]
    if not parts:
        raise ConfigError(f"{what}.parts: give at least one of " + ", ".join(prefixes))
    alternatives = []
    for part in parts:
        if part not in prefixes:
            raise ConfigError(f"{what}.parts: unknown part {part!r} (expected {', '.join(prefixes)})")
        names = linears[part] if modules is None else [m for m in modules if m in linears[part]]
        if not names:
            raise ConfigError(f"{what}.modules={list(modules)}: none is a Linear of part {part!r} "
                              f"(its Linear layers: {', '.join(linears[part])})")
        prefix = prefixes[part] + r"\." if prefixes[part] else ""
        alternatives.append(prefix + "(?:" + "|".join(re.escape(n) for n in names) + ")")
    return r"(?:.*\.)?(?:" + "|".join(alternatives) + ")"


def linear_module_names(model: nn.Module) -> list[str]:
    """Names of the ``nn.Linear`` modules of ``model``."""
    from torch import nn

    return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]


def abbreviate_names(names: Iterable[str]) -> list[str]:
    """Module names with layer indices folded (``layers.N``), deduplicated, in first-seen order."""
    return list(dict.fromkeys(re.sub(r"\.\d+(?=\.|$)", ".N", n) for n in names))


def matches(target: str | Sequence[str], name: str) -> bool:
    if isinstance(target, str):
        return re.fullmatch(target, name) is not None
    return any(name == t or name.endswith("." + t) for t in target)


def apply_lora(model: nn.Module, target_modules: str | Sequence[str], r: int = 8, alpha: float = 32,
               dropout: float = 0.05, modules_to_save: Sequence[str] | None = None) -> PeftModel:
    """Wrap ``model`` in LoRA adapters (everything else frozen). ``target_modules``: a regex (full
    match on module names, e.g. :func:`target_regex`'s) or a list of names (peft's suffix match).
    No match -> ``ConfigError`` listing the Linear layers that exist."""
    from peft import LoraConfig, get_peft_model

    target = target_modules if isinstance(target_modules, str) else list(target_modules)
    linears = linear_module_names(model)
    if not any(matches(target, n) for n in linears):
        raise ConfigError(f"lora.target_modules={target!r} matches no Linear layer; the model's Linear "
                          f"layers are: {', '.join(abbreviate_names(linears))}")
    config = LoraConfig(r=int(r), lora_alpha=alpha, lora_dropout=float(dropout), target_modules=target,
                        modules_to_save=list(modules_to_save) if modules_to_save else None, bias="none")
    return get_peft_model(model, config)


def merge_lora(peft_model: PeftModel) -> nn.Module:
    """The base model with the adapters merged into its weights (a plain ``PreTrainedModel``)."""
    _untie_adapted_lm_head(peft_model.get_base_model())
    return peft_model.merge_and_unload()


def _untie_adapted_lm_head(model: nn.Module) -> None:
    """Give an adapted ``lm_head`` its own weight before merging. With tied word embeddings (the small
    presets, and ERNIE-based checkpoints) ``lm_head`` shares its weight with the input embeddings:
    merging its adapter in place would change the embeddings too, so the merged model would not give
    the adapted model's outputs. The merged model keeps separate embeddings (config untied, so a
    reload keeps them apart)."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    from torch import nn

    head = getattr(model, "lm_head", None)
    if not isinstance(head, BaseTunerLayer):
        return
    linear = head.get_base_layer()
    embeddings = model.get_input_embeddings()
    if embeddings is None or linear.weight is not getattr(embeddings, "weight", None):
        return
    linear.weight = nn.Parameter(linear.weight.detach().clone(), requires_grad=False)
    for config in {id(c): c for c in (model.config, model.config.get_text_config())}.values():
        config.tie_word_embeddings = False


def save_adapter(peft_model: PeftModel, directory: str | Path) -> Path:
    """Write the adapter (``adapter_config.json`` + weights, not the base model)."""
    directory = Path(directory)
    peft_model.save_pretrained(str(directory))
    return directory


def load_adapter(base_model: nn.Module, directory: str | Path, trainable: bool = False) -> PeftModel:
    """``PeftModel.from_pretrained`` on ``base_model`` from a local adapter directory."""
    from peft import PeftModel

    path = Path(directory)
    if not (path / "adapter_config.json").is_file():
        raise CheckpointError(f"LoRA adapter directory {path}: "
                              f"{'no adapter_config.json' if path.is_dir() else 'does not exist'}")
    try:
        return PeftModel.from_pretrained(base_model, str(path), is_trainable=trainable, local_files_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot load the LoRA adapter on this base model: {e}") from e
