"""PaddleOCR-VL building blocks: size presets, an offline processor, local loading, LoRA.

Everything uses transformers' native ``paddleocr_vl`` classes (never ``trust_remote_code``) and is
built offline: the model from a preset dict, the processor from a byte-level BPE trained on the
task's texts (``build_processor``). The model config's vocabulary size and special-token ids are
taken from the tokenizer (``align_config``): a model built with ``build_model(..., tokenizer=tok)``
always agrees with its processor, and ``load_pretrained`` refuses a directory where they disagree.

LoRA: ``lora_target_regex`` scopes the adapted layers to model parts. ``q_proj/k_proj/v_proj`` exist
in both towers, so a bare name list would also adapt the vision encoder; the default regex adapts
the language model only.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrlab.errors import CheckpointError, ConfigError

if TYPE_CHECKING:  # heavy imports stay out of module import (config composition, --help)
    from peft import PeftModel
    from torch import nn
    from transformers import (
        PaddleOCRVLConfig,
        PaddleOCRVLForConditionalGeneration,
        PaddleOCRVLProcessor,
        PreTrainedTokenizerFast,
    )

log = logging.getLogger(__name__)

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
# keys of ``build_model``'s dict that are not config fields
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


def build_model(config: Mapping[str, Any] | None = None,
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
        _set_generation_ids(model, tokenizer)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Parameters of ``model`` (tied weights once)."""
    params = {id(p): p for p in model.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in params.values())


# -- tokenizer and processor -------------------------------------------------------------------
PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
CLS = "<|begin_of_sentence|>"  # what PaddleOCR-VL's chat template starts with
IMAGE_TOKEN, IMAGE_START, IMAGE_END = "<|IMAGE_PLACEHOLDER|>", "<|IMAGE_START|>", "<|IMAGE_END|>"
VIDEO_TOKEN = "<|VIDEO_PLACEHOLDER|>"
# ids 0, 1, 2 = pad, bos, eos: PaddleOCRTextConfig's defaults
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK, CLS, IMAGE_TOKEN, IMAGE_START, IMAGE_END, VIDEO_TOKEN)
# OTSL table tags: single tokens that decode as text (``skip_special_tokens`` keeps them)
OTSL_TOKENS = ("<fcel>", "<ecel>", "<lcel>", "<ucel>", "<xcel>", "<nl>")

# PaddleOCR-VL's turn format with the token strings written in: ``apply_chat_template`` passes the
# tokenizer's special-token map as template variables, and its ``image_token`` (the bare
# placeholder) would otherwise replace the template's start + placeholder + end default.
CHAT_TEMPLATE = (
    "{{- '" + CLS + "' -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{- 'User: ' -}}"
    "{%- for c in message['content'] if c['type'] == 'image' -%}"
    "{{- '" + IMAGE_START + IMAGE_TOKEN + IMAGE_END + "' -}}{%- endfor -%}"
    "{%- for c in message['content'] if c['type'] == 'text' -%}{{- c['text'] -}}{%- endfor -%}"
    "{{- '\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- 'Assistant: ' -}}"
    "{%- for c in message['content'] if c['type'] == 'text' -%}{{- c['text'] -}}{%- endfor -%}"
    "{{- '" + EOS + "' -}}"
    "{%- elif message['role'] == 'system' -%}"
    "{%- for c in message['content'] if c['type'] == 'text' -%}{{- c['text'] + '\\n' -}}{%- endfor -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'Assistant: ' -}}{%- endif -%}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
                    added_tokens: Sequence[str] = OTSL_TOKENS) -> PreTrainedTokenizerFast:
    """A byte-level BPE (exact decode, any script) trained on ``texts``, with PaddleOCR-VL's special
    tokens at fixed ids and ``added_tokens`` as whole, non-special tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    minimum = len(SPECIAL_TOKENS) + len(added_tokens) + 256
    if vocab_size < minimum:
        raise ConfigError(f"processor.vocab_size={vocab_size}: a byte-level BPE with these special tokens "
                          f"needs at least {minimum}")
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(added_tokens), min_frequency=min_frequency,
                                  special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    count = 0

    def counted():
        nonlocal count
        for text in texts:
            count += 1
            yield text

    tok.train_from_iterator(counted(), trainer)
    if count == 0:
        raise ConfigError("processor: no texts to train the tokenizer on (is the training split empty?)")
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in added_tokens])
    wrapped = wrap_tokenizer(tok)
    log.info("trained a byte-level BPE on %d texts: %d entries", count, len(wrapped))
    return wrapped


def wrap_tokenizer(tok) -> PreTrainedTokenizerFast:
    """A ``tokenizers.Tokenizer`` of :func:`train_tokenizer` (or its JSON string, as checkpoints
    store it) as the ``PreTrainedTokenizerFast`` PaddleOCR-VL's processor takes."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    if isinstance(tok, str):
        tok = Tokenizer.from_str(tok)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=UNK, cls_token=CLS,
        extra_special_tokens={"image_token": IMAGE_TOKEN, "vision_start_token": IMAGE_START,
                              "vision_end_token": IMAGE_END, "video_token": VIDEO_TOKEN},
        clean_up_tokenization_spaces=False, padding_side="right")


