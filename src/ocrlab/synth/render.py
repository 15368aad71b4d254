"""Page rendering shared by the document generators: one set of drawing ops, two backends.

A generator lays a document out on a :class:`~ocrlab.synth.canvas.DocumentCanvas` (drawing ops
and word boxes in points, :mod:`ocrlab.synth.canvas`) with fonts from a
:class:`~ocrlab.synth.font_book.FontBook` (:mod:`ocrlab.synth.font_book`). :func:`render` then
turns the canvas into page images, word boxes scaled to pixels:

* ``backend="pdf"``: reportlab draws the ops into a PDF (kept: users want the PDF), which
  pypdfium2 rasterizes at ``dpi``. reportlab does not shape complex scripts, so this backend is
  for Latin and CJK text.
* ``backend="raster"``: Pillow draws the ops straight onto the page image with the RAQM layout
  engine (HarfBuzz shaping), the only correct path for Thai (reportlab and Pillow's BASIC layout
  misplace Thai marks; see NOTES.md). The PDF is the page images wrapped into a PDF.

Both backends measure text with the engine that draws it (reportlab's ``stringWidth`` or RAQM's
``getlength``), so a box matches what is on the page. A FontBook is tied to one backend for
that reason.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from ocrlab.synth.canvas import WHITE, Color, DocumentCanvas, Page, WordBox
from ocrlab.synth.font_book import raqm_font

_FIXED_DATE = time.gmtime(946684800)  # 2000-01-01, a struct_time as Pillow expects


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
def _draw_page(canvas: DocumentCanvas, page: Page, dpi: float, grayscale: bool) -> Image.Image:
    s = dpi / 72.0
    w_pt, h_pt = canvas.page_size
    mode = "L" if grayscale else "RGB"
    image = Image.new(mode, (round(w_pt * s), round(h_pt * s)), _pil_color(WHITE, mode))
    draw = ImageDraw.Draw(image)
    for op in page.ops:
        kind = op[0]
        if kind == "text":
            _, x, baseline, text, font, size, color = op
            pil_font = raqm_font(canvas.fonts.paths[font], size * s)
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
    pil_font = raqm_font(paths[font], size * s)
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
