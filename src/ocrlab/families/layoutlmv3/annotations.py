"""Reading the business-document annotation format (LayoutLMv3-style token classification).

Layout on disk (what :class:`ocrlab.synth.business_docs.BusinessDocGenerator` writes)::

    D/label_map.json                    {"labels", "label2id", "doc_types", "po_subtypes"}
    D/{train,val,test}/images/<id>.jpg|png
    D/{train,val,test}/annotations/<id>.json
        {"image_path": "<file in images/>", "doc_type": "PURCHASE_ORDER", "po_subtype": "STANDARD" or null,
         "words": [...], "boxes": [[x0, y0, x1, y1], ...], "token_labels": [label ids],
         "width": px, "height": px}

``boxes`` are integers normalized to 0..1000 of the page; ``token_labels`` are ids into the label
map's ``labels``; only documents of the label map's ``subtype_of`` type (purchase orders) carry a
``po_subtype`` (it may be null there too: a document whose subtype is unknown). Other keys are
ignored. Every error names the annotation file first, then the field, and says what was
expected; :func:`read_split` reports the errors of all files at once.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import le
from pathlib import Path
from typing import Any, NoReturn

from ocrlab.datamodules.labels import LineRecord
from ocrlab.datamodules.lines import probe_image
from ocrlab.errors import DatasetError
from ocrlab.families.layoutlmv3.labels import DocumentLabelMap
from ocrlab.synth.business_docs.schema import ANNOTATION_KEYS

MAX_COORD = 1000  # boxes are normalized to 0..MAX_COORD of the page width / height
MAX_LISTED_ERRORS = 10
LAYOUT = ("expected <split>/annotations/<id>.json annotations and their images in <split>/images/, "
          "beside <data_dir>/label_map.json")


@dataclass(frozen=True)
class DocumentRecord:
    """One validated annotation: a page image, its words, their boxes (0..1000) and label ids."""

    id: str
    annotation_path: Path
    image_path: Path
    doc_type: str
    po_subtype: str | None
    words: tuple[str, ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    labels: tuple[int, ...]
    width: int
    height: int


# -- one annotation file -----------------------------------------------------------------------
def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load_json(path: Path, what: str = "annotation") -> Any:
    """A UTF-8 JSON file's value (a BOM is accepted), or a DatasetError naming the file."""
    expected = f"expected a UTF-8 JSON {what}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: the {what} file does not exist") from e
    except IsADirectoryError as e:
        raise DatasetError(f"{path}: is a directory ({expected} file)") from e
    except OSError as e:
        raise DatasetError(f"{path}: unreadable: {e}") from e
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DatasetError(f"{path}: not UTF-8: it is UTF-16 (starts with a UTF-16 byte-order mark); "
                           f"{expected} (save it as UTF-8)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise DatasetError(f"{path}: not UTF-8 text: line {line} column {col}: byte "
                           f"{raw[e.start:e.start + 1].hex(' ').upper()} ({e.reason}); {expected}") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        empty = " (the file is empty)" if not text.strip() else ""
        raise DatasetError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}{empty}; "
                           f"{expected}") from e
    except RecursionError as e:
        raise DatasetError(f"{path}: invalid JSON: nested too deeply; {expected}") from e


def _known(values: Sequence[str], value: str, what: str) -> str:
    """' (known: A, B, C, ... and N more; did you mean X?)' for an unknown ``value``."""
    shown = ", ".join(values[:5]) + (f", ... and {len(values) - 5} more" if len(values) > 5 else "")
    close = difflib.get_close_matches(value, values, n=1, cutoff=0.6) or [
        v for v in values if v.lower() == value.strip().lower()]
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"known {what}: {shown}{hint}" if values else f"the label map has no {what}"


