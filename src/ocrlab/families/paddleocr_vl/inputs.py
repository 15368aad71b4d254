"""Model inputs for PaddleOCR-VL chat pairs: the collator of training and generation batches.

A row is ``{"images": [PIL images], "prompt": str, "answer": str | None}`` (optional ``"id"``, used
in error messages). Each row becomes one user turn with its images and prompt, then the assistant
turn:

* the prompt goes through the processor's chat template (``add_generation_prompt=True``; the turn
  format ``User: <image>{prompt}\\nAssistant: `` when the processor has none) and the processor
  itself, which expands each image token to ``grid_t*grid_h*grid_w / merge**2`` tokens and returns
  ``mm_token_type_ids`` (0 text, 1 image);
* the answer is tokenized on its own and followed by the eos id, so the prompt's tokens are the
  same in training and generation and the answer span is exact. ``labels`` are -100 except the
  answer and eos.

Training batches (every answer given) pad on the right, generation batches (every answer ``None``)
on the left. Padding positions get ``attention_mask`` 0, ``mm_token_type_ids`` 0 (text: the model
drops masked positions when it builds its 3-D rope positions) and label -100. ``pixel_values`` and
``image_grid_thw`` are concatenated in row order, which is the order of the image tokens.

``max_length`` bounds the whole sequence. The prompt with its image tokens is never cut (the model
raises "Image features and image tokens do not match" on a cut one): a prompt that does not fit is a
``DatasetError`` naming the row. A too long answer is cut at its tail (its eos dropped, so the model
does not learn to stop there) and counted in ``truncated_answers`` with a warning;
``answer_overflow="error"`` raises instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch

from ocrlab.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
MIN_IMAGE_SIDE = 28  # patch 14 x merge 2: one merged token
MAX_ASPECT_RATIO = 200  # the image processor's own limit


def row_name(row: Mapping[str, Any], index: int) -> str:
    return f"row {index}" + (f" (id {row['id']!r})" if row.get("id") is not None else "")


def check_image(image: Any, name: str, min_side: int = MIN_IMAGE_SIDE,
                max_aspect_ratio: float = MAX_ASPECT_RATIO) -> None:
    """Refuse images the processor would mangle: a side under ``min_side`` pixels (upscaled from
    almost nothing) or an aspect ratio over ``max_aspect_ratio``."""
    size = getattr(image, "size", None)
    if not (isinstance(size, tuple) and len(size) == 2):
        raise DatasetError(f"{name}: expected a PIL image, got {type(image).__name__}")
    width, height = size
    if min(width, height) < min_side:
        raise DatasetError(f"{name}: {width}x{height} px is smaller than {min_side} px on a side")
    if max(width, height) / min(width, height) > max_aspect_ratio:
        raise DatasetError(f"{name}: {width}x{height} px has an aspect ratio over {max_aspect_ratio}")


def format_prompt(processor, prompt: str, num_images: int) -> str:
    """The prompt text up to the assistant's answer, with one image token per image."""
    if getattr(processor, "chat_template", None):
        content = [{"type": "image"}] * num_images + [{"type": "text", "text": prompt}]
        return processor.apply_chat_template([{"role": "user", "content": content}],
                                             add_generation_prompt=True, tokenize=False)
    return f"User: {processor.image_token * num_images}{prompt}\nAssistant: "


