"""Page rendering shared by the document generators: one set of drawing ops, two backends.

A generator lays a document out on a :class:`DocumentCanvas` in PDF points (1/72 inch) with a
top-left origin: text runs, lines, rectangles, ellipses and rotated "stamps". Every text run
records a box per space-separated word, tagged with the ground-truth field it belongs to, at
draw time (x + width of the prefix, width of the word, the font's ascent and descent), so boxes
never come from OCR. :func:`render` then turns the canvas into page images:

* ``backend="pdf"``: reportlab draws the ops into a PDF (kept: users want the PDF), which
  pypdfium2 rasterizes at ``dpi``. reportlab does not shape complex scripts, so this backend is
  for Latin and CJK text.
* ``backend="raster"``: Pillow draws the ops straight onto the page image with the RAQM layout
  engine (HarfBuzz shaping), the only correct path for Thai (reportlab and Pillow's BASIC layout
  misplace Thai marks; see NOTES.md). The PDF is the page images wrapped into a PDF.

Both backends measure text with the engine that draws it (reportlab's ``stringWidth`` or RAQM's
``getlength``), so a box matches what is on the page. A :class:`FontBook` is tied to one backend
for that reason.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image, ImageDraw, ImageFont

Backend = Literal["pdf", "raster"]
_FIXED_DATE = time.gmtime(946684800)  # 2000-01-01, a struct_time as Pillow expects
Color = tuple[float, float, float]  # RGB in 0..1
BLACK: Color = (0.0, 0.0, 0.0)
WHITE: Color = (1.0, 1.0, 1.0)

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
        return _pil_font(self.paths[font], size * scale).getlength(text) / scale

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
        ascent, descent = _pil_font(self.paths[font], size * scale).getmetrics()
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
def _pil_font(path: str, size_px: float) -> ImageFont.FreeTypeFont:
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


@dataclass
class _Page:
    ops: list[tuple[Any, ...]] = field(default_factory=list)


class DocumentCanvas:
    """Drawing ops and word boxes of a multi-page document, in points, origin top-left."""

    def __init__(self, page_size: tuple[float, float], fonts: FontBook):
        self.page_size = (float(page_size[0]), float(page_size[1]))
        self.fonts = fonts
        self.pages: list[_Page] = [_Page()]
        self.words: list[WordBox] = []

    @property
    def page(self) -> int:
        """Index of the page being drawn."""
        return len(self.pages) - 1

    def new_page(self) -> int:
        self.pages.append(_Page())
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


@dataclass
class RenderedDocument:
    """Page images, the PDF bytes, and the word boxes scaled to image pixels."""

    images: list[Image.Image]
    pdf: bytes
    words: list[WordBox]
    dpi: float

    @property
    def scale(self) -> float:
        """Pixels per point."""
        return self.dpi / 72.0


def render(canvas: DocumentCanvas, dpi: float, *, grayscale: bool = False) -> RenderedDocument:
    """Rasterize ``canvas`` with its FontBook's backend at ``dpi``; word boxes in pixels."""
    if dpi <= 0:
        raise ValueError(f"dpi={dpi}: expected a positive number")
    fonts = canvas.fonts
    if fonts.backend == "pdf":
        pdf = _to_pdf(canvas)
        images = _rasterize_pdf(pdf, dpi, grayscale)
    else:
        if abs(fonts.raster_dpi - dpi) > 1e-6:
            raise ValueError(
                f"dpi={dpi} differs from the FontBook's raster_dpi={fonts.raster_dpi}: measure and draw at one dpi"
            )
        images = [_draw_page(canvas, page, dpi, grayscale) for page in canvas.pages]
        buf = io.BytesIO()
        # Fixed dates (Pillow stamps the current time by default): reproducible bytes.
        images[0].save(
            buf,
            format="PDF",
            save_all=True,
            append_images=images[1:],
            resolution=dpi,
            creationDate=_FIXED_DATE,
            modDate=_FIXED_DATE,
        )
        pdf = buf.getvalue()
    s = dpi / 72.0
    words = [
        WordBox(w.text, (round(x0 * s, 2), round(y0 * s, 2), round(x1 * s, 2), round(y1 * s, 2)), w.page, w.field)
        for w in canvas.words
        for x0, y0, x1, y1 in (w.box,)
    ]
    return RenderedDocument(images, pdf, words, dpi)


