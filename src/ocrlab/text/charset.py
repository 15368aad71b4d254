"""Character sets: one object shared by the CTC loss (blank index), the decoder and exports.

Index 0 is the CTC blank; symbol ``i`` of :attr:`Charset.symbols` has class index ``i + 1``.
A charset is saved inside every checkpoint and export (:meth:`Charset.to_dict`), so inference
never depends on a separate dictionary file matching the weights.

The built-in Thai charset (:meth:`Charset.thai`) is, in this order:

* the 87 assigned code points of the Unicode Thai block (U+0E01-U+0E3A and U+0E3F-U+0E5B;
  U+0E3B-U+0E3E and U+0E5C-U+0E7F are unassigned in Unicode 15), which includes the baht
  sign U+0E3F and the Thai digits;
* the 95 printable ASCII characters U+0020-U+007E (space, digits, Latin letters, punctuation).

PaddleOCR's ``th_dict.txt`` (81 entries, Thai only) lacks digits, Latin and the baht sign,
which financial text needs; hence our own set. :meth:`Charset.from_paddle_dict` still loads
PaddleOCR dictionaries, and :meth:`Charset.from_texts` builds a vocabulary from training texts.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from ocrlab.errors import OcrlabError
from ocrlab.text.normalize import normalize_text

THAI_BLOCK_RANGES = ((0x0E01, 0x0E3A), (0x0E3F, 0x0E5B))
PRINTABLE_ASCII_RANGE = (0x20, 0x7E)


class CharsetOfTrainingTexts:
    """A charset to be learned from the training split's texts: every character of them, in
    code point order (a ``LearnedLabelSpace``; :meth:`fit` reads the data module's
    ``training_texts()``, e.g. the labels of PaddleOCR label files)."""

    def __init__(self, name: str = "from_label_files"):
        self.name = name

    def fit(self, datamodule) -> Charset:
        return Charset.from_texts(datamodule.training_texts(), name=self.name)


class CharsetError(OcrlabError, ValueError):
    """A charset could not be built or does not match what it is used with."""


class UnknownCharacterError(CharsetError):
    """A text holds characters that the charset cannot encode."""

    def __init__(self, text: str, unknown: Sequence[str], where: str = ""):
        self.text = text
        self.unknown = list(unknown)
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in self.unknown)
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}label {text!r} has characters outside the charset: {shown}")


def _codepoints(ranges: Iterable[tuple[int, int]]) -> list[str]:
    return [chr(cp) for lo, hi in ranges for cp in range(lo, hi + 1)]


class Charset:
    """An ordered set of single characters plus the CTC blank at index 0."""

    blank_index = 0

    def __init__(self, symbols: Sequence[str], name: str = "custom"):
        symbols = list(symbols)
        if not symbols:
            raise CharsetError("a charset needs at least one symbol")
        seen: set[str] = set()
        for i, s in enumerate(symbols):
            if not isinstance(s, str) or len(s) != 1:
                raise CharsetError(f"charset entry {i} is {s!r}: each entry must be exactly one character")
            if s in seen:
                raise CharsetError(f"charset entry {i} ({s!r}, U+{ord(s):04X}) appears twice")
            seen.add(s)
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.name = name
        self._index = {s: i + 1 for i, s in enumerate(self.symbols)}

    # -- builders ------------------------------------------------------------------------
    @classmethod
    def thai(cls) -> Charset:
        """87 Thai-block characters + 95 printable ASCII (see the module docstring)."""
        symbols = _codepoints(THAI_BLOCK_RANGES) + _codepoints([PRINTABLE_ASCII_RANGE])
        return cls(symbols, name="thai")

    @classmethod
    def from_paddle_dict(cls, path: str | Path, use_space_char: bool = True) -> Charset:
        """A PaddleOCR dictionary: one character per line (UTF-8), space appended if asked."""
        path = Path(path)
        if not path.is_file():
            raise CharsetError(f"charset dictionary {path} does not exist")
        symbols: list[str] = []
        for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            entry = raw.rstrip("\r\n")
            if entry == "":
                continue
            if len(entry) != 1:
                raise CharsetError(f"{path}:{lineno}: entry {entry!r} must be exactly one character")
            if entry not in symbols:
                symbols.append(entry)
        if use_space_char and " " not in symbols:
            symbols.append(" ")
        return cls(symbols, name=f"paddle_dict:{path.name}")

    @classmethod
    def from_texts(cls, texts: Iterable[str], name: str = "from_texts") -> Charset:
        """The vocabulary of some texts (after normalization), in code point order."""
        chars = sorted({c for t in texts for c in normalize_text(t)})
        if not chars:
            raise CharsetError("cannot build a charset from texts: no characters found")
        return cls(chars, name=name)

    @classmethod
    def from_dict(cls, d: dict) -> Charset:
        return cls(list(d["symbols"]), name=d.get("name", "custom"))

    # -- use -------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of classifier outputs: the symbols plus the blank."""
        return len(self.symbols) + 1

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, ch: str) -> bool:
        return ch in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Charset) and self.symbols == other.symbols

    def __hash__(self) -> int:
        return hash(self.symbols)

    def __repr__(self) -> str:
        return f"Charset(name={self.name!r}, size={len(self)}, fingerprint={self.fingerprint[:12]})"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.symbols).encode("utf-8")).hexdigest()

    def unknown_chars(self, text: str) -> list[str]:
        """Characters of ``text`` the charset lacks, in order of first appearance."""
        out: list[str] = []
        for c in text:
            if c not in self._index and c not in out:
                out.append(c)
        return out

    def encode(self, text: str, where: str = "") -> list[int]:
        unknown = self.unknown_chars(text)
        if unknown:
            raise UnknownCharacterError(text, unknown, where)
        return [self._index[c] for c in text]

    def decode(self, indices: Iterable[int]) -> str:
        """Class indices to text; the blank and out-of-range indices are dropped."""
        n = len(self.symbols)
        return "".join(self.symbols[i - 1] for i in indices if 0 < i <= n)

    def to_dict(self) -> dict:
        return {"name": self.name, "symbols": list(self.symbols), "fingerprint": self.fingerprint}

    def to_config(self) -> dict:
        """A ``_target_`` config that rebuilds this charset exactly (frozen into checkpoints)."""
        return {"_target_": "ocrlab.text.Charset.from_dict", "d": self.to_dict()}

    def describe(self) -> str:
        cats: dict[str, int] = {}
        for s in self.symbols:
            cats[unicodedata.category(s)] = cats.get(unicodedata.category(s), 0) + 1
        return f"{self!r} categories={dict(sorted(cats.items()))}"

    def check_same(self, other: Charset, context: str) -> None:
        """Raise a clear error if ``other`` differs (e.g. a checkpoint trained on another set)."""
        if self == other:
            return
        missing = [s for s in other.symbols if s not in self._index][:10]
        extra = [s for s in self.symbols if s not in other._index][:10]
        raise CharsetError(
            f"{context}: charset mismatch: expected {other!r} but got {self!r}"
            f" (in expected only: {missing!r}; in this only: {extra!r}; or a different order)."
            " A model can only be used with the charset it was trained on."
        )
