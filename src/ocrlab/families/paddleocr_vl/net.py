"""PaddleOCR-VL's network: size presets, the model built from a preset, local model directories.

Everything uses transformers' native ``paddleocr_vl`` classes (never ``trust_remote_code``) and is
built offline: the model from a preset dict, the processor from a byte-level BPE trained on the
task's texts (:mod:`ocrlab.families.paddleocr_vl.hf_processor`). The model config's vocabulary size
and special-token ids are taken from the tokenizer (``align_config``): a model built with
``build_network(..., tokenizer=tok)`` always agrees with its processor, and ``load_pretrained``
refuses a directory where they disagree. LoRA adapters: :mod:`ocrlab.families.paddleocr_vl.lora`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrlab.errors import CheckpointError, ConfigError
from ocrlab.families.paddleocr_vl.hf_processor import align_config, check_consistent, set_generation_ids

if TYPE_CHECKING:  # heavy imports stay out of module import (config composition, --help)
    from torch import nn
    from transformers import (
        PaddleOCRVLConfig,
        PaddleOCRVLForConditionalGeneration,
        PaddleOCRVLProcessor,
        PreTrainedTokenizerFast,
    )

# -- size presets ------------------------------------------------------------------------------
# Text rope: ``mrope_section`` (temporal, height, width) must sum to head_dim / 2.
PRESETS: dict[str, dict[str, Any]] = {
    # unit tests: 0.28 M params with a 300-entry vocabulary; 35-70 ms a step (batch 2, small images)
    "tiny": {
        "vision_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "image_size": 112},
        "text_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                        "max_position_embeddings": 4096,
                        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                            "mrope_section": [2, 3, 3]}},
    },
    # the CPU experiment: 4.7 M params with a 2,000-entry vocabulary; a 384x384 page -> 26x26 patches,
    # 169 image tokens; ~0.9 s a step (batch 2, ~155 answer tokens, 1 thread), ~80 tokens/s generation
    "small": {
        "vision_config": {"hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 4,
                          "num_attention_heads": 4, "image_size": 384},
        "text_config": {"hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 4,
                        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
                        "max_position_embeddings": 8192,
                        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                            "mrope_section": [8, 12, 12]}},
    },
    # PaddleOCR-VL-0.9B (the config classes' defaults: NaViT/SigLIP encoder 1152 x 27 layers,
    # ERNIE-4.5-0.3B decoder 1024 x 18 layers, GQA 16/2 heads of 128, vocabulary 103,424)
    "real": {
        "vision_config": {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27,
                          "num_attention_heads": 16, "image_size": 384, "patch_size": 14,
                          "spatial_merge_size": 2, "hidden_act": "gelu_pytorch_tanh"},
        "text_config": {"vocab_size": 103424, "hidden_size": 1024, "intermediate_size": 3072,
                        "num_hidden_layers": 18, "num_attention_heads": 16, "num_key_value_heads": 2,
                        "head_dim": 128, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
                        "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0,
                                            "mrope_section": [16, 24, 24]}},
    },
}
# keys of ``build_network``'s dict that are not config fields
_BUILD_KEYS = ("preset", "attn_implementation", "dtype")


class _MropeWarningFilter(logging.Filter):
    """PaddleOCRTextConfig lacks Qwen2-VL's ``ignore_keys_at_rope_validation = {"mrope_section"}``:
    every config (the published one too) logs "Unrecognized keys in `rope_parameters`" on each
    construction, save and load. Installed once on that logger; drops only that message."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mrope_section" not in record.getMessage()


_rope_logger = logging.getLogger("transformers.modeling_rope_utils")
if not any(isinstance(f, _MropeWarningFilter) for f in _rope_logger.filters):
    _rope_logger.addFilter(_MropeWarningFilter())


def _deep_merge(base: dict, overrides: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check_keys(merged: Mapping[str, Any]) -> None:
    """PreTrainedConfig takes any keyword: refuse names that are not fields (typos)."""
    import dataclasses

    from transformers import PaddleOCRTextConfig, PaddleOCRVisionConfig, PaddleOCRVLConfig

    for where, cls, values in (("model", PaddleOCRVLConfig, merged),
                               ("model.vision_config", PaddleOCRVisionConfig, merged.get("vision_config") or {}),
                               ("model.text_config", PaddleOCRTextConfig, merged.get("text_config") or {})):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown} (fields of {cls.__name__}: "
                              f"{', '.join(sorted(fields))})")


def model_config(config: Mapping[str, Any] | None = None,
                 tokenizer: PreTrainedTokenizerFast | None = None) -> PaddleOCRVLConfig:
    """A ``PaddleOCRVLConfig`` from ``{"preset": name, **overrides}`` (overrides deep-merge onto the
    preset; ``vision_config`` / ``text_config`` are dicts). With ``tokenizer`` the vocabulary size and
    token ids follow it (an explicit ``text_config.vocab_size`` is kept as a minimum)."""
    from transformers import PaddleOCRVLConfig

    config = dict(config or {})
    name = config.pop("preset", "tiny")
    if name not in PRESETS:
        raise ConfigError(f"model.preset={name!r}: expected one of {sorted(PRESETS)}")
    for key in _BUILD_KEYS:
        config.pop(key, None)
    merged = _deep_merge(PRESETS[name], config)
    _check_keys(merged)
    try:
        cfg = PaddleOCRVLConfig(**merged)
    except Exception as e:  # TypeError, ValueError, huggingface_hub's StrictDataclassError
        raise ConfigError(f"model (preset {name!r}): invalid PaddleOCR-VL config: {e}") from e
    text = cfg.text_config
    section = text.rope_parameters.get("mrope_section", [16, 24, 24])
    if sum(section) * 2 != text.head_dim:
        raise ConfigError(f"model.text_config.rope_parameters.mrope_section={section}: must sum to "
                          f"head_dim / 2 = {text.head_dim // 2}")
    if tokenizer is not None:
        explicit = (config.get("text_config") or {}).get("vocab_size")
        align_config(cfg, tokenizer, min_vocab_size=explicit)
    return cfg


