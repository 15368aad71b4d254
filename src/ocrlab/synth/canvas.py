"""The drawing surface of the document generators: a :class:`DocumentCanvas` in PDF points (1/72
inch) with a top-left origin holds, page by page, the drawing ops (text runs, lines, rectangles,
ellipses and rotated "stamps") that :func:`ocrlab.synth.render.render` turns into page images.

Every text run records a box per space-separated word, tagged with the ground-truth field it
belongs to, at draw time (x + width of the prefix, width of the word, the font's ascent and
descent, measured by the canvas's :class:`~ocrlab.synth.font_book.FontBook`), so boxes never come
from OCR.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ocrlab.synth.font_book import FontBook

Color = tuple[float, float, float]  # RGB in 0..1
BLACK: Color = (0.0, 0.0, 0.0)
WHITE: Color = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class WordBox:
    """One word as drawn: text, box (x0, y0, x1, y1; points on the canvas, pixels once rendered),
    0-based page, ground-truth field (None for captions and decoration)."""

    text: str
    box: tuple[float, float, float, float]
    page: int
    field: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "box": list(self.box), "page": self.page, "field": self.field}


@dataclass
class Page:
    """One page's drawing ops, in drawing order (the tuples each backend of render draws)."""

    ops: list[tuple[Any, ...]] = field(default_factory=list)


class DocumentCanvas:
    """Drawing ops and word boxes of a multi-page document, in points, origin top-left."""

    def __init__(self, page_size: tuple[float, float], fonts: FontBook):
        self.page_size = (float(page_size[0]), float(page_size[1]))
        self.fonts = fonts
        self.pages: list[Page] = [Page()]
        self.words: list[WordBox] = []

    @property
    def page(self) -> int:
        """Index of the page being drawn."""
        return len(self.pages) - 1

    def new_page(self) -> int:
        self.pages.append(Page())
        return self.page

    def text(
        self,
        x: float,
        baseline: float,
        text: str,
        font: str,
        size: float,
        *,
        field: str | None = None,
        color: Color = BLACK,
        align: Literal["left", "right", "center"] = "left",
    ) -> tuple[float, float, float, float]:
        """Draw ``text`` with its baseline at ``baseline``; ``x`` is the left, right or centre
        edge per ``align``. Records one :class:`WordBox` per space-separated word; returns the
        run's box."""
        width = self.fonts.width(text, font, size)
        left = x - width if align == "right" else x - width / 2 if align == "center" else x
        ascent, descent = self.fonts.ascent(font, size), self.fonts.descent(font, size)
        top, bottom = baseline - ascent, baseline + descent
        self.pages[-1].ops.append(("text", left, baseline, text, font, size, color))
        # Words advance by their own width plus a space's: exact for reportlab (no kerning) and
        # within a hair for RAQM (no kerning pairs across a space), at half the measuring cost of
        # measuring every prefix.
        space = self.fonts.width(" ", font, size)
        x0 = left
        for word in text.split(" "):
            w = self.fonts.width(word, font, size) if word else 0.0
            if word:
                self.words.append(WordBox(word, (x0, top, x0 + w, bottom), self.page, field))
            x0 += w + space
        return (left, top, left + width, bottom)

    def line(self, x0: float, y0: float, x1: float, y1: float, *, width: float = 0.6, color: Color = BLACK) -> None:
        self.pages[-1].ops.append(("line", x0, y0, x1, y1, width, color))

    def rect(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        *,
        stroke: Color | None = BLACK,
        fill: Color | None = None,
        width: float = 0.6,
    ) -> None:
        self.pages[-1].ops.append(("rect", x0, y0, x1, y1, stroke, fill, width))

    def ellipse(
        self, x0: float, y0: float, x1: float, y1: float, *, stroke: Color | None = BLACK, fill: Color | None = None, width: float = 0.8
    ) -> None:
        self.pages[-1].ops.append(("ellipse", x0, y0, x1, y1, stroke, fill, width))

    def stamp(
        self,
        cx: float,
        cy: float,
        text: str,
        font: str,
        size: float,
        *,
        angle: float = 15.0,
        color: Color = (0.8, 0.1, 0.1),
        opacity: float = 0.55,
        field: str | None = "stamp",
        page: int | None = None,
    ) -> None:
        """A translucent rubber stamp: ``text`` in a frame, centred at (cx, cy), rotated
        ``angle`` degrees counter-clockwise, drawn over whatever is there. Its word box is the
        axis-aligned box of the rotated frame (one word per stamp, spaces included). ``page``
        (default: the current one) stamps an earlier page."""
        page = self.page if page is None else page
        w = self.fonts.width(text, font, size)
        ascent, descent = self.fonts.ascent(font, size), self.fonts.descent(font, size)
        pad = size * 0.35
        half_w, half_h = w / 2 + pad, (ascent + descent) / 2 + pad
        rad = math.radians(angle)
        ext_x = abs(half_w * math.cos(rad)) + abs(half_h * math.sin(rad))
        ext_y = abs(half_w * math.sin(rad)) + abs(half_h * math.cos(rad))
        self.pages[page].ops.append(("stamp", cx, cy, text, font, size, angle, color, opacity, pad))
        self.words.append(WordBox(text, (cx - ext_x, cy - ext_y, cx + ext_x, cy + ext_y), page, field))


def page_size_points(name: str) -> tuple[float, float]:
    """Named page sizes in points: A4, LETTER, A5, RECEIPT (80 mm thermal roll, 200 mm long)."""
    sizes = {"A4": (595.2756, 841.8898), "LETTER": (612.0, 792.0), "A5": (419.5276, 595.2756), "RECEIPT": (226.7717, 566.9291)}
    try:
        return sizes[name.upper()]
    except KeyError:
        raise ValueError(f"page size {name!r}: expected one of {sorted(sizes)}") from None


def union_box(boxes: Sequence[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    """The smallest box holding all ``boxes``."""
    if not boxes:
        raise ValueError("union_box of no boxes")
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
