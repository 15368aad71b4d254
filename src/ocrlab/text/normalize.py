"""The one text normalization used by labels, metrics and baselines.

Every metric and every baseline goes through :func:`normalize_text`, so that a model and
Tesseract are scored on exactly the same strings.
"""

from __future__ import annotations

import re
import unicodedata

# Thai SARA AM (U+0E33) is often produced as NIKHAHIT (U+0E4D) + SARA AA (U+0E32), e.g. by
# Tesseract; NFC does not compose them, so we do it ourselves.
_SARA_AM_DECOMPOSED = "\u0e4d\u0e32"
_SARA_AM = "\u0e33"
_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFC, SARA AM composed, runs of whitespace folded to one space, ends stripped."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace(_SARA_AM_DECOMPOSED, _SARA_AM)
    return _WHITESPACE.sub(" ", text).strip()