# -- pdf backend ---------------------------------------------------------------------------
@contextlib.contextmanager
def _binary_pdf_streams() -> Iterator[None]:
    """reportlab ASCII85-encodes compressed streams by default (``rl_config.useA85``), in pure
    Python: ~15 % of a page's generation time. Binary streams are plain PDF and smaller; the
    setting is read while streams are made, so it is switched for this block only."""
    from reportlab import rl_config

    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


def _to_pdf(canvas: DocumentCanvas) -> bytes:
    from reportlab.pdfgen.canvas import Canvas

    width, height = canvas.page_size
    buf = io.BytesIO()
    with _binary_pdf_streams():
        # invariant=1: no creation date or random document id: the same seed gives the same bytes.
        pdf = Canvas(buf, pagesize=(width, height), invariant=1, pageCompression=1)
        for i, page in enumerate(canvas.pages):
            if i:
                pdf.showPage()
            for op in page.ops:
                if op[0] in ("text", "stamp"):  # font keys -> reportlab's names
                    op = (*op[:4], canvas.fonts.pdf_names[op[4]], *op[5:])
                _PDF_OPS[op[0]](pdf, height, *op[1:])
        pdf.showPage()
        pdf.save()
    return buf.getvalue()


def _pdf_text(pdf: Any, h: float, x: float, baseline: float, text: str, font: str, size: float, color: Color) -> None:
    pdf.setFillColorRGB(*color)
    pdf.setFont(font, size)
    pdf.drawString(x, h - baseline, text)


def _pdf_line(pdf: Any, h: float, x0: float, y0: float, x1: float, y1: float, width: float, color: Color) -> None:
    pdf.setStrokeColorRGB(*color)
    pdf.setLineWidth(width)
    pdf.line(x0, h - y0, x1, h - y1)


def _pdf_shape(kind: str):
    def draw(pdf: Any, h: float, x0: float, y0: float, x1: float, y1: float, stroke, fill, width: float) -> None:
        if stroke is not None:
            pdf.setStrokeColorRGB(*stroke)
            pdf.setLineWidth(width)
        if fill is not None:
            pdf.setFillColorRGB(*fill)
        args = (x0, h - y1, x1 - x0, y1 - y0) if kind == "rect" else (x0, h - y1, x1, h - y0)
        getattr(pdf, kind)(*args, stroke=int(stroke is not None), fill=int(fill is not None))

    return draw


def _pdf_stamp(pdf: Any, h: float, cx, cy, text, font, size, angle, color, opacity, pad) -> None:
    fonts_w = _pdf_string_width(text, font, size)
    from reportlab.pdfbase.pdfmetrics import getAscentDescent

    ascent, descent = getAscentDescent(font, size)
    pdf.saveState()
    pdf.translate(cx, h - cy)
    pdf.rotate(angle)
    pdf.setFillColorRGB(*color)
    pdf.setStrokeColorRGB(*color)
    pdf.setFillAlpha(opacity)
    pdf.setStrokeAlpha(opacity)
    pdf.setLineWidth(max(1.0, size / 10))
    text_h = ascent - descent
    pdf.rect(-fonts_w / 2 - pad, -text_h / 2 - pad, fonts_w + 2 * pad, text_h + 2 * pad, stroke=1, fill=0)
    pdf.setFont(font, size)
    pdf.drawString(-fonts_w / 2, -text_h / 2 - descent, text)
    pdf.restoreState()