def _check_box(path: Path, i: int, word: str, box: Any, width: int, height: int) -> NoReturn:
    """Raise what is wrong with a box that failed the fast check."""
    where = f"{path}: field 'boxes': word {i} ({_shown(word, 40)}) has box {_shown(box, 80)}"
    shape = "expected [x0, y0, x1, y1] integers"
    if type(box) is not list or len(box) != 4:
        got = f"{len(box)} values" if type(box) is list else _json_type(box)
        raise DatasetError(f"{where}: {shape}, got {got}")
    if not all(type(v) is int for v in box):
        floats = all(type(v) in (int, float) for v in box)
        hint = ""
        if floats and all(0 <= v <= 1 for v in box):
            hint = f" (fractions of the page? scale them to 0..{MAX_COORD} and round)"
        elif floats:
            hint = " (round them)"
        raise DatasetError(f"{where}: {shape} (not booleans, not numbers with a decimal point), got "
                           f"{', '.join(_json_type(v) for v in box)}{hint}")
    x0, y0, x1, y1 = box
    if not (0 <= x0 <= MAX_COORD and 0 <= y0 <= MAX_COORD and 0 <= x1 <= MAX_COORD and 0 <= y1 <= MAX_COORD):
        hint = ""
        if max(box) > MAX_COORD and min(box) >= 0 and max(x0, x1) <= width and max(y0, y1) <= height:
            hint = (f"; pixel coordinates? normalize them: x * {MAX_COORD} / width, y * {MAX_COORD} / height, "
                    f"here width={width}, height={height}")
        raise DatasetError(f"{where}: a coordinate is outside 0..{MAX_COORD} (boxes are normalized to "
                           f"0..{MAX_COORD} of the page{hint})")
    raise DatasetError(f"{where}: " + ("x1 < x0" if x1 < x0 else "y1 < y0")
                       + "; expected [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1 (left, top, right, bottom)")


def _lists_ok(words: list, boxes: list, labels: list, n: int) -> bool:
    """Whether every word is a non-blank string, every box 4 ordered ints in 0..1000 and every
    label an id in 0..n-1: C-speed passes (map, set, min/max), no Python loop per word."""
    try:
        if not all(map(str.strip, words)):  # str.strip raises TypeError on a non-string
            return False
    except TypeError:
        return False
    if set(map(type, boxes)) != {list} or set(map(len, boxes)) != {4}:
        return False
    flat = list(chain.from_iterable(boxes))
    if set(map(type, flat)) != {int} or min(flat) < 0 or max(flat) > MAX_COORD:
        return False
    if not (all(map(le, flat[0::4], flat[2::4])) and all(map(le, flat[1::4], flat[3::4]))):
        return False
    return set(map(type, labels)) == {int} and min(labels) >= 0 and max(labels) < n


def _raise_first_bad(path: Path, words: list, boxes: list, labels: list, label_map: DocumentLabelMap,
                     width: int, height: int) -> NoReturn:
    """Raise naming the first bad word, box or label (what :func:`_lists_ok` refused)."""
    for i, w in enumerate(words):
        if type(w) is not str or not w.strip():
            where = f"{path}: field 'words': word {i}"
            if type(w) is not str:
                raise DatasetError(f"{where} is {_json_type(w)} ({_shown(w)}); expected a non-blank string")
            what = "an empty string" if w == "" else "only whitespace"
            raise DatasetError(f"{where} is {what} ({_shown(w)}); expected a non-blank string (a tokenizer "
                               "drops blank words, which would shift every later label; leave such words "
                               "out, with their box and label)")
    for i, b in enumerate(boxes):
        if type(b) is not list or len(b) != 4:
            _check_box(path, i, words[i], b, width, height)
        x0, y0, x1, y1 = b
        if not (type(x0) is int and type(y0) is int and type(x1) is int and type(y1) is int
                and 0 <= x0 <= x1 <= MAX_COORD and 0 <= y0 <= y1 <= MAX_COORD):
            _check_box(path, i, words[i], b, width, height)
    n = len(label_map.labels)
    for i, t in enumerate(labels):
        if type(t) is not int or not 0 <= t < n:
            if type(t) is int:
                problem = f"label id {t} is outside 0..{n - 1} (the label map has {n} labels)"
            else:
                problem = f"{_shown(t)} is {_json_type(t)}, expected an integer label id in 0..{n - 1}"
                if type(t) is str and t in label_map.label2id:
                    problem += f" (a label name: write its id, {label_map.label2id[t]}, from label2id)"
            raise DatasetError(f"{path}: field 'token_labels': word {i} ({_shown(words[i], 40)}): {problem}")

    raise AssertionError("_lists_ok refused lists that hold nothing wrong")  # pragma: no cover


