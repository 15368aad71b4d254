"""The shared page renderer: word boxes hold the ink they describe, on both backends."""

from __future__ import annotations

import numpy as np
import pytest

from ocrlab.synth.canvas import DocumentCanvas, page_size_points
from ocrlab.synth.font_book import FontBook, winansi_covers
from ocrlab.synth.invoices import font_files
from ocrlab.synth.render import render

LINES = {
    "raster": [
        "ใบกำกับภาษี เลขที่ 2567/0042 วันที่ 14 มีนาคม 2567",
        "ค่าที่ปรึกษา ผู้ใหญ่ น้ำ ปั๊ม ฎีกา ฐาน ญาติ 12,345.00 บาท",
        "รวมเงิน ฿1,250.50 ภาษีมูลค่าเพิ่ม 7% ยอดสุทธิ",
    ],
    "pdf": [
        "Invoice INV-2026-00042 dated 14/03/2026 for Müller & Söhne GmbH",
        "Consulting services (42.5 h) at €120.00 = €5,100.00",
        "Total due: ¥1,234,567 / ₹12,34,567.89 / £9.99",
    ],
}


@pytest.mark.parametrize("backend", ["raster", "pdf"])
def test_ink_lies_inside_word_boxes(backend):
    files = font_files(["th_TH"] if backend == "raster" else ["en_US"])[backend]
    book = FontBook(backend, raster_dpi=120)
    for key, path in files.items():
        book.add(key, path)
    canvas = DocumentCanvas(page_size_points("A4"), book)
    fonts = [k for k in files if not k.endswith("-Bold")][:3] + (["Helvetica"] if backend == "pdf" else [])
    y = 60.0
    for font in fonts:
        for size in (7.0, 10.0, 14.0):
            for line in LINES[backend]:
                if font == "Helvetica" and not winansi_covers(line):
                    continue
                canvas.text(40, y, line, font, size, field="f")
                y += size * 1.6
    rendered = render(canvas, 120, grayscale=True)
    ink = np.asarray(rendered.images[0]) < 128
    covered = np.zeros_like(ink)
    for word in rendered.words:
        x0, y0, x1, y1 = word.box
        covered[max(0, int(y0) - 1) : int(y1) + 2, max(0, int(x0) - 1) : int(x1) + 2] = True
        assert ink[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1].any(), word
    outside = (ink & ~covered).sum()
    assert outside <= 0.005 * ink.sum(), f"{outside} of {ink.sum()} ink pixels outside word boxes"
    assert len(rendered.words) == sum(len(line.split()) for line in LINES[backend]) * len(fonts) * 3 - (
        sum(len(line.split()) for line in LINES[backend] if not winansi_covers(line)) * 3 if backend == "pdf" else 0
    )


def test_wrap_breaks_at_spaces_and_splits_long_words():
    book = FontBook("pdf")
    width = max(book.width(s, "Helvetica", 10) for s in ("alpha beta", "gamma delta")) + 1
    assert book.width("alpha beta gamma", "Helvetica", 10) > width
    lines = book.wrap("alpha beta gamma delta", "Helvetica", 10, width)
    assert lines == ["alpha beta", "gamma delta"]
    long = book.wrap("x" * 50, "Helvetica", 10, 60)
    assert "".join(long) == "x" * 50 and all(book.width(s, "Helvetica", 10) <= 60 for s in long)


def test_raster_pdf_is_reproducible():
    files = font_files(["th_TH"])["raster"]
    book = FontBook("raster", raster_dpi=50)
    key = next(iter(files))
    book.add(key, files[key])
    outputs = []
    for _ in range(2):
        canvas = DocumentCanvas(page_size_points("A5"), book)
        canvas.text(20, 40, "ทดสอบ 123", key, 12)
        outputs.append(render(canvas, 50).pdf)
    assert outputs[0] == outputs[1] and outputs[0].startswith(b"%PDF")