class VLChatCollator:
    """Collate chat rows into model inputs (see the module docstring).

    ``__call__(rows)`` returns ``input_ids``, ``attention_mask``, ``mm_token_type_ids``, ``labels``
    (training batches only) and, when a row has images, ``pixel_values`` and ``image_grid_thw``:
    ``model(**batch)`` / ``model.generate(**batch)`` take them as they are.
    """

    def __init__(self, processor, max_length: int | None = None,
                 answer_overflow: Literal["truncate", "error"] = "truncate",
                 min_image_side: int = MIN_IMAGE_SIDE, max_aspect_ratio: float = MAX_ASPECT_RATIO):
        if answer_overflow not in ("truncate", "error"):
            raise ConfigError(f"answer_overflow={answer_overflow!r}: expected 'truncate' or 'error'")
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.max_length = int(max_length) if max_length else None
        self.answer_overflow = answer_overflow
        self.min_image_side = min_image_side
        self.max_aspect_ratio = max_aspect_ratio
        self.truncated_answers = 0  # answers cut to fit max_length so far
        if self.tokenizer.eos_token_id is None or self.tokenizer.pad_token_id is None:
            raise ConfigError("VLChatCollator: the tokenizer needs eos and pad tokens")
        self._reserved = [t for t in (processor.image_token, getattr(self.tokenizer, "vision_start_token", None),
                                      getattr(self.tokenizer, "vision_end_token", None)) if t]

    # -- one row ---------------------------------------------------------------------------------
    def encode_prompt(self, row: Mapping[str, Any], index: int) -> dict[str, Any]:
        """``input_ids`` and ``mm_token_type_ids`` (lists), ``pixel_values``, ``image_grid_thw`` of
        the prompt part of one row."""
        name = row_name(row, index)
        images = row.get("images") or []
        if not isinstance(images, (list, tuple)):
            raise DatasetError(f"{name}: 'images' must be a list of PIL images, got {type(images).__name__}")
        images = list(images)
        prompt = row.get("prompt")
        if not isinstance(prompt, str):
            raise DatasetError(f"{name}: 'prompt' must be a string, got {type(prompt).__name__}")
        for key in ("prompt", "answer"):
            text = row.get(key)
            if isinstance(text, str) and (bad := [t for t in self._reserved if t in text]):
                raise DatasetError(f"{name}: {key} contains the reserved token(s) {bad}")
        for i, image in enumerate(images):
            check_image(image, f"{name} image {i}", self.min_image_side, self.max_aspect_ratio)
        text = format_prompt(self.processor, prompt, len(images))
        out = self.processor(images=images or None, text=[text], add_special_tokens=False, return_tensors="pt")
        encoded = {"input_ids": out["input_ids"][0].tolist()}
        if "mm_token_type_ids" in out:
            encoded["mm_token_type_ids"] = out["mm_token_type_ids"][0].tolist()
        else:  # a processor without them: rebuild from the image token
            image_id = self.processor.image_token_id
            encoded["mm_token_type_ids"] = [int(t == image_id) for t in encoded["input_ids"]]
        if images:
            encoded["pixel_values"] = out["pixel_values"]
            encoded["image_grid_thw"] = out["image_grid_thw"]
        n_image_tokens = sum(encoded["mm_token_type_ids"])
        length = len(encoded["input_ids"]) + (1 if row.get("answer") is not None else 0)
        if self.max_length is not None and length > self.max_length:
            raise DatasetError(f"{name}: the prompt needs {len(encoded['input_ids'])} tokens ({n_image_tokens} "
                               f"image tokens for {len(images)} image(s)) but max_length={self.max_length}"
                               f"{' with room for one answer token' if length > len(encoded['input_ids']) else ''}"
                               ": image tokens are never truncated; raise max_length or lower the image "
                               "processor's max_pixels")
        return encoded

    def encode(self, row: Mapping[str, Any], index: int = 0) -> dict[str, Any]:
        """One row: prompt encoding plus, for a training row, answer ids + eos and ``labels``."""
        encoded = self.encode_prompt(row, index)
        answer = row.get("answer")
        if answer is None:
            return encoded
        if not isinstance(answer, str):
            raise DatasetError(f"{row_name(row, index)}: 'answer' must be a string or None")
        answer_ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        prompt_len = len(encoded["input_ids"])
        room = None if self.max_length is None else self.max_length - prompt_len
        if room is not None and len(answer_ids) > room:
            if self.answer_overflow == "error":
                raise DatasetError(f"{row_name(row, index)}: prompt ({prompt_len} tokens) + answer "
                                   f"({len(answer_ids)} tokens with eos) exceed max_length={self.max_length}")
            answer_ids = answer_ids[:room]
            encoded["truncated"] = True
        encoded["input_ids"] = encoded["input_ids"] + answer_ids
        encoded["mm_token_type_ids"] = encoded["mm_token_type_ids"] + [0] * len(answer_ids)
        encoded["labels"] = [IGNORE_INDEX] * prompt_len + answer_ids
        return encoded

    # -- a batch ---------------------------------------------------------------------------------
    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise DatasetError("VLChatCollator: empty batch")
        with_answer = [r.get("answer") is not None for r in rows]
        if any(with_answer) and not all(with_answer):
            missing = [i for i, has in enumerate(with_answer) if not has]
            raise DatasetError(f"a batch mixes training rows and generation rows (no answer: rows {missing[:10]})")
        training = all(with_answer)
        encoded = [self.encode(row, i) for i, row in enumerate(rows)]
        truncated = sum(bool(e.get("truncated")) for e in encoded)
        if truncated:
            self.truncated_answers += truncated
            log.warning("%d of %d answers cut at max_length=%d (%d so far)", truncated, len(rows),
                        self.max_length, self.truncated_answers)
        return pad_batch(encoded, self.tokenizer.pad_token_id, side="right" if training else "left")


def pad_batch(encoded: Sequence[Mapping[str, Any]], pad_token_id: int,
              side: Literal["right", "left"] = "right") -> dict[str, torch.Tensor]:
    """Pad encoded rows to one length: ``input_ids`` with ``pad_token_id``, ``attention_mask`` and
    ``mm_token_type_ids`` with 0, ``labels`` with -100; concatenate the image tensors in row order."""
    width = max(len(e["input_ids"]) for e in encoded)
    fills = {"input_ids": pad_token_id, "attention_mask": 0, "mm_token_type_ids": 0, "labels": IGNORE_INDEX}
    keys = ["input_ids", "attention_mask", "mm_token_type_ids"] + (["labels"] if "labels" in encoded[0] else [])
    batch = {key: torch.full((len(encoded), width), fills[key], dtype=torch.long) for key in keys}
    for i, e in enumerate(encoded):
        n = len(e["input_ids"])
        cols = slice(0, n) if side == "right" else slice(width - n, width)
        values = {**e, "attention_mask": [1] * n}
        for key in keys:
            batch[key][i, cols] = torch.tensor(values[key], dtype=torch.long)
    with_images = [e for e in encoded if "pixel_values" in e]
    if with_images:
        batch["pixel_values"] = torch.cat([e["pixel_values"] for e in with_images], dim=0)
        batch["image_grid_thw"] = torch.cat([e["image_grid_thw"] for e in with_images], dim=0)
    return batch