def _parse(path: Path, data: Any, label_map: DocumentLabelMap, images_dir: Path) -> DocumentRecord:
    keys = ", ".join(ANNOTATION_KEYS)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object with the keys {keys}, got {_json_type(data)}")
    missing = [k for k in ANNOTATION_KEYS if k not in data]
    if missing:
        which = ", ".join(f"'{k}'" for k in missing)
        raise DatasetError(f"{path}: missing field{'s' if len(missing) > 1 else ''} {which} "
                           f"(expected the keys {keys})")

    # scalars
    for key in ("width", "height"):
        value = data[key]
        if type(value) is not int or value <= 0:
            hint = " (round it)" if type(value) is float and value > 0 else ""
            raise DatasetError(f"{path}: field '{key}' must be a positive integer (the page image's size in px), "
                               f"got {_shown(value)}{hint}")
    width, height = data["width"], data["height"]
    image_rel = data["image_path"]
    if type(image_rel) is not str or not image_rel.strip():
        raise DatasetError(f"{path}: field 'image_path' must be a non-empty string (an image file in "
                           f"{images_dir}), got {_shown(image_rel)}")
    doc_type = data["doc_type"]
    if type(doc_type) is not str:
        raise DatasetError(f"{path}: field 'doc_type' must be a string (a document type of the label map), "
                           f"got {_shown(doc_type)}")
    if doc_type not in label_map.doc_type2id:
        raise DatasetError(f"{path}: field 'doc_type': unknown document type {doc_type!r} "
                           f"({_known(label_map.doc_types, doc_type, 'doc_types')})")
    subtype = data["po_subtype"]
    if subtype is not None:
        if type(subtype) is not str:
            raise DatasetError(f"{path}: field 'po_subtype' must be a string or null, got {_shown(subtype)}")
        if doc_type != label_map.subtype_of:
            raise DatasetError(f"{path}: field 'po_subtype' is {subtype!r} but 'doc_type' is {doc_type!r}: only "
                               f"{label_map.subtype_of} documents carry a subtype (expected null)")
        if subtype not in label_map.po_subtype2id:
            raise DatasetError(f"{path}: field 'po_subtype': unknown subtype {subtype!r} "
                               f"({_known(label_map.po_subtypes, subtype, 'po_subtypes')})")

    # the three parallel lists
    words, boxes, labels = data["words"], data["boxes"], data["token_labels"]
    for key, value, what in (("words", words, "strings"), ("boxes", boxes, "[x0, y0, x1, y1] boxes"),
                             ("token_labels", labels, "label ids")):
        if type(value) is not list:
            raise DatasetError(f"{path}: field '{key}' must be an array of {what}, got {_shown(value)}")
    if not (len(words) == len(boxes) == len(labels)):
        raise DatasetError(f"{path}: fields 'words', 'boxes' and 'token_labels' differ in length: "
                           f"{len(words)} words, {len(boxes)} boxes, {len(labels)} token_labels "
                           "(expected one box and one label per word)")
    if not words:
        raise DatasetError(f"{path}: field 'words' is empty: a document without words (expected at least one "
                           "word with its box and label)")
    n = len(label_map.labels)
    if not _lists_ok(words, boxes, labels, n):
        _raise_first_bad(path, words, boxes, labels, label_map, width, height)

    return DocumentRecord(
        id=path.stem,
        annotation_path=path,
        image_path=images_dir / image_rel,  # an absolute image_path is kept as it is
        doc_type=doc_type,
        po_subtype=subtype,
        words=tuple(words),
        boxes=tuple(map(tuple, boxes)),
        labels=tuple(labels),
        width=width,
        height=height,
    )


