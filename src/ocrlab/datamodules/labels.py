"""Reading recognition ground truth: PaddleOCR label files, correction samples and
image/annotation folders.

Every error names the file (and line) and what was expected; nothing is silently dropped.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ocrlab.errors import DatasetError
from ocrlab.text.normalize import normalize_text

log = logging.getLogger(__name__)

MIN_CORRECTION_SAMPLES = 10
# the image types the folder readers match to their text by name (suffix in any case)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class LineRecord:
    """One text-line image and its (normalized) label; ``source`` says where it was read."""

    image_path: Path
    label: str
    source: str


def read_label_file(path: Path, image_root: Path | None = None) -> list[LineRecord]:
    """PaddleOCR recognition labels: one ``image_path<TAB>label`` per line, UTF-8.

    Image paths are relative to ``image_root`` if given, else to the label file's directory
    (absolute paths are kept). A UTF-8 BOM and CRLF line ends are accepted; blank lines and
    trailing empty fields are skipped; anything else malformed (a second label field, NUL bytes,
    a detection label) is an error naming the line.
    """
    path = Path(path)
    expected = "expected a PaddleOCR file of 'path<TAB>label' lines"
    if path.is_dir():
        raise DatasetError(f"label file {path} is a directory ({expected}; give the label file inside it)")
    text, data = read_utf8(path, "label file", expected)
    if not text.strip():
        what = "is empty (0 bytes)" if not data else "holds only blank lines"
        raise DatasetError(f"label file {path} {what} ({expected})")
    root = Path(image_root) if image_root is not None else path.parent
    records: list[LineRecord] = []
    # line ends as PaddleOCR (Python's universal newlines) sees them: \n, \r\n, \r -- not
    # str.splitlines, which also breaks lines at \x0c, \x1c-\x1e, \x85, U+2028 inside a label
    for lineno, raw in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        raw = raw.lstrip("\ufeff")  # the BOM of a second file concatenated onto the first
        if not raw.strip():
            continue
        where = f"{path}:{lineno}"
        if "\x00" in raw:
            raise DatasetError(f"{where}: NUL byte in {raw[:80]!r}; expected UTF-8 text"
                               " (is it a binary or UTF-16 file?)")
        if "\t" not in raw:
            raise DatasetError(f"{where}: no tab in {raw[:80]!r}; expected 'image_path<TAB>label'")
        rel, *fields = raw.split("\t")
        while len(fields) > 1 and not fields[-1].strip():
            fields.pop()  # trailing tabs (a spreadsheet export) add nothing
        if len(fields) > 1:
            shown = ", ".join(repr(f) for f in fields[:4]) + (", ..." if len(fields) > 4 else "")
            raise DatasetError(
                f"{where}: {len(fields)} label fields after image {rel!r} ({shown}); expected 'image_path<TAB>label'"
                " with no tab inside the label (PaddleOCR would read only the first field)"
            )
        if not rel.strip():
            raise DatasetError(f"{where}: empty image path; expected 'image_path<TAB>label'")
        label = normalize_text(fields[0])
        if not label:
            raise DatasetError(f"{where}: empty label for image {rel!r}")
        if label.startswith("[{") and '"transcription"' in label:
            raise DatasetError(f"{where}: the label of image {rel!r} is a list of boxes with 'transcription'"
                               " (a PaddleOCR detection label file?); expected 'image_path<TAB>text' recognition labels")
        records.append(LineRecord(root / rel.strip(), label, where))
    if not records:
        raise DatasetError(f"label file {path} holds no labelled lines")
    return records


def read_correction_samples(directory: Path, min_samples: int = MIN_CORRECTION_SAMPLES) -> list[LineRecord]:
    """User correction samples: ``NAME.png`` + ``NAME.json`` with ``corrected_text``.

    The image may also be ``.jpg``/``.jpeg``/``.bmp``/``.tif``/``.tiff``/``.webp``, any case; it
    is matched to its JSON by name. The JSON may carry other keys (original OCR text, timestamps);
    only ``corrected_text`` is read. An image without its JSON, a JSON without its image, two
    images of one name, or fewer than ``min_samples`` samples is an error. Sorted by image name.
    """
    directory = Path(directory)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise DatasetError(f"correction samples dir {directory} {what} "
                           "(expected a folder of NAME.png + NAME.json pairs)")
    try:
        entries = sorted(directory.iterdir())
    except OSError as e:
        raise DatasetError(f"correction samples dir {directory} is unreadable: {e}") from e
    images: dict[str, Path] = {}
    metas: dict[str, Path] = {}
    others: dict[str, list[str]] = {}
    for entry in entries:
        if entry.name.startswith("._") or not entry.is_file():
            continue  # macOS AppleDouble metadata beside each file copied from a Mac; subfolders
        suffix = entry.suffix.lower()
        found = images if suffix in IMAGE_SUFFIXES else metas if suffix == ".json" else None
        if found is None:
            others.setdefault(entry.stem, []).append(entry.name)
            continue
        if entry.stem in found:
            kind = "images" if found is images else "JSON files"
            raise DatasetError(f"correction samples dir {directory}: two {kind} named {entry.stem!r}: "
                               f"{found[entry.stem].name} and {entry.name} (expected one per sample)")
        found[entry.stem] = entry
    for stem, meta in metas.items():
        if stem not in images:
            looked = ", ".join(stem + s for s in IMAGE_SUFFIXES)
            also = f"; found {', '.join(others[stem])}, not a supported image type" if stem in others else ""
            raise DatasetError(f"correction sample {meta} has no image beside it (looked for {looked}, "
                               f"any case{also})")
    records: list[LineRecord] = []
    for stem, image in sorted(images.items(), key=lambda kv: kv[1].name):
        meta = metas.get(stem)
        if meta is None:
            raise DatasetError(f"correction sample {image} has no {stem}.json beside it (expected its corrected text)")
        try:
            data = json.loads(meta.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DatasetError(f"correction sample {meta} is not valid JSON: {e}") from e
        text = data.get("corrected_text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not normalize_text(text):
            raise DatasetError(f"correction sample {meta}: expected a non-empty string field 'corrected_text'")
        records.append(LineRecord(image, normalize_text(text), str(meta)))
    if len(records) < min_samples:
        subdirs = [e.name for e in entries if e.is_dir()]
        hint = f" (subfolders are not searched: {', '.join(subdirs[:5])})" if subdirs and not records else ""
        raise DatasetError(
            f"found {len(records)} correction samples in {directory}; at least {min_samples} are needed to train{hint}"
        )
    return records


def read_image_annotation_dir(directory: Path) -> list[LineRecord]:
    """A folder of line images and their texts, matched by file stem::

        <directory>/images/<stem>.png        (or .jpg/.jpeg/.bmp/.tif/.tiff/.webp, any case)
        <directory>/annotations/<stem>.txt   (the line's text, UTF-8; a trailing newline is fine)

    An annotation without its image, an image without its annotation, two images (or two
    annotations) of one stem, and an empty, multi-line or non-UTF-8 annotation are errors naming
    the files. Texts are normalized as the label files' labels are. Sorted by stem.
    """
    directory = Path(directory)
    layout = (f"expected a folder with images/<stem>.png (or {', '.join(IMAGE_SUFFIXES[1:])}) and "
              "annotations/<stem>.txt holding that image's line of text")
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise DatasetError(f"image/annotation dir {directory} {what} ({layout})")
    images, other_images = _files_by_stem(directory, "images", IMAGE_SUFFIXES, layout)
    texts, _ = _files_by_stem(directory, "annotations", (".txt",), layout)
    if not images and not texts:
        raise DatasetError(f"image/annotation dir {directory} holds no images and no annotations (subfolders of "
                           f"images/ and annotations/ are not searched; {layout})")
    problems = []
    no_image = sorted(set(texts) - set(images))
    if no_image:
        unsupported = [n for s in no_image for n in other_images.get(s, ())]
        also = f"; found {_first_few(unsupported)}, not a supported image type" if unsupported else ""
        problems.append(f"{len(no_image)} annotation(s) without an image in images/ (looked for <stem> with "
                        f"{', '.join(IMAGE_SUFFIXES)}, any case{also}): "
                        f"{_first_few(['annotations/' + texts[s].name for s in no_image])}")
    no_text = sorted(set(images) - set(texts))
    if no_text:
        problems.append(f"{len(no_text)} image(s) without an annotation in annotations/ (expected <stem>.txt): "
                        f"{_first_few(['images/' + images[s].name for s in no_text])}")
    if problems:
        raise DatasetError(f"image/annotation dir {directory}: " + "; ".join(problems)
                           + " (every image needs its annotation and every annotation its image)")
    return [LineRecord(images[stem], _read_annotation(texts[stem]), str(texts[stem])) for stem in sorted(images)]


def _files_by_stem(directory: Path, name: str, suffixes: tuple[str, ...],
                   layout: str) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """``directory/name``'s files with one of ``suffixes`` (any case) by stem, and the names of
    its other files by stem (for hints). Two files of one stem are an error naming both."""
    folder = directory / name
    if not folder.is_dir():
        try:
            found = sorted(e.name + ("/" if e.is_dir() else "") for e in directory.iterdir())
        except OSError:
            found = []
        seen = f"; it holds {_first_few(found)}" if found else "; it is empty"
        what = "is not a folder" if folder.exists() else "is missing"
        raise DatasetError(f"image/annotation dir {directory}: {name}/ {what} ({layout}{seen})")
    try:
        entries = sorted(folder.iterdir())
    except OSError as e:
        raise DatasetError(f"image/annotation dir {directory}: {name}/ is unreadable: {e}") from e
    matched: dict[str, Path] = {}
    others: dict[str, list[str]] = {}
    for entry in entries:
        if entry.name.startswith("._") or not entry.is_file():
            continue  # macOS AppleDouble metadata beside each file copied from a Mac; subfolders
        if entry.suffix.lower() not in suffixes:
            others.setdefault(entry.stem, []).append(entry.name)
            continue
        if entry.stem in matched:
            raise DatasetError(f"{folder}: two files with the stem {entry.stem!r}: {matched[entry.stem].name} and "
                               f"{entry.name} (expected one per line: the image and its annotation are matched "
                               "by stem)")
        matched[entry.stem] = entry
    return matched, others


def _read_annotation(path: Path) -> str:
    """One annotation file's text, normalized: one line of UTF-8 text (blank lines around it ignored)."""
    text, data = read_utf8(path, "annotation", "one line of UTF-8 text")
    if "\x00" in text:
        raise DatasetError(f"annotation {path}: NUL byte in {text[:80]!r}; expected UTF-8 text "
                           "(is it a binary or UTF-16 file?)")
    # line ends as the label-file reader sees them (\n, \r\n, \r), not str.splitlines (see there)
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    if not lines:
        what = "is empty (0 bytes)" if not data else "holds only whitespace"
        raise DatasetError(f"annotation {path} {what}; expected the text of the line in its image")
    if len(lines) > 1:
        shown = ", ".join(repr(line[:40]) for line in lines[:3]) + (", ..." if len(lines) > 3 else "")
        raise DatasetError(f"annotation {path} holds {len(lines)} lines of text ({shown}); expected one line: the "
                           "images are single text lines (a trailing newline is fine)")
    return normalize_text(lines[0])


def _first_few(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def read_utf8(path: Path, what: str, expected: str) -> tuple[str, bytes]:
    """``(text, bytes)`` of the UTF-8 file ``path`` (a BOM dropped), or a :class:`DatasetError`
    naming ``what`` the file is, the path and ``expected``: missing, not a regular file,
    unreadable, UTF-16, not UTF-8 (with the line)."""
    if not path.is_file():
        state = "does not exist" if not path.exists() else "is not a regular file"
        raise DatasetError(f"{what} {path} {state} ({expected})")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{what} {path} is unreadable: {e} ({expected})") from e
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DatasetError(f"{what} {path} is unreadable: it is UTF-16 (starts with a UTF-16 byte-order mark); "
                           f"expected UTF-8 ({expected}; save it as UTF-8)")
    try:
        return data.decode("utf-8-sig"), data  # a BOM is not part of the text
    except UnicodeDecodeError as e:
        lineno = data[: e.start].count(b"\n") + 1
        raise DatasetError(f"{what} {path} is unreadable: line {lineno}: {e} (expected UTF-8 text)") from e
