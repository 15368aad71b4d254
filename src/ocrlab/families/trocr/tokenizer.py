"""The tokenizer a TrOCR model owns: its label space.

Three ways to get one, all offline (as the other families' tokenizers):

* ``tokenizer_json`` given (what a checkpoint stores: it rebuilds exactly, no files needed);
* ``pretrained``: a local model directory with its tokenizer files (a TrOCR checkpoint's
  RoBERTa or XLM-R tokenizer; never a hub name);
* learned from the training lines: the config names a :class:`TokenizerOfTrainingTexts`, which
  :func:`ocrlab.label_spaces.fit_label_spaces` fits once the data is prepared (one token per
  character, or a byte-level BPE: the shared :func:`ocrlab.text.bpe.train_byte_level_bpe`).

It is also what the text-line data module checks and encodes labels with
(:class:`~ocrlab.datamodules.line_images.LineLabels`): ``encode`` gives the decoder's target ids
(the text's tokens, then ``</s>``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from ocrlab.errors import CheckpointError, ConfigError
from ocrlab.text.normalize import normalize_text

# RoBERTa's / XLM-R's special tokens (TrOCR's tokenizers), numbered first in a learned BPE
BOS, PAD, EOS, UNK = "<s>", "<pad>", "</s>", "<unk>"
SPECIAL_TOKENS = (BOS, PAD, EOS, UNK)


class TokenizerOfTrainingTexts:
    """A tokenizer to be learned from the training split's texts (a ``LearnedLabelSpace``).

    ``unit="char"``: one token per character of ``charset`` (a :class:`~ocrlab.text.Charset`, e.g.
    Thai + printable ASCII: the characters validation and test lines may hold that training lines
    happen to lack), then per other character seen at least ``min_frequency`` times in the training
    lines (default 1; any other character is unknown: the data module refuses or skips such lines,
    as ``data.on_unknown_char`` says); a decoder trained from scratch reads a line glyph by glyph, as a CTC head does, so
    every target is a thing it can see. ``unit="bpe"``: a byte-level BPE of ``vocab_size`` entries
    (any script, no ``<unk>``; a Thai character is three bytes, so short merges split glyphs; merges
    seen fewer than ``min_frequency`` times, default 2, are not learned).
    """

    UNITS = ("char", "bpe")

    def __init__(self, unit: str = "char", vocab_size: int = 1000, min_frequency: int | None = None,
                 charset: Any = None):
        if unit not in self.UNITS:
            raise ConfigError(f"model.tokenizer.unit={unit!r}: expected one of {self.UNITS}")
        if charset is not None and unit != "char":
            raise ConfigError("model.tokenizer.charset is for unit=char (a byte-level BPE reads any character)")
        self.unit, self.vocab_size, self.charset = unit, int(vocab_size), charset
        self.min_frequency = int(min_frequency) if min_frequency is not None else (1 if unit == "char" else 2)

    def fit(self, datamodule: Any) -> TrOCRTokenizer:
        from tokenizers import decoders

        texts = datamodule.training_texts()
        if self.unit == "char":
            tok = _character_tokenizer(texts, self.min_frequency, self.charset.symbols if self.charset else ())
            return TrOCRTokenizer(tokenizer_json=tok.to_str(), name=f"char{tok.get_vocab_size()}")

        from ocrlab.text.bpe import train_byte_level_bpe

        tok = train_byte_level_bpe(texts, self.vocab_size, self.min_frequency, SPECIAL_TOKENS, UNK,
                                   add_prefix_space=False, what="model.tokenizer")
        tok.decoder = decoders.ByteLevel()  # ids -> the exact text (bytes back to characters)
        return TrOCRTokenizer(tokenizer_json=tok.to_str(), name=f"bpe{tok.get_vocab_size()}")


def _character_tokenizer(texts, min_frequency: int, base: Sequence[str] = ()):
    """A ``tokenizers.Tokenizer`` with one entry per character of ``base`` then of ``texts`` (most
    frequent first), after the special tokens; it splits every character apart and joins them back
    on decode."""
    from collections import Counter

    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    counts = Counter(ch for text in texts for ch in text)
    if not counts:
        raise ConfigError("model.tokenizer: no texts to learn the characters from (is the training split empty?)")
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for ch in base:
        vocab.setdefault(ch, len(vocab))
    for ch, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= min_frequency and ch not in vocab:
            vocab[ch] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return tok


class TrOCRTokenizer:
    """A fast tokenizer with ``<s>``/``</s>``/``<pad>``/``<unk>``; :meth:`get` gives the transformers object."""

    def __init__(self, tokenizer_json: str | None = None, pretrained: str | None = None, name: str | None = None,
                 special_tokens: dict[str, str] | None = None):
        given = [n for n, v in (("tokenizer_json", tokenizer_json), ("pretrained", pretrained)) if v is not None]
        if len(given) != 1:
            raise ConfigError(f"model.tokenizer: give exactly one of tokenizer_json, pretrained; got {given} (a "
                              "tokenizer learned from the training lines is configured as TokenizerOfTrainingTexts)")
        self.tokenizer_json, self.pretrained = tokenizer_json, pretrained
        self.special_tokens = {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "unk_token": UNK,
                               **(special_tokens or {})}
        self.name = name or (Path(pretrained).name if pretrained else "bpe")
        self._tokenizer = None

    def get(self):
        """The transformers tokenizer (rebuilt or loaded on first call)."""
        if self._tokenizer is None:
            self._tokenizer = self._load()
        return self._tokenizer

    def _load(self):
        from transformers import AutoTokenizer, PreTrainedTokenizerFast

        if self.tokenizer_json is not None:
            from tokenizers import Tokenizer

            # no clean-up: " ." stays " ." (a line's text is the label, spaces included)
            return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(self.tokenizer_json),
                                           clean_up_tokenization_spaces=False, **self.special_tokens)
        path = Path(self.pretrained)
        if not path.is_dir():
            raise ConfigError(f"model.tokenizer: pretrained model directory {path} does not exist (a local directory "
                              "is required: no model hub is contacted)")
        try:
            tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
        except Exception as e:
            raise CheckpointError(f"{path}: a model directory without a usable tokenizer: {e}") from e
        for key in self.special_tokens:
            value = getattr(tok, key, None)
            if value is None:
                raise CheckpointError(f"{path}: the tokenizer has no {key} (a TrOCR decoder needs "
                                      f"{', '.join(self.special_tokens)})")
            self.special_tokens[key] = str(value)
        return tok

    def __len__(self) -> int:
        return len(self.get())

    @property
    def ids(self) -> dict[str, int]:
        """``bos``/``eos``/``pad``/``unk`` -> id."""
        tok = self.get()
        return {"bos": tok.bos_token_id, "eos": tok.eos_token_id, "pad": tok.pad_token_id, "unk": tok.unk_token_id}

    # -- LineLabels: what the text-line data module checks and encodes with ------------------------
    @cached_property
    def _unknown_cache(self) -> dict[str, bool]:
        return {}

    def unknown_chars(self, text: str) -> list[str]:
        """Characters that become ``<unk>`` (none for a byte-level BPE; a pretrained
        SentencePiece vocabulary may lack some scripts)."""
        out = []
        unk = self.ids["unk"]
        for ch in dict.fromkeys(text):
            if ch.isspace():
                continue
            known = self._unknown_cache.get(ch)
            if known is None:
                known = self._unknown_cache[ch] = unk not in self.get()(ch, add_special_tokens=False)["input_ids"]
            if not known:
                out.append(ch)
        return out

    def encode(self, text: str, where: str = "") -> list[int]:
        """The decoder targets of ``text``: its tokens then ``</s>`` (the decoder starts from ``<s>``)."""
        return [*self.get()(text, add_special_tokens=False)["input_ids"], self.ids["eos"]]

    def decode(self, ids) -> str:
        return normalize_text(self.get().decode(ids, skip_special_tokens=True))

    # -- label-space contract ----------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """The tokenizer itself (its JSON), whatever it was loaded from: a checkpoint needs no files."""
        tok = self.get()
        backend = getattr(tok, "backend_tokenizer", None)
        if backend is None:
            raise CheckpointError(f"model.tokenizer {self.name}: only fast (tokenizers-backed) tokenizers can be "
                                  "stored in a checkpoint")
        return {"_target_": f"{__name__}.TrOCRTokenizer", "tokenizer_json": backend.to_str(), "name": self.name,
                "special_tokens": dict(self.special_tokens)}

    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_config()["tokenizer_json"].encode()).hexdigest()[:16]

    def check_same(self, other: TrOCRTokenizer, context: str) -> None:
        if self.fingerprint() != other.fingerprint() or self.special_tokens != other.special_tokens:
            raise CheckpointError(f"{context}: the tokenizer differs from the checkpoint's ({self.name}, {len(self)} "
                                  f"entries vs {other.name}, {len(other)})")

    def describe(self) -> str:
        return f"{self.name} ({len(self)} entries)"