def read_annotation(path: str | Path, label_map: DocumentLabelMap, images_dir: str | Path | None = None,
                    check_image: bool = True) -> DocumentRecord:
    """Read and validate one annotation JSON; ``image_path`` is resolved in ``images_dir``
    (default: the ``images/`` folder beside the file's ``annotations/`` folder).

    The image must exist; with ``check_image`` it must also open and be complete (a PNG ending
    with its IEND chunk, a JPEG with its EOI marker: a header check, no full decode).
    """
    path = Path(path)
    images_dir = Path(images_dir) if images_dir is not None else path.parent.parent / "images"
    record = _parse(path, _load_json(path), label_map, images_dir)
    image = record.image_path
    if check_image:
        probe_image(LineRecord(image, "", f"{path}: field 'image_path'"))
    elif not image.is_file():
        what = "is a directory (expected an image file)" if image.is_dir() else "does not exist (missing image)"
        raise DatasetError(f"{path}: field 'image_path': image {image} {what}")
    return record


# -- a split -----------------------------------------------------------------------------------
def _annotation_files(directory: Path) -> list[Path]:
    try:
        with os.scandir(directory) as entries:
            names = [e.name for e in entries
                     if e.name.endswith(".json") and not e.name.startswith("._") and e.is_file()]
    except OSError as e:
        raise DatasetError(f"annotations dir {directory} is unreadable: {e}") from e
    return [directory / name for name in sorted(names)]  # "._x.json": macOS metadata beside copied files


def _annotations_dir(split_dir: Path) -> Path:
    if not split_dir.is_dir():
        what = "is not a directory" if split_dir.exists() else "does not exist"
        raise DatasetError(f"split dir {split_dir} {what} ({LAYOUT})")
    ann_dir = split_dir / "annotations"
    if not ann_dir.is_dir():
        hint = ""
        splits = [s for s in ("train", "val", "test") if (split_dir / s / "annotations").is_dir()]
        if splits:
            hint = f"; it looks like the dataset root: give one of its splits, e.g. {split_dir / splits[0]}"
        elif any(split_dir.glob("*.json")):
            hint = "; it holds .json files: move the annotations into annotations/"
        raise DatasetError(f"split dir {split_dir} has no annotations/ folder ({LAYOUT}){hint}")
    return ann_dir


def read_split(split_dir: str | Path, label_map: DocumentLabelMap, check_images: bool = True
               ) -> list[DocumentRecord]:
    """Every ``annotations/*.json`` of a split, validated, sorted by file name.

    The errors of all files are collected and raised as one :class:`DatasetError` (the first
    ten listed, then how many more), so a dataset can be fixed in one go.
    """
    split_dir = Path(split_dir)
    ann_dir = _annotations_dir(split_dir)
    files = _annotation_files(ann_dir)
    if not files:
        others = sorted(p.name for p in ann_dir.iterdir())[:5]
        found = f"; found only {', '.join(others)}" if others else " (it is empty)"
        raise DatasetError(f"split dir {split_dir}: no annotation files in {ann_dir}{found} "
                           f"({LAYOUT}; names end with lower-case .json)")
    images_dir = split_dir / "images"
    records: list[DocumentRecord] = []
    errors: list[DatasetError] = []
    for path in files:
        try:
            records.append(read_annotation(path, label_map, images_dir, check_images))
        except DatasetError as e:
            errors.append(e)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        listed = "\n".join(f"  {e}" for e in errors[:MAX_LISTED_ERRORS])
        more = (f"\n  ... and {len(errors) - MAX_LISTED_ERRORS} more"
                if len(errors) > MAX_LISTED_ERRORS else "")
        hint = f" (there is no {images_dir} folder)" if not images_dir.is_dir() else ""
        raise DatasetError(f"split dir {split_dir}: {len(errors)} of {len(files)} annotation files are "
                           f"invalid{hint}:\n{listed}{more}")
    return records


# -- label maps --------------------------------------------------------------------------------
def read_label_map(data_dir: str | Path) -> DocumentLabelMap:
    """The label map of a dataset: ``data_dir/label_map.json``."""
    return DocumentLabelMap.from_file(Path(data_dir) / "label_map.json")


