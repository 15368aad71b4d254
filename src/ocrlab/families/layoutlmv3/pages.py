"""Test pages drawn with their predicted fields, for the test report's W&B table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ocrlab.utils.io import atomic_write

# right field, wrong field, a field the model missed (predicted O)
COLOURS = {"right": (0, 150, 60), "wrong": (220, 30, 30), "missed": (245, 150, 0)}


def draw_page(path: Path, image_path: str, boxes: Sequence[Sequence[int]], truth: Sequence[str],
              predicted: Sequence[str], max_side: int = 1200) -> Path:
    """The page with a box around every word that has a true or predicted field (``boxes`` in
    0..1000 page units; labels are BIO names, ``O`` for none): green where the predicted field
    is the true one, red where it is another, orange where a true field was predicted ``O``; the
    predicted field's name above each box."""
    from PIL import Image, ImageDraw

    with Image.open(image_path) as img:
        page = img.convert("RGB")
    page.thumbnail((max_side, max_side))
    w, h = page.size
    draw = ImageDraw.Draw(page)
    for box, true, pred in zip(boxes, truth, predicted, strict=True):
        true_field, pred_field = _field(true), _field(pred)
        if true_field is None and pred_field is None:
            continue
        kind = "missed" if pred_field is None else "right" if pred_field == true_field else "wrong"
        x0, y0, x1, y1 = box[0] * w / 1000, box[1] * h / 1000, box[2] * w / 1000, box[3] * h / 1000
        draw.rectangle([x0, y0, x1, y1], outline=COLOURS[kind], width=2)
        if pred_field is not None and pred.startswith("B-"):
            draw.text((x0, max(0, y0 - 11)), pred_field, fill=COLOURS[kind])
    draw.text((4, 4), "green: right field  red: wrong field  orange: missed", fill=(80, 80, 80))
    return atomic_write(path, lambda f: page.save(f, format="PNG"))


def _field(label: str) -> str | None:
    return None if label == "O" else label.split("-", 1)[-1]