def build_network(config: Mapping[str, Any] | None = None,
                tokenizer: PreTrainedTokenizerFast | None = None) -> PaddleOCRVLForConditionalGeneration:
    """A randomly initialised model from a preset plus overrides (see ``model_config``). Extra keys:
    ``attn_implementation`` (default ``"sdpa"``), ``dtype`` (the weights are cast after init).
    With a tokenizer the vocabulary is the tokenizer's: give ``text_config.vocab_size`` to keep a
    larger head (e.g. the published 103,424 for benchmarks of ``real``)."""
    import torch
    from transformers import PaddleOCRVLForConditionalGeneration

    config = dict(config or {})
    cfg = model_config(config, tokenizer)
    cfg._attn_implementation = config.get("attn_implementation", "sdpa")
    dtype = config.get("dtype")
    model = PaddleOCRVLForConditionalGeneration(cfg)
    if dtype is not None:
        model = model.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype)
    if tokenizer is not None:
        set_generation_ids(model, tokenizer)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Parameters of ``model`` (tied weights once)."""
    params = {id(p): p for p in model.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in params.values())


# -- local model directories -------------------------------------------------------------------
_PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def save_pretrained(model, processor, directory: str | Path) -> Path:
    """Write model (config + safetensors) and processor files into one directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory))
    processor.save_pretrained(str(directory))
    return directory


def load_pretrained(model_dir: str | Path, dtype: Any = None, attn_implementation: str | None = "sdpa",
                    quantization_config: Any = None, device_map: Any = None,
                    ) -> tuple[PaddleOCRVLForConditionalGeneration, PaddleOCRVLProcessor]:
    """Model and processor from a local directory, with the native classes only (no hub, no remote
    code). Errors name the directory: missing, not PaddleOCR-VL, no processor/tokenizer files, or a
    tokenizer that disagrees with the model. ``quantization_config`` (e.g. a ``BitsAndBytesConfig``)
    and ``device_map`` go to ``from_pretrained``: the weights are quantized while they load."""
    from transformers import PaddleOCRVLForConditionalGeneration, PaddleOCRVLProcessor

    path = Path(model_dir)
    if not path.is_dir():
        raise CheckpointError(f"PaddleOCR-VL model directory {path} does not exist (a local directory is "
                              "required: no model hub is contacted)")
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: no config.json (not a saved model directory)")
    missing = [kind for kind, names in (("image processor", _PROCESSOR_FILES), ("tokenizer", _TOKENIZER_FILES))
               if not any((path / n).is_file() for n in names)]
    if missing:
        raise CheckpointError(f"{path}: a model directory without a processor (no {' and no '.join(missing)} "
                              f"files: expected one of {_PROCESSOR_FILES} and of {_TOKENIZER_FILES}); save it "
                              "with ocrlab.families.paddleocr_vl.net.save_pretrained(model, processor, dir)")
    try:
        processor = PaddleOCRVLProcessor.from_pretrained(str(path), local_files_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot load a PaddleOCR-VL processor: {e}") from e
    kwargs: dict[str, Any] = {"local_files_only": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = PaddleOCRVLForConditionalGeneration.from_pretrained(str(path), **kwargs)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot load a PaddleOCR-VL model (native classes, no remote code): "
                              f"{e}") from e
    check_consistent(model.config, processor.tokenizer, str(path))
    set_generation_ids(model, processor.tokenizer)
    return model, processor


# -- training ----------------------------------------------------------------------------------
def set_gradient_checkpointing(model: nn.Module, enabled: bool = True, use_reentrant: bool = False) -> None:
    """Toggle activation checkpointing of the decoder and encoder layers; works on a PeftModel.

    Reentrant checkpointing gives no gradient to a layer whose inputs need none (frozen embeddings
    under LoRA). transformers' ``enable_input_require_grads`` hooks only the token embeddings, so
    LoRA in the vision encoder would silently get no gradient: the patch embeddings are hooked too.
    ``use_cache`` is left alone (``generate`` keeps its KV cache); pass ``use_cache=False`` in training
    forwards (checkpointed layers drop the cache anyway, with a warning)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hooks = getattr(base, "_ocrlab_grad_hooks", [])
    for hook in hooks:
        hook.remove()
    base._ocrlab_grad_hooks = []
    if enabled:
        kwargs = {"use_reentrant": use_reentrant}
        if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5.x
            base.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        if use_reentrant:
            base.enable_input_require_grads()
            try:
                patches = base.get_submodule("model.visual.vision_model.embeddings")
            except AttributeError:
                patches = None
            if patches is not None:
                base._ocrlab_grad_hooks.append(
                    patches.register_forward_hook(lambda module, args, output: output.requires_grad_(True)))
    elif hasattr(base, "activation_checkpointing_disable"):
        base.activation_checkpointing_disable()
    else:
        base.gradient_checkpointing_disable()
