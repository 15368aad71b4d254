"""Crops mode of ``ocrlab-synth pairs``: the element crops PaddleOCR-VL is trained on.

Each ground-truth region is cropped from its page (:func:`pixel_box`) and answered with the text
of the words inside it (:func:`region_text`, prompt kind ``text``) or, for a line-items table,
with the rows printed on that page (:func:`page_table_html`) as HTML or OTSL (kind ``table``).
:func:`crop_rows` writes a document's crops and yields its rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ocrlab.synth.pair_rows import PairsError, chat_row, page_images, row_metadata

TABLE_FORMATS: tuple[str, ...] = ("html", "otsl")
# what a ground truth needs for crops: regions to cut, words to read, the table to answer with
CROP_FIELDS = ("pages", "regions", "words", "table_html", "line_items")


def pixel_box(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """A region's float pixel box as the integer crop box that covers it, inside the page."""
    x0, y0, x1, y1 = box
    return (max(0, math.floor(x0)), max(0, math.floor(y0)), min(width, math.ceil(x1)), min(height, math.ceil(y1)))


def region_text(words: Sequence[dict[str, Any]], page: int, box: Sequence[float]) -> str:
    """The text of the words whose centre lies in ``box`` on ``page``, in drawing order, stamps
    left out; a word starts a new line when it lies left of the previous word's end or below it
    (every block's lines run left to right)."""
    lines: list[list[str]] = []
    prev: Sequence[float] | None = None
    for word in words:
        x0, y0, x1, y1 = word["box"]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if word["page"] != page or word.get("field") == "stamp":
            continue
        if not (box[0] <= cx <= box[2] and box[1] <= cy <= box[3]):
            continue
        if prev is None or cx < prev[2] or y0 > prev[3]:
            lines.append([])
        lines[-1].append(word["text"])
        prev = word["box"]
    return "\n".join(" ".join(line) for line in lines)


def page_table_html(gt: dict[str, Any], page: int) -> str:
    """``table_html`` with the rows printed on ``page`` (its header repeats on every page); the
    whole table when it lies on one page."""
    table = gt["table_html"]
    pages = sorted({r["page"] for r in gt["regions"] if r["block"] == "table"})
    if len(pages) <= 1:
        return table
    head, body = table.split("<tbody>", 1)
    rows = re.findall(r"<tr>.*?</tr>", body, flags=re.DOTALL)
    item_page: dict[int, int] = {}
    for word in gt["words"]:
        parts = (word.get("field") or "").split(".")
        if parts[0] == "line_items" and len(parts) > 1 and parts[1].isdigit():
            item_page.setdefault(int(parts[1]), word["page"])
    if len(rows) != len(gt["line_items"]):
        raise PairsError(f"table_html has {len(rows)} rows for {len(gt['line_items'])} line items")
    kept = "".join(row for i, row in enumerate(rows) if item_page.get(i) == page)
    return f"{head}<tbody>{kept}</tbody></table>"


def _grid_table(gt: dict[str, Any]) -> bool:
    """Whether the line items are printed as a table (receipts print them as text lines)."""
    from ocrlab.synth.invoices.layout import LAYOUTS

    layout = LAYOUTS.get((gt.get("rendering") or {}).get("layout"))
    return layout is None or layout.table != "receipt"


def crop_rows(
    gt: dict[str, Any], path: Path, source: Path, tmp: Path, spec: dict[str, Any], skipped: dict[str, int]
) -> Iterator[dict]:
    """Save the crops of ``gt``'s regions under ``tmp/crops/`` and yield their rows; regions too
    thin (``spec["min_crop_side"]``) or with no text are counted in ``skipped``, not written."""
    from PIL import Image

    missing = [k for k in CROP_FIELDS if k not in gt]
    if missing:
        raise PairsError(f"{path}: crops mode needs ground-truth field(s) {missing}, which are missing")
    images = page_images(gt, path, source)
    doc_id, meta, grid = path.stem, row_metadata(gt), _grid_table(gt)
    opened: dict[int, Image.Image] = {}
    names: set[str] = set()
    for n, region in enumerate(gt["regions"]):
        block, page, box = _region(region, len(images), f"{path}: regions[{n}]")
        if page not in opened:
            try:
                with Image.open(images[page]) as im:
                    opened[page] = im.copy()
            except OSError as error:
                raise PairsError(f"{path}: page image {images[page]} is unreadable ({error})") from None
        crop = pixel_box(box, *opened[page].size)
        if min(crop[2] - crop[0], crop[3] - crop[1]) < spec["min_crop_side"]:
            skipped["degenerate"] += 1
            continue
        kind = "table" if block == "table" and grid else "text"
        try:
            answer = _table_answer(gt, page, spec["table_format"]) if kind == "table" else \
                region_text(gt["words"], page, box)
        except (KeyError, TypeError, ValueError) as error:
            raise PairsError(f"{path}: regions[{n}] ({block}, page {page}): {error}") from None
        if not answer.strip():
            skipped["empty"] += 1
            continue
        name, k = f"{doc_id}_p{page + 1}_{block}", 2
        while name in names:
            name, k = f"{doc_id}_p{page + 1}_{block}-{k}", k + 1
        names.add(name)
        rel = f"crops/{name}.png"
        (tmp / "crops").mkdir(exist_ok=True)
        opened[page].crop(crop).save(tmp / rel, format="PNG", compress_level=1)
        row = chat_row(doc_id, block, [rel], spec["prompts"][kind], answer, meta)
        yield {**row, "block": block, "page": page, "box": list(crop)}


def _region(region: Any, num_pages: int, where: str) -> tuple[str, int, list[float]]:
    try:
        block, page, box = region["block"], region["page"], [float(v) for v in region["box"]]
    except (KeyError, TypeError, ValueError):
        box = []
    if not box or not isinstance(block, str) or not isinstance(page, int) or not 0 <= page < num_pages \
            or len(box) != 4:
        raise PairsError(f"{where} is not {{block, page (0..{num_pages - 1}), box [x0, y0, x1, y1]}}")
    return block, page, box


def _table_answer(gt: dict[str, Any], page: int, table_format: str) -> str:
    table = page_table_html(gt, page)
    if table_format == "html":
        return table
    from ocrlab.text.otsl import html_to_otsl

    return html_to_otsl(table)
