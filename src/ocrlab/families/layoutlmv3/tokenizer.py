"""The word-piece vocabulary a layout model owns: a byte-level BPE (RoBERTa / LayoutLMv3 style).

Three ways to get one, all offline:

* ``vocab`` + ``merges`` given (what a checkpoint stores: it rebuilds exactly, no files needed);
* ``pretrained``: a local model directory with the tokenizer files (never a hub name);
* ``train_words``: an iterable of words (e.g. the training split's), trained on first use. The
  model is built before synthetic data is generated, so training waits until the data module
  asks for the tokenizer (after ``prepare_data``). ``vocab_size`` rows are reserved in the
  model's embedding either way, so the network's shape never depends on the data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ocrlab.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

# RoBERTa's order: LayoutLMv3Config's defaults (bos 0, pad 1, eos 2) rely on it
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


class DocumentTokenizer:
    def __init__(self, vocab: dict[str, int] | None = None, merges: list[str] | None = None,
                 pretrained: str | None = None, train_words: Iterable[str] | None = None,
                 vocab_size: int = 8000, min_frequency: int = 2):
        given = [name for name, v in (("vocab", vocab), ("pretrained", pretrained), ("train_words", train_words))
                 if v is not None]
        if len(given) != 1:
            raise ConfigError(f"tokenizer: give exactly one of vocab (+merges), pretrained, train_words; got {given}")
        if vocab is not None and merges is None:
            raise ConfigError("tokenizer: vocab needs its merges")
        self._vocab = dict(vocab) if vocab is not None else None
        self._merges = list(merges) if merges is not None else None
        self.pretrained = pretrained
        self.train_words = train_words
        self.min_frequency = int(min_frequency)
        self._tokenizer = None
        if pretrained is not None:
            self.get()  # the vocabulary's size must be known now: it sizes the embedding
            vocab_size = max(vocab_size, len(self._vocab))
        elif self._vocab is not None:
            vocab_size = max(vocab_size, len(self._vocab))
        self.vocab_size = int(vocab_size)
        if self.vocab_size < len(SPECIAL_TOKENS) + 256:
            raise ConfigError(f"tokenizer.vocab_size={vocab_size}: a byte-level BPE needs at least "
                              f"{len(SPECIAL_TOKENS) + 256} entries")

    @property
    def ready(self) -> bool:
        return self._vocab is not None

    @property
    def num_embeddings(self) -> int:
        """Rows the model's word embedding reserves (>= the vocabulary's size)."""
        return self.vocab_size

    def get(self):
        """The ``LayoutLMv3Tokenizer`` (trained or loaded on first call)."""
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
        elif self._vocab is None:
            self._vocab, self._merges = self._train()
        self._tokenizer = LayoutLMv3Tokenizer(vocab=self._vocab, merges=[tuple(m.split(" ")) for m in self._merges])
        if len(self._tokenizer) > self.vocab_size:
            raise CheckpointError(f"tokenizer has {len(self._tokenizer)} entries but the model reserves "
                                  f"{self.vocab_size} embedding rows")
        return self._tokenizer

    def _train(self) -> tuple[dict[str, int], list[str]]:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        trainer = trainers.BpeTrainer(vocab_size=self.vocab_size, min_frequency=self.min_frequency,
                                      special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        count = 0

        def words():
            nonlocal count
            for w in self.train_words:
                count += 1
                yield w

        tok.train_from_iterator(words(), trainer)
        if count == 0:
            raise ConfigError("tokenizer: no words to train the BPE on (is the training split empty?)")
        vocab, merges = _vocab_and_merges(tok)
        log.info("trained a byte-level BPE on %d words: %d entries (%d reserved)", count, len(vocab), self.vocab_size)
        return vocab, merges

    # -- label-space contract ----------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        self.get()
        return {"_target_": f"{__name__}.DocumentTokenizer", "vocab": dict(self._vocab),
                "merges": list(self._merges), "vocab_size": self.vocab_size}

    def check_same(self, other: DocumentTokenizer, context: str) -> None:
        """A tokenizer not trained yet adopts the checkpoint's (resume, evaluation, fine-tuning
        from a trained model); a trained one must equal it."""
        if not self.ready and self.pretrained is None:
            if other.vocab_size != self.vocab_size:
                raise CheckpointError(f"{context}: the checkpoint's tokenizer reserves {other.vocab_size} "
                                      f"embedding rows, this run {self.vocab_size} (set model.tokenizer.vocab_size)")
            self._vocab, self._merges, self._tokenizer = dict(other._vocab), list(other._merges), None
            self.train_words = None
            return
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
