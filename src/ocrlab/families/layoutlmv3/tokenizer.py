"""The word-piece vocabulary a layout model owns: a byte-level BPE (RoBERTa / LayoutLMv3 style).

Three ways to get one, all offline:

* ``vocab`` + ``merges`` given (what a checkpoint stores: it rebuilds exactly, no files needed);
* ``pretrained``: a local model directory with the tokenizer files (never a hub name);
* learned from the training split's words: the config names a :class:`BpeOfTrainingWords`,
  which :func:`ocrlab.label_spaces.fit_label_spaces` fits once the data is prepared, before the
  model is built. ``vocab_size`` rows are reserved in the model's embedding either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ocrlab.errors import CheckpointError, ConfigError

# RoBERTa's order: LayoutLMv3Config's defaults (bos 0, pad 1, eos 2) rely on it
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def _check_vocab_size(vocab_size: int) -> int:
    if int(vocab_size) < len(SPECIAL_TOKENS) + 256:
        raise ConfigError(f"tokenizer.vocab_size={vocab_size}: a byte-level BPE needs at least "
                          f"{len(SPECIAL_TOKENS) + 256} entries")
    return int(vocab_size)


class BpeOfTrainingWords:
    """A byte-level BPE to be learned from the training split's words (a ``LearnedLabelSpace``:
    :meth:`fit` reads them through the data module's ``training_texts()``)."""

    def __init__(self, vocab_size: int = 8000, min_frequency: int = 2):
        self.vocab_size = _check_vocab_size(vocab_size)
        self.min_frequency = int(min_frequency)

    def fit(self, datamodule: Any) -> DocumentTokenizer:
        vocab, merges = self.train(datamodule.training_texts())
        return DocumentTokenizer(vocab=vocab, merges=merges, vocab_size=self.vocab_size)

    def train(self, words: Iterable[str]) -> tuple[dict[str, int], list[str]]:
        """Vocabulary and merges of a byte-level BPE trained on ``words`` (RoBERTa's pre-tokenizer:
        a space before each word)."""
        from ocrlab.text.bpe import train_byte_level_bpe

        tok = train_byte_level_bpe(words, self.vocab_size, self.min_frequency, SPECIAL_TOKENS, "<unk>",
                                   add_prefix_space=True, what="model.tokenizer")
        return _vocab_and_merges(tok)


class DocumentTokenizer:
    def __init__(self, vocab: dict[str, int] | None = None, merges: list[str] | None = None,
                 pretrained: str | None = None, vocab_size: int = 8000):
        given = [name for name, v in (("vocab", vocab), ("pretrained", pretrained)) if v is not None]
        if len(given) != 1:
            raise ConfigError(f"tokenizer: give exactly one of vocab (+merges), pretrained; got {given} (a "
                              "tokenizer learned from the training words is configured as BpeOfTrainingWords)")
        if vocab is not None and merges is None:
            raise ConfigError("tokenizer: vocab needs its merges")
        self._vocab = dict(vocab) if vocab is not None else None
        self._merges = list(merges) if merges is not None else None
        self.pretrained = pretrained
        self._tokenizer = None
        if pretrained is not None:
            self.get()  # the vocabulary's size must be known now: it sizes the embedding
        self.vocab_size = _check_vocab_size(max(vocab_size, len(self._vocab)))

    def __len__(self) -> int:
        return len(self._vocab)

    @property
    def num_embeddings(self) -> int:
        """Rows the model's word embedding reserves (>= the vocabulary's size)."""
        return self.vocab_size

    def get(self):
        """The ``LayoutLMv3Tokenizer`` (built or loaded on first call)."""
        if self._tokenizer is not None:
            return self._tokenizer
        from transformers import LayoutLMv3Tokenizer

        if self._vocab is None and self.pretrained is not None:
            path = Path(self.pretrained)
            if not path.is_dir():
                raise ConfigError(f"tokenizer: pretrained model directory {path} does not exist "
                                  "(a local directory is required: no model hub is contacted)")
            try:
                loaded = LayoutLMv3Tokenizer.from_pretrained(str(path), local_files_only=True)
            except Exception as e:
                raise ConfigError(f"tokenizer: cannot load a LayoutLMv3 tokenizer from {path}: {e}") from e
            self._vocab, self._merges = _vocab_and_merges(loaded)
        self._tokenizer = LayoutLMv3Tokenizer(vocab=self._vocab, merges=[tuple(m.split(" ")) for m in self._merges])
        if len(self._tokenizer) > self.vocab_size:
            raise CheckpointError(f"tokenizer has {len(self._tokenizer)} entries but the model reserves "
                                  f"{self.vocab_size} embedding rows")
        return self._tokenizer

    # -- label-space contract ----------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        self.get()
        return {"_target_": f"{__name__}.DocumentTokenizer", "vocab": dict(self._vocab),
                "merges": list(self._merges), "vocab_size": self.vocab_size}

    def check_same(self, other: DocumentTokenizer, context: str) -> None:
        """The checkpoint's tokenizer (``other``) must be this one: a clear error otherwise."""
        self.get()
        if (self._vocab, self._merges, self.vocab_size) != (other._vocab, other._merges, other.vocab_size):
            raise CheckpointError(f"{context}: the tokenizer differs from the checkpoint's "
                                  f"({len(other._vocab)} vs {len(self._vocab)} entries)")


def _vocab_and_merges(tok) -> tuple[dict[str, int], list[str]]:
    """Vocabulary and merges (``"a b"`` strings) of a ``tokenizers`` BPE or an HF tokenizer."""
    import json

    backend = getattr(tok, "backend_tokenizer", None) or getattr(tok, "_tokenizer", None) or tok
    model = json.loads(backend.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    vocab = dict(model["vocab"])
    for token, index in getattr(tok, "get_added_vocab", dict)().items():
        vocab.setdefault(token, index)
    return vocab, merges
