"""The processor a vision-language model owns: tokenizer, image processor, chat template.

Three ways to get one, all offline (as :class:`~ocrlab.families.layoutlmv3.tokenizer.DocumentTokenizer`):

* ``tokenizer_json`` given (what a checkpoint stores: it rebuilds exactly, no files needed);
* ``pretrained``: a local model directory with the processor files (never a hub name);
* learned from the training pairs' prompts and answers: the config names a
  :class:`ProcessorOfTrainingPairs`, which :func:`ocrlab.label_spaces.fit_label_spaces` fits (a
  byte-level BPE) once the data is prepared, before the model is built. ``vocab_size`` embedding
  rows are reserved, so the network's shape never depends on the data.
"""

from __future__ import annotations

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


def _check_pixels(min_pixels: int, max_pixels: int) -> tuple[int, int]:
    if not 0 < min_pixels <= max_pixels:
        raise ConfigError(f"processor: need 0 < min_pixels ({min_pixels}) <= max_pixels ({max_pixels})")
    return int(min_pixels), int(max_pixels)


class ProcessorOfTrainingPairs:
    """A processor whose byte-level BPE is to be learned from the training pairs' prompts and
    answers (a ``LearnedLabelSpace``: :meth:`fit` reads them through the data module's
    ``training_texts()``); image sizes as given."""

    def __init__(self, vocab_size: int = 4000, min_frequency: int = 2, min_pixels: int = DEFAULT_MIN_PIXELS,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
        self.vocab_size = int(vocab_size)
        self.min_frequency = int(min_frequency)
        self.min_pixels, self.max_pixels = _check_pixels(min_pixels, max_pixels)

    def fit(self, datamodule: Any) -> VLProcessor:
        from ocrlab.families.paddleocr_vl.hf_processor import build_processor

        built = build_processor(datamodule.training_texts(), self.vocab_size, self.min_pixels, self.max_pixels,
                                self.min_frequency)
        fitted = VLProcessor(tokenizer_json=built.tokenizer.backend_tokenizer.to_str(), vocab_size=self.vocab_size,
                             min_pixels=self.min_pixels, max_pixels=self.max_pixels)
        fitted.get()  # the entries fit the reserved rows: checked now, before the model is built
        return fitted


class VLProcessor:
    def __init__(self, tokenizer_json: str | None = None, pretrained: str | None = None, vocab_size: int = 4000,
                 min_pixels: int = DEFAULT_MIN_PIXELS, max_pixels: int = DEFAULT_MAX_PIXELS):
        given = [n for n, v in (("tokenizer_json", tokenizer_json), ("pretrained", pretrained)) if v is not None]
        if len(given) != 1:
            raise ConfigError(f"processor: give exactly one of tokenizer_json, pretrained; got {given} (a processor "
                              "learned from the training pairs is configured as ProcessorOfTrainingPairs)")
        self.tokenizer_json = tokenizer_json
        self.pretrained = pretrained
        self.vocab_size = int(vocab_size)
        self.min_pixels, self.max_pixels = _check_pixels(min_pixels, max_pixels)
        self._processor = None

    def __len__(self) -> int:
        return len(self.get().tokenizer)

    def get(self):
        """The ``PaddleOCRVLProcessor`` (rebuilt or loaded on first call)."""
        if self._processor is not None:
            return self._processor
        from ocrlab.families.paddleocr_vl.hf_processor import processor_from_tokenizer, wrap_tokenizer

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
        else:
            tokenizer = wrap_tokenizer(self.tokenizer_json)
            self._processor = processor_from_tokenizer(tokenizer, self.min_pixels, self.max_pixels)
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
        """The tokenizer and the image sizes must be the checkpoint's (``other``)."""
        mine, theirs = self.to_config(), other.to_config()
        if mine != theirs:
            differs = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise CheckpointError(f"{context}: the processor differs from the checkpoint's ({', '.join(differs)})")
