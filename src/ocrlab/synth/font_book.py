"""Fonts for the page renderer (:mod:`ocrlab.synth.render`): a :class:`FontBook` holds fonts by
key and measures text with the engine of the backend that will draw it (reportlab's
``stringWidth`` for ``pdf``, Pillow's RAQM ``getlength`` for ``raster``), so a word box drawn on
a :class:`~ocrlab.synth.canvas.DocumentCanvas` matches what is on the page.
"""

from __future__ import annotations

import functools
from typing import Literal

from PIL import ImageFont

Backend = Literal["pdf", "raster"]

# PDF standard fonts: no file, always available to reportlab and pdfium, WinAnsi glyphs only.
STANDARD_FONTS = (
    "Helvetica",
    "Helvetica-Bold",
    "Times-Roman",
    "Times-Bold",
    "Courier",
    "Courier-Bold",
)
# What WinAnsi (the standard fonts' encoding) can show: ASCII, Latin-1 and a few extras.
_WINANSI_EXTRA = set("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ")


def winansi_covers(text: str) -> bool:
    """Whether the PDF standard fonts can draw ``text`` (else use an embedded TTF)."""
    return all(ord(c) < 256 or c in _WINANSI_EXTRA for c in text)


class FontBook:
    """Fonts by key, measured with the engine of one backend.

    ``add(key, path)`` registers a TrueType file; the six :data:`STANDARD_FONTS` are known to the
    ``pdf`` backend without registration. Measurements are in points for a size in points.
    """

    def __init__(self, backend: Backend, *, raster_dpi: float = 150.0):
        if backend not in ("pdf", "raster"):
            raise ValueError(f"backend {backend!r}: expected 'pdf' or 'raster'")
        self.backend: Backend = backend
        # The raster backend measures at the dpi it draws at: hinting makes widths scale-dependent.
        self.raster_dpi = float(raster_dpi)
        self.paths: dict[str, str | None] = {}
        # reportlab's font registry is global to the process: each file is registered under a
        # name derived from its path, so two books may use one key for different files.
        self.pdf_names: dict[str, str] = {}
        if backend == "pdf":
            self.paths.update({name: None for name in STANDARD_FONTS})
            self.pdf_names.update({name: name for name in STANDARD_FONTS})
        # Captions, digits and units repeat on every page: measuring is a large share of layout.
        self._widths: dict[tuple[str, str, float], float] = {}
        self._metrics: dict[tuple[str, float], tuple[float, float]] = {}

    def add(self, key: str, path: str) -> str:
        if key in self.paths and self.paths[key] != path:
            raise ValueError(f"font key {key!r} is already registered for {self.paths[key]}")
        if self.backend == "pdf":
            self.pdf_names[key] = _register_reportlab_font(path)
        else:
            from ocrlab.synth.thai_lines import require_raqm

            require_raqm()
        self.paths[key] = path
        return key

    def _require(self, key: str) -> None:
        if key not in self.paths:
            raise KeyError(f"font {key!r} is not in this FontBook; known: {sorted(self.paths)}")

    def width(self, text: str, font: str, size: float) -> float:
        key = (text, font, size)
        width = self._widths.get(key)
        if width is None:
            if len(self._widths) > 200_000:  # bound the memory of a long run
                self._widths.clear()
            width = self._widths[key] = self._measure(text, font, size)
        return width

    def _measure(self, text: str, font: str, size: float) -> float:
        self._require(font)
        if self.backend == "pdf":
            from reportlab.pdfbase.pdfmetrics import stringWidth

            return stringWidth(text, self.pdf_names[font], size)
        scale = self.raster_dpi / 72.0
        return raqm_font(self.paths[font], size * scale).getlength(text) / scale

    def ascent(self, font: str, size: float) -> float:
        return self._ascent_descent(font, size)[0]

    def descent(self, font: str, size: float) -> float:
        """Positive distance below the baseline."""
        return self._ascent_descent(font, size)[1]

    def _ascent_descent(self, font: str, size: float) -> tuple[float, float]:
        metrics = self._metrics.get((font, size))
        if metrics is None:
            metrics = self._metrics[(font, size)] = self._measure_ascent_descent(font, size)
        return metrics

    def _measure_ascent_descent(self, font: str, size: float) -> tuple[float, float]:
        self._require(font)
        if self.backend == "pdf":
            from reportlab.pdfbase.pdfmetrics import getAscentDescent

            ascent, descent = getAscentDescent(self.pdf_names[font], size)
            return float(ascent), float(-descent)
        scale = self.raster_dpi / 72.0
        ascent, descent = raqm_font(self.paths[font], size * scale).getmetrics()
        return ascent / scale, descent / scale

    def wrap(self, text: str, font: str, size: float, max_width: float) -> list[str]:
        """Greedy word wrap to ``max_width`` points; a word longer than the width is broken
        (text without spaces, e.g. Japanese, wraps by characters)."""
        lines: list[str] = []
        current = ""
        for word in text.split(" "):
            candidate = f"{current} {word}" if current else word
            if self.width(candidate, font, size) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = word
            while self.width(current, font, size) > max_width and len(current) > 1:
                cut = len(current) - 1
                while cut > 1 and self.width(current[:cut], font, size) > max_width:
                    cut -= 1
                lines.append(current[:cut])
                current = current[cut:]
        if current or not lines:
            lines.append(current)
        return lines


@functools.lru_cache(maxsize=64)
def raqm_font(path: str, size_px: float) -> ImageFont.FreeTypeFont:
    """A TrueType file at a pixel size with the RAQM layout engine (HarfBuzz shaping: Thai)."""
    return ImageFont.truetype(path, size=size_px, layout_engine=ImageFont.Layout.RAQM)


@functools.cache
def _register_reportlab_font(path: str) -> str:
    """Register a TrueType file with reportlab once per process; returns its reportlab name."""
    import hashlib
    from pathlib import Path

    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    # Named by content, not path: the PDF bytes must not depend on where fonts are installed.
    name = f"{Path(path).stem}-{hashlib.sha256(Path(path).read_bytes()).hexdigest()[:8]}"
    pdfmetrics.registerFont(TTFont(name, path))
    return name
