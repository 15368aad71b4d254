"""Text handling shared by the families: normalization, charsets, OTSL table markup."""

from ocrlab.text.charset import Charset, CharsetError, UnknownCharacterError
from ocrlab.text.normalize import normalize_text

__all__ = ["Charset", "CharsetError", "UnknownCharacterError", "normalize_text"]
