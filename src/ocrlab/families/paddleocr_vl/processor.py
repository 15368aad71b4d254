"""The processor a vision-language model owns: tokenizer, image processor, chat template.

Three ways to get one, all offline (as :class:`~ocrlab.families.layoutlmv3.tokenizer.DocumentTokenizer`):

* ``tokenizer_json`` given (what a checkpoint stores: it rebuilds exactly, no files needed);
* ``pretrained``: a local model directory with the processor files (never a hub name);
* ``train_texts``: an iterable of texts (the training pairs' prompts and answers), a byte-level
  BPE trained on first use. The model is built before generated data exists, so training waits
  until the data module asks; ``vocab_size`` embedding rows are reserved and the special tokens
  have fixed ids (:func:`~ocrlab.families.paddleocr_vl.hf_processor.reserved_token_ids`), so the
  network's shape never depends on the data.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ocrlab.errors import CheckpointError, ConfigError

DEFAULT_MIN_PIXELS = 384 * 384
DEFAULT_MAX_PIXELS = 1536 * 1536


def pixel_bounds(image_processor) -> tuple[int, int]:
    """(min_pixels, max_pixels) of a PaddleOCR-VL image processor (transformers 5 keeps them in
    ``size`` as ``shortest_edge``/``longest_edge``, counted in pixels)."""
    size = image_processor.size
    get = size.get if isinstance(size, dict) else lambda k, d=None: getattr(size, k, d)
    low = get("min_pixels") or get("shortest_edge") or DEFAULT_MIN_PIXELS
    high = get("max_pixels") or get("longest_edge") or DEFAULT_MAX_PIXELS
    return int(low), int(high)


class VLProcessor:
    def __init__(self, tokenizer_json: str | None = None, pretrained: str | None = None,
                 train_texts: Iterable[str] | None = None, vocab_size: int = 4000, min_frequency: int = 2,
                 min_pixels: int = DEFAULT_MIN_PIXELS, max_pixels: int = DEFAULT_MAX_PIXELS):
        given = [n for n, v in (("tokenizer_json", tokenizer_json), ("pretrained", pretrained),
                                ("train_texts", train_texts)) if v is not None]
        if len(given) != 1:
            raise ConfigError(f"processor: give exactly one of tokenizer_json, pretrained, train_texts; got {given}")
        if not 0 < min_pixels <= max_pixels:
            raise ConfigError(f"processor: need 0 < min_pixels ({min_pixels}) <= max_pixels ({max_pixels})")
        self.tokenizer_json = tokenizer_json
        self.pretrained = pretrained
        self.train_texts = train_texts
        self.vocab_size = int(vocab_size)
        self.min_frequency = int(min_frequency)
        self.min_pixels, self.max_pixels = int(min_pixels), int(max_pixels)
        self._processor = None

    @property
    def ready(self) -> bool:
        return self.tokenizer_json is not None or self._processor is not None

    def get(self):
        """The ``PaddleOCRVLProcessor`` (trained, rebuilt or loaded on first call)."""
        if self._processor is not None:
            return self._processor
        from ocrlab.families.paddleocr_vl.hf_processor import (
            build_processor,
            processor_from_tokenizer,
            wrap_tokenizer,
        )

        if self.pretrained is not None:
            path = Path(self.pretrained)
            if not path.is_dir():
                raise ConfigError(f"processor: pretrained model directory {path} does not exist (a local "
                                  "directory is required: no model hub is contacted)")
            from transformers import PaddleOCRVLProcessor

            try:
                self._processor = PaddleOCRVLProcessor.from_pretrained(str(path), local_files_only=True)
            except Exception as e:
                raise CheckpointError(f"{path}: a model directory without a usable processor: {e}") from e
        elif self.tokenizer_json is not None:
            tokenizer = wrap_tokenizer(self.tokenizer_json)
            self._processor = processor_from_tokenizer(tokenizer, self.min_pixels, self.max_pixels)
        else:
            self._processor = build_processor(self.train_texts, self.vocab_size, self.min_pixels,
                                              self.max_pixels, self.min_frequency)
            self.tokenizer_json = self._processor.tokenizer.backend_tokenizer.to_str()
            self.train_texts = None
        if self.pretrained is None and len(self._processor.tokenizer) > self.vocab_size:
            raise CheckpointError(f"processor: the tokenizer has {len(self._processor.tokenizer)} entries but the "
                                  f"model reserves {self.vocab_size} (raise model.processor.vocab_size)")
        return self._processor

    # -- label-space contract ----------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        base = {"_target_": f"{__name__}.VLProcessor", "vocab_size": self.vocab_size,
                "min_pixels": self.min_pixels, "max_pixels": self.max_pixels}
        if self.pretrained is not None:
            return {**base, "pretrained": self.pretrained}
        self.get()
        return {**base, "tokenizer_json": self.tokenizer_json}

    def check_same(self, other: VLProcessor, context: str) -> None:
        """A processor not trained yet adopts the checkpoint's (resume, evaluation); otherwise
        the tokenizer and the image sizes must be the checkpoint's."""
        if not self.ready and self.pretrained is None:
            if other.vocab_size != self.vocab_size:
                raise CheckpointError(f"{context}: the checkpoint's processor reserves {other.vocab_size} "
                                      f"embedding rows, this run {self.vocab_size} (set model.processor.vocab_size)")
            self.tokenizer_json, self.pretrained, self.train_texts = other.tokenizer_json, other.pretrained, None
            self.min_pixels, self.max_pixels = other.min_pixels, other.max_pixels
            self._processor = None
            return
        mine, theirs = self.to_config(), other.to_config()
        if mine != theirs:
            differs = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise CheckpointError(f"{context}: the processor differs from the checkpoint's ({', '.join(differs)})")
