"""Reading recognition ground truth: PaddleOCR label files and correction samples.

Every error names the file (and line) and what was expected; nothing is silently dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ocrlab.text.charset import Charset
from ocrlab.text.normalize import normalize_text

log = logging.getLogger(__name__)

MIN_CORRECTION_SAMPLES = 10


class DatasetError(ValueError):
    """Bad recognition data: the message names the file, the line and what was expected."""


@dataclass(frozen=True)
class LineRecord:
    """One text-line image and its (normalized) label; ``source`` says where it was read."""

    image_path: Path
    label: str
    source: str


def read_label_file(path: Path, image_root: Path | None = None) -> list[LineRecord]:
    """PaddleOCR recognition labels: one ``image_path<TAB>label`` per line, UTF-8.

    Image paths are relative to ``image_root`` if given, else to the label file's directory
    (absolute paths are kept). Blank lines are skipped; anything else malformed is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"label file {path} does not exist (expected a PaddleOCR file of 'path<TAB>label' lines)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"label file {path} is unreadable: {e} (expected UTF-8 text)") from e
    root = Path(image_root) if image_root is not None else path.parent
    records: list[LineRecord] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        where = f"{path}:{lineno}"
        if "\t" not in raw:
            raise DatasetError(f"{where}: no tab in {raw[:80]!r}; expected 'image_path<TAB>label'")
        rel, label = raw.split("\t", 1)
        if not rel.strip():
            raise DatasetError(f"{where}: empty image path; expected 'image_path<TAB>label'")
        label = normalize_text(label)
        if not label:
            raise DatasetError(f"{where}: empty label for image {rel!r}")
        records.append(LineRecord(root / rel.strip(), label, where))
    if not records:
        raise DatasetError(f"label file {path} holds no labelled lines")
    return records


def read_correction_samples(directory: Path, min_samples: int = MIN_CORRECTION_SAMPLES) -> list[LineRecord]:
    """User correction samples (seed 003): ``NAME.png`` + ``NAME.json`` with ``corrected_text``.

    The JSON may carry other keys (original OCR text, timestamps); only ``corrected_text`` is
    read. Fewer than ``min_samples`` samples is an error: too few to split and train on.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"correction samples dir {directory} does not exist")
    images = sorted(directory.glob("*.png"))
    records: list[LineRecord] = []
    for image in images:
        meta = image.with_suffix(".json")
        if not meta.is_file():
            raise DatasetError(f"correction sample {image} has no {meta.name} beside it (expected its corrected text)")
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DatasetError(f"correction sample {meta} is not valid JSON: {e}") from e
        text = data.get("corrected_text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not normalize_text(text):
            raise DatasetError(f"correction sample {meta}: expected a non-empty string field 'corrected_text'")
        records.append(LineRecord(image, normalize_text(text), str(meta)))
    if len(records) < min_samples:
        raise DatasetError(
            f"found {len(records)} correction samples in {directory}; at least {min_samples} are needed to train"
        )
    return records


def check_charset(records: Sequence[LineRecord], charset: Charset, on_unknown_char: str) -> list[LineRecord]:
    """Labels with characters outside the charset: an error (``error``) or counted and logged (``skip``)."""
    if on_unknown_char not in ("error", "skip"):
        raise ValueError(f"on_unknown_char must be 'error' or 'skip', got {on_unknown_char!r}")
    kept: list[LineRecord] = []
    skipped = 0
    for rec in records:
        unknown = charset.unknown_chars(rec.label)
        if not unknown:
            kept.append(rec)
            continue
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in unknown)
        if on_unknown_char == "error":
            raise DatasetError(
                f"{rec.source}: label {rec.label!r} has characters outside the charset {charset.name!r}: {shown}"
                " (set data.on_unknown_char=skip to skip such lines, or use a charset that has them)"
            )
        skipped += 1
        log.warning("skipping %s: characters outside the charset: %s", rec.source, shown)
    if skipped:
        log.warning("skipped %d of %d lines with characters outside the charset %r", skipped, len(records), charset.name)
    return kept
