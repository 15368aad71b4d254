"""PaddleOCR-VL's tokenizer and processor, built offline, and their agreement with the model config.

The processor is transformers' native ``PaddleOCRVLProcessor`` around a byte-level BPE trained on
the task's texts (:func:`build_processor`), with PaddleOCR-VL's special tokens (numbered first)
and its chat template. :func:`align_config` makes a model config follow a tokenizer (vocabulary size, special
token ids) and :func:`check_consistent` refuses a pair that disagrees; the model side is
:mod:`ocrlab.families.paddleocr_vl.net`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ocrlab.errors import CheckpointError, ConfigError

if TYPE_CHECKING:  # heavy imports stay out of module import (config composition, --help)
    from transformers import PaddleOCRVLConfig, PaddleOCRVLProcessor, PreTrainedTokenizerFast


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
    from tokenizers import AddedToken, decoders

    from ocrlab.text.bpe import train_byte_level_bpe

    minimum = len(SPECIAL_TOKENS) + len(added_tokens) + 256
    if vocab_size < minimum:
        raise ConfigError(f"processor.vocab_size={vocab_size}: a byte-level BPE with these special tokens "
                          f"needs at least {minimum}")
    tok = train_byte_level_bpe(texts, vocab_size - len(added_tokens), min_frequency, SPECIAL_TOKENS, UNK,
                               add_prefix_space=False, what="model.processor")
    tok.decoder = decoders.ByteLevel()
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in added_tokens])
    return wrap_tokenizer(tok)


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


def build_processor(training_texts: Iterable[str], vocab_size: int, min_pixels: int = 384 * 384,
                    max_pixels: int = 1536 * 1536, min_frequency: int = 2,
                    added_tokens: Sequence[str] = OTSL_TOKENS) -> PaddleOCRVLProcessor:
    """A ``PaddleOCRVLProcessor`` built offline: image processor (patch 14, merge 2, resized into
    ``[min_pixels, max_pixels]``), a BPE trained on the prompts and answers, PaddleOCR-VL's chat
    template. Build the model with ``build_network(..., tokenizer=processor.tokenizer)``."""
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


def set_generation_ids(model, tokenizer) -> None:
    """Generation stops and pads with the tokenizer's ids (``generate`` reads them from here)."""
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = (tokenizer.pad_token_id, tokenizer.eos_token_id,
                                                            tokenizer.bos_token_id)