def processor_from_tokenizer(tokenizer, min_pixels: int = 384 * 384,
                             max_pixels: int = 1536 * 1536) -> PaddleOCRVLProcessor:
    """A ``PaddleOCRVLProcessor``: the image processor (patch 14, merge 2, sizes within
    ``[min_pixels, max_pixels]``), ``tokenizer`` and PaddleOCR-VL's chat template."""
    from transformers import PaddleOCRVLImageProcessor, PaddleOCRVLProcessor

    if not 0 < min_pixels <= max_pixels:
        raise ConfigError(f"processor: need 0 < min_pixels ({min_pixels}) <= max_pixels ({max_pixels})")
    image_processor = PaddleOCRVLImageProcessor(min_pixels=int(min_pixels), max_pixels=int(max_pixels))
    return PaddleOCRVLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def reserved_token_ids() -> dict[str, int]:
    """The ids :func:`train_tokenizer` gives the special tokens whatever it is trained on (the
    trainer numbers them first, in order): a model can be built before its tokenizer is trained."""
    index = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    return {"pad_token_id": index[PAD], "bos_token_id": index[BOS], "eos_token_id": index[EOS],
            "image_token_id": index[IMAGE_TOKEN], "video_token_id": index[VIDEO_TOKEN],
            "vision_start_token_id": index[IMAGE_START], "vision_end_token_id": index[IMAGE_END]}


def build_processor(training_texts: Iterable[str], vocab_size: int, min_pixels: int = 384 * 384,
                    max_pixels: int = 1536 * 1536, min_frequency: int = 2,
                    added_tokens: Sequence[str] = OTSL_TOKENS) -> PaddleOCRVLProcessor:
    """A ``PaddleOCRVLProcessor`` built offline: image processor (patch 14, merge 2, resized into
    ``[min_pixels, max_pixels]``), a BPE trained on the prompts and answers, PaddleOCR-VL's chat
    template. Build the model with ``build_model(..., tokenizer=processor.tokenizer)``."""
    if not 0 < min_pixels <= max_pixels:  # before training: a bad setting fails fast
        raise ConfigError(f"processor: need 0 < min_pixels ({min_pixels}) <= max_pixels ({max_pixels})")
    tokenizer = train_tokenizer(training_texts, vocab_size, min_frequency, added_tokens)
    return processor_from_tokenizer(tokenizer, min_pixels, max_pixels)


def _token_ids(tokenizer) -> dict[str, int | None]:
    def tid(token: str | None) -> int | None:
        if token is None:
            return None
        index = tokenizer.convert_tokens_to_ids(token)
        return None if index == tokenizer.unk_token_id and token != tokenizer.unk_token else index

    return {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "image_token_id": tid(getattr(tokenizer, "image_token", None)),
            "video_token_id": tid(getattr(tokenizer, "video_token", None) or VIDEO_TOKEN),
            "vision_start_token_id": tid(getattr(tokenizer, "vision_start_token", None) or IMAGE_START),
            "vision_end_token_id": tid(getattr(tokenizer, "vision_end_token", None) or IMAGE_END)}


def align_config(config: PaddleOCRVLConfig, tokenizer, min_vocab_size: int | None = None) -> PaddleOCRVLConfig:
    """Make ``config`` agree with ``tokenizer`` (in place): vocabulary size = the tokenizer's length
    (or ``min_vocab_size`` if larger), pad/bos/eos and image/video/vision start/end token ids."""
    ids = _token_ids(tokenizer)
    if ids["image_token_id"] is None or ids["eos_token_id"] is None:
        raise ConfigError("tokenizer: needs an eos token and an image token (extra_special_tokens="
                          "{'image_token': ...}) for PaddleOCR-VL")
    text = config.text_config
    text.vocab_size = max(len(tokenizer), int(min_vocab_size or 0))
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        setattr(text, key, ids[key])
    for key in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"):
        if ids[key] is not None:
            setattr(config, key, ids[key])
    return config


