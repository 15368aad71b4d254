"""One instruction pair of ``ocrlab-synth pairs``: what is asked and what is answered.

The tasks (:data:`TASKS`) and their prompts (:func:`load_prompts`, from ``pair_prompts.yaml`` or a
user's file), the ground-truth answer of a task (:func:`task_answer`, keys in schema order, as
compact JSON by :func:`to_json`), and the chat row that holds them (:func:`chat_row`). Pages mode
is one row per task over all page images (:func:`page_rows`); crops mode
(:mod:`ocrlab.synth.pair_crops`) builds its rows with the same pieces. :mod:`ocrlab.synth.pairs`
writes and reads the rows.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from ocrlab.errors import DatasetError
from ocrlab.synth.invoices.schema import CONTENT_FIELDS, LINE_ITEM_FIELDS, PARTY_FIELDS

IMAGE_TOKEN = "<image>"
MODES: tuple[str, ...] = ("pages", "crops")
CROP_KINDS: tuple[str, ...] = ("text", "table")
SUMMARY_FIELDS: tuple[str, ...] = ("subtotal", "discounts", "taxes", "shipping", "total", "currency")
# task -> the content fields its answer holds, in order (``pairs_per_sample`` N takes the first N)
TASKS: dict[str, tuple[str, ...]] = {
    "full": CONTENT_FIELDS,
    "vendor": ("vendor",),
    "client": ("client",),
    "line_items": ("line_items",),
    "summary": SUMMARY_FIELDS,
}
# the key order of nested ground-truth values (objects, and objects in lists)
_OBJECT_KEYS: dict[str, tuple[str, ...]] = {"vendor": PARTY_FIELDS, "client": PARTY_FIELDS}
_ITEM_KEYS: dict[str, tuple[str, ...]] = {
    "line_items": LINE_ITEM_FIELDS,
    "discounts": ("description", "amount"),
    "taxes": ("rate", "amount"),
}
DEFAULT_PROMPTS = "pair_prompts.yaml"


class PairsError(DatasetError):
    """Bad input or a conflicting output directory: the message names the file and what was expected."""


# -- prompts and answers ---------------------------------------------------------------------
def load_prompts(path: str | os.PathLike[str] | None, mode: str) -> dict[str, str]:
    """The prompts of ``mode`` (task -> prompt for pages, crop kind -> prompt for crops) from the
    YAML file ``path``, or from the one shipped beside this module."""
    import yaml

    names = tuple(TASKS) if mode == "pages" else CROP_KINDS
    where = str(path) if path is not None else f"ocrlab/synth/{DEFAULT_PROMPTS}"
    try:
        if path is None:
            text = resources.files("ocrlab.synth").joinpath(DEFAULT_PROMPTS).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except FileNotFoundError:
        raise PairsError(f"prompts file {where} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PairsError(f"prompts file {where}: unreadable YAML ({error})") from None
    expected = f"a mapping with sections {list(MODES)}: pages: {{task: prompt}} for {list(TASKS)}, " \
               f"crops: {{kind: prompt}} for {list(CROP_KINDS)}"
    if not isinstance(data, dict) or set(data) - set(MODES):
        raise PairsError(f"prompts file {where}: expected {expected}")
    for section, allowed in (("pages", tuple(TASKS)), ("crops", CROP_KINDS)):
        value = data.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise PairsError(f"prompts file {where}: section {section!r} is not a mapping; expected {expected}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise PairsError(f"prompts file {where}: unknown {section} name(s) {unknown}; allowed: {list(allowed)}")
        bad = [k for k, v in value.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise PairsError(f"prompts file {where}: {section} prompt(s) {bad} are not non-empty strings")
    section = data.get(mode) or {}
    missing = [k for k in names if k not in section]
    if missing:
        raise PairsError(f"prompts file {where}: section {mode!r} has no prompt for {missing}; it needs {list(names)}")
    return {k: section[k] for k in names}


def task_answer(gt: dict[str, Any], task: str, where: str = "ground truth") -> dict[str, Any]:
    """The ground-truth values task ``task`` asks for, keys in schema order; a missing field is
    a :class:`PairsError` naming ``where`` and the field."""
    return {name: _ordered(gt, name, f"{where}: task {task!r} needs field") for name in TASKS[task]}


def to_json(value: Any) -> str:
    """Compact, deterministic JSON (the assistant's answer)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _ordered(gt: dict[str, Any], name: str, what: str) -> Any:
    """``gt[name]`` with nested keys in schema order; a missing key raises ``what`` + its path."""
    if name not in gt:
        raise PairsError(f"{what} {name!r}, which is missing")
    value = gt[name]
    if name in _OBJECT_KEYS:
        return _keys(value, _OBJECT_KEYS[name], name, what)
    if name in _ITEM_KEYS:
        if not isinstance(value, list):
            raise PairsError(f"{what} {name!r} as a list")
        return [_keys(item, _ITEM_KEYS[name], f"{name}.{i}", what) for i, item in enumerate(value)]
    return value


def _keys(value: Any, keys: tuple[str, ...], name: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PairsError(f"{what} {name!r} as an object with keys {list(keys)}")
    for key in keys:
        if key not in value:
            raise PairsError(f"{what} {name}.{key!r}, which is missing")
    return {key: value[key] for key in keys}


def row_metadata(gt: dict[str, Any]) -> dict[str, Any]:
    """Row fields for metric breakdowns."""
    rendering = gt.get("rendering")
    return {
        "document_type": gt.get("document_type"),
        "locale": gt.get("locale"),
        "currency": gt.get("currency"),
        "hard_kinds": list(gt.get("hard_kinds") or []),
        "layout": rendering.get("layout") if isinstance(rendering, dict) else None,
    }


def chat_row(doc_id: str, task: str, images: list[str], prompt: str, answer: str, meta: dict[str, Any]) -> dict[str, Any]:
    """A row in the chat layout VLM tools read: one ``<image>`` per image, then the prompt."""
    return {
        "id": doc_id,
        "task": task,
        "images": images,
        "messages": [
            {"role": "user", "content": IMAGE_TOKEN * len(images) + prompt},
            {"role": "assistant", "content": answer},
        ],
        **meta,
    }


def page_images(gt: dict[str, Any], path: Path, source: Path) -> list[Path]:
    """The document's page images in page order, each checked to exist."""
    pages = gt.get("pages")
    if not isinstance(pages, list) or not pages or not all(isinstance(p, dict) and "image" in p for p in pages):
        raise PairsError(f"{path}: expected 'pages' as a non-empty list of {{image, width, height}}")
    images = [source / p["image"] for p in pages]
    for image in images:
        if not image.is_file():
            raise PairsError(f"{path}: page image {image} does not exist")
    return images


def page_rows(gt: dict[str, Any], path: Path, source: Path, out: Path, spec: dict[str, Any]) -> list[dict]:
    """Pages mode: a row per task of ``spec``, over every page image (paths relative to ``out``)."""
    images = [os.path.relpath(image, out) for image in page_images(gt, path, source)]
    meta = row_metadata(gt)
    return [
        chat_row(path.stem, task, images, spec["prompts"][task], to_json(task_answer(gt, task, str(path))), meta)
        for task in spec["tasks"]
    ]

