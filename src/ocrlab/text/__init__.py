"""Text handling shared by every family: normalization, charsets, CTC decoding."""

from ocrlab.text.charset import Charset, CharsetError, UnknownCharacterError
from ocrlab.text.normalize import normalize_text

__all__ = ["Charset", "CharsetError", "UnknownCharacterError", "normalize_text"]