def business_document_labels() -> DocumentLabelMap:
    """Config target: the label map of the business-document generator
    (:func:`ocrlab.synth.business_docs.schema.label_map`), for models trained on its data."""
    from ocrlab.synth.business_docs.schema import label_map

    return DocumentLabelMap.from_dict(label_map(), where="business-document label map")


def check_dataset_labels(dataset_map: DocumentLabelMap, model_map: DocumentLabelMap,
                         data_dir: str | Path) -> None:
    """The model must predict the dataset's label map, or that map with labels appended
    (``model_map.extends(dataset_map)``: the dataset's label ids mean the same labels);
    otherwise a DatasetError naming ``label_map.json`` and what differs."""
    if model_map == dataset_map or model_map.extends(dataset_map):
        return
    parts = []
    for name in ("labels", "doc_types", "po_subtypes"):
        ours, theirs = getattr(dataset_map, name), getattr(model_map, name)
        if name == "labels" and theirs[: len(ours)] == ours:
            continue  # appended labels are fine
        if ours == theirs:
            continue
        only_data = [x for x in ours if x not in set(theirs)]
        only_model = [x for x in theirs if x not in set(ours)]
        what = f"{len(ours)} in the dataset vs {len(theirs)} in the model"
        if only_data or only_model:
            what += f"; only in the dataset: {only_data[:5]}, only in the model: {only_model[:5]}"
        else:
            i = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
            what += f"; the same names in another order (position {i}: {ours[i]!r} vs {theirs[i]!r})"
        parts.append(f"{name} differ ({what})")
    if dataset_map.subtype_of != model_map.subtype_of:
        parts.append(f"subtypes belong to {dataset_map.subtype_of!r} in the dataset, "
                     f"to {model_map.subtype_of!r} in the model")
    if dataset_map.extends(model_map):
        hint = ("the dataset has labels the model lacks: append them to the model's label map "
                "(then start from its weights with model.init_from=<checkpoint>)")
    else:
        hint = ("a model's label map must equal the dataset's or append labels to it, so that the "
                "dataset's label ids keep their meaning")
    raise DatasetError(f"{Path(data_dir) / 'label_map.json'}: the dataset's label map differs from the model's: "
                       f"{'; '.join(parts)}; {hint}")


# -- words for a tokenizer -----------------------------------------------------------------------
class AnnotationWords:
    """The words of every annotation JSON in ``directory`` (a split dir, or its ``annotations/``),
    file by file in name order: the text to train a BPE tokenizer on.

    Re-iterable; files are read only while iterating (the constructor does no I/O, so it can be
    built from a config before the data exists). Only ``words`` is read and type-checked.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"AnnotationWords({str(self.directory)!r})"

    def files(self) -> list[Path]:
        d = self.directory
        expected = "expected a split dir with annotations/<id>.json, or the annotations/ folder itself"
        if not d.is_dir():
            what = "is not a directory" if d.exists() else "does not exist"
            raise DatasetError(f"annotation words: {d} {what} ({expected})")
        if (d / "annotations").is_dir():
            d = d / "annotations"
        files = _annotation_files(d)
        if not files:
            raise DatasetError(f"annotation words: no .json annotation files in {d} ({expected})")
        return files

    def __iter__(self) -> Iterator[str]:
        for path in self.files():
            data = _load_json(path)
            if not isinstance(data, dict):
                raise DatasetError(f"{path}: expected a JSON object with a 'words' array, got {_json_type(data)}")
            if "words" not in data:
                raise DatasetError(f"{path}: missing field 'words' (expected an array of strings)")
            words = data["words"]
            if type(words) is not list:
                raise DatasetError(f"{path}: field 'words' must be an array of strings, got {_shown(words)}")
            for i, w in enumerate(words):
                if type(w) is not str:
                    raise DatasetError(f"{path}: field 'words': word {i} is {_json_type(w)} ({_shown(w)}); "
                                       "expected a string")
            yield from words