def check_consistent(config: PaddleOCRVLConfig, tokenizer, context: str) -> None:
    """Raise ``CheckpointError`` when the model config and tokenizer disagree on the vocabulary
    or the ids the model uses (image token, eos, pad)."""
    ids = _token_ids(tokenizer)
    problems = []
    if len(tokenizer) > config.text_config.vocab_size:
        problems.append(f"tokenizer has {len(tokenizer)} entries, the model {config.text_config.vocab_size}")
    if ids["image_token_id"] != config.image_token_id:
        problems.append(f"image token id {ids['image_token_id']} vs model {config.image_token_id}")
    for key in ("eos_token_id", "pad_token_id"):
        model_id = getattr(config.text_config, key)
        if ids[key] is not None and model_id is not None and ids[key] != model_id:
            problems.append(f"{key} {ids[key]} vs model {model_id}")
    if problems:
        raise CheckpointError(f"{context}: the tokenizer does not match the model: {'; '.join(problems)}")


def _set_generation_ids(model, tokenizer) -> None:
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = (tokenizer.pad_token_id, tokenizer.eos_token_id,
                                                            tokenizer.bos_token_id)


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
                              "with ocrlab.nets.vision_language.save_pretrained(model, processor, dir)")
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
    _set_generation_ids(model, processor.tokenizer)
    return model, processor


# -- LoRA --------------------------------------------------------------------------------------
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


def lora_target_regex(parts: Sequence[str] = ("language_model",), modules: Sequence[str] | None = None) -> str:
    """A ``target_modules`` regex (peft full-matches it on module names) adapting the Linear layers
    of ``parts`` (``language_model``, ``vision``, ``projector``, ``lm_head``). ``modules=None``: every Linear of each
    part (``PART_LINEARS``); a list: those leaf names in each part (each part must have one)."""
    if isinstance(parts, str):
        parts = [parts]
    if not parts:
        raise ConfigError("lora.parts: give at least one of " + ", ".join(PART_PREFIXES))
    alternatives = []
    for part in parts:
        if part not in PART_PREFIXES:
            raise ConfigError(f"lora.parts: unknown part {part!r} (expected {', '.join(PART_PREFIXES)})")
        names = PART_LINEARS[part] if modules is None else [m for m in modules if m in PART_LINEARS[part]]
        if not names:
            raise ConfigError(f"lora.modules={list(modules)}: none is a Linear of part {part!r} "
                              f"(its Linear layers: {', '.join(PART_LINEARS[part])})")
        prefix = PART_PREFIXES[part] + r"\." if PART_PREFIXES[part] else ""
        alternatives.append(prefix + "(?:" + "|".join(re.escape(n) for n in names) + ")")
    return r"(?:.*\.)?(?:" + "|".join(alternatives) + ")"


def linear_module_names(model: nn.Module) -> list[str]:
    """Names of the ``nn.Linear`` modules of ``model``."""
    from torch import nn

    return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]


def abbreviate_names(names: Iterable[str]) -> list[str]:
    """Module names with layer indices folded (``layers.N``), deduplicated, in first-seen order."""
    return list(dict.fromkeys(re.sub(r"\.\d+(?=\.|$)", ".N", n) for n in names))


def _matches(target: str | Sequence[str], name: str) -> bool:
    if isinstance(target, str):
        return re.fullmatch(target, name) is not None
    return any(name == t or name.endswith("." + t) for t in target)


def apply_lora(model: nn.Module, r: int = 8, alpha: float = 32, dropout: float = 0.05,
               target_modules: str | Sequence[str] | None = None,
               modules_to_save: Sequence[str] | None = None) -> PeftModel:
    """Wrap ``model`` in LoRA adapters (everything else frozen). ``target_modules``: a regex (full
    match on module names, e.g. ``lora_target_regex(...)``; the default: the language model's Linear
    layers) or a list of names (peft's suffix match). No match -> ``ConfigError`` listing the
    Linear layers that exist."""
    from peft import LoraConfig, get_peft_model

    target = lora_target_regex() if target_modules is None else target_modules
    if not isinstance(target, str):
        target = list(target)
    linears = linear_module_names(model)
    matched = [n for n in linears if _matches(target, n)]
    if not matched:
        raise ConfigError(f"lora.target_modules={target!r} matches no Linear layer; the model's Linear "
                          f"layers are: {', '.join(abbreviate_names(linears))}")
    if not isinstance(target, str) and any(".visual." in f".{n}" for n in matched):
        log.warning("lora.target_modules=%s also adapts %d vision-encoder layers (bare names match both "
                    "towers; use lora_target_regex to scope them)", target,
                    sum(".visual." in f".{n}" for n in matched))
    config = LoraConfig(r=int(r), lora_alpha=alpha, lora_dropout=float(dropout), target_modules=target,
                        modules_to_save=list(modules_to_save) if modules_to_save else None, bias="none")
    return get_peft_model(model, config)


def merge_lora(peft_model: PeftModel) -> PaddleOCRVLForConditionalGeneration:
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