def _pdf_string_width(text: str, font: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return stringWidth(text, font, size)


_PDF_OPS = {
    "text": _pdf_text,
    "line": _pdf_line,
    "rect": _pdf_shape("rect"),
    "ellipse": _pdf_shape("ellipse"),
    "stamp": _pdf_stamp,
}


def _rasterize_pdf(pdf: bytes, dpi: float, grayscale: bool) -> list[Image.Image]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        images = []
        for i in range(len(doc)):
            page = doc[i]
            bitmap = page.render(scale=dpi / 72.0, grayscale=grayscale)
            image = bitmap.to_pil()
            mode = "L" if grayscale else "RGB"
            images.append(image if image.mode == mode else image.convert(mode))  # no needless copy
            page.close()
        return images
    finally:
        doc.close()


# -- raster backend ------------------------------------------------------------------------
def _draw_page(canvas: DocumentCanvas, page: _Page, dpi: float, grayscale: bool) -> Image.Image:
    s = dpi / 72.0
    w_pt, h_pt = canvas.page_size
    mode = "L" if grayscale else "RGB"
    image = Image.new(mode, (round(w_pt * s), round(h_pt * s)), _pil_color(WHITE, mode))
    draw = ImageDraw.Draw(image)
    for op in page.ops:
        kind = op[0]
        if kind == "text":
            _, x, baseline, text, font, size, color = op
            pil_font = _pil_font(canvas.fonts.paths[font], size * s)
            draw.text((x * s, baseline * s), text, font=pil_font, fill=_pil_color(color, mode), anchor="ls")
        elif kind == "line":
            _, x0, y0, x1, y1, width, color = op
            draw.line([(x0 * s, y0 * s), (x1 * s, y1 * s)], fill=_pil_color(color, mode), width=max(1, round(width * s)))
        elif kind in ("rect", "ellipse"):
            _, x0, y0, x1, y1, stroke, fill, width = op
            shape = draw.rectangle if kind == "rect" else draw.ellipse
            shape(
                [x0 * s, y0 * s, x1 * s, y1 * s],
                outline=None if stroke is None else _pil_color(stroke, mode),
                fill=None if fill is None else _pil_color(fill, mode),
                width=max(1, round(width * s)),
            )
        else:  # stamp
            image = _pil_stamp(image, canvas.fonts.paths, s, *op[1:])
            draw = ImageDraw.Draw(image)
    return image


def _pil_stamp(image: Image.Image, paths, s, cx, cy, text, font, size, angle, color, opacity, pad) -> Image.Image:
    pil_font = _pil_font(paths[font], size * s)
    ascent, descent = pil_font.getmetrics()
    tw = pil_font.getlength(text)
    pad_px = pad * s
    w, h = round(tw + 2 * pad_px) + 2, round(ascent + descent + 2 * pad_px) + 2
    layer = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(layer)
    d.rectangle([1, 1, w - 2, h - 2], outline=255, width=max(1, round(size * s / 10)))
    d.text((pad_px + 1, pad_px + 1 + ascent), text, font=pil_font, fill=255, anchor="ls")
    layer = layer.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    alpha = layer.point(lambda v: round(v * opacity))
    ink = Image.new(image.mode, layer.size, _pil_color(color, image.mode))
    box = (round(cx * s - layer.width / 2), round(cy * s - layer.height / 2))
    image.paste(ink, box, alpha)
    return image


def _pil_color(color: Color, mode: str) -> int | tuple[int, int, int]:
    rgb = tuple(max(0, min(255, round(c * 255))) for c in color)
    if mode == "L":
        return round(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])
    return rgb  # type: ignore[return-value]


def encode_image(image: Image.Image, image_format: str, *, quality: int = 90) -> bytes:
    """PNG or JPEG bytes with no metadata that varies between runs."""
    buf = io.BytesIO()
    if image_format == "png":
        image.save(buf, format="PNG", compress_level=1)
    elif image_format in ("jpg", "jpeg"):
        image.save(buf, format="JPEG", quality=quality, optimize=False)
    else:
        raise ValueError(f"image format {image_format!r}: expected 'png' or 'jpg'")
    return buf.getvalue()


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
