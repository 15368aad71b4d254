"""The business-document annotation reader: generated data reads back exactly as written; every
bad input is a DatasetError that starts with the annotation file and names the field."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocrlab.errors import DatasetError
from ocrlab.families.layoutlmv3.annotations import (
    AnnotationWords,
    DocumentRecord,
    business_document_labels,
    check_dataset_labels,
    read_annotation,
    read_label_map,
    read_split,
)
from ocrlab.families.layoutlmv3.labels import DocumentLabelMap
from ocrlab.synth.business_docs import BusinessDocGenerator, schema
from ocrlab.synth.dataset import write_dataset

N_GENERATED = 10  # indices 0-7 train, 8 val, 9 test

TINY_MAP = DocumentLabelMap(
    ["O", "B-VENDOR_NAME", "I-VENDOR_NAME", "B-TOTAL_AMOUNT", "I-TOTAL_AMOUNT"],
    ["INVOICE", "PURCHASE_ORDER", "OTHER"],
    ["STANDARD", "BLANKET"],
)


# -- helpers -----------------------------------------------------------------------------------
def _image(path: Path, size=(60, 80), fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # noisy pixels: the compressed data is long enough to cut in the middle
    arr = (np.random.default_rng(0).random((size[1], size[0])) * 255).astype("uint8")
    Image.fromarray(arr, "L").save(path, fmt)
    return path


def _annotation(image="a.png", **changes) -> dict:
    data = {
        "image_path": image,
        "doc_type": "INVOICE",
        "po_subtype": None,
        "words": ["Vendor:", "Acme", "Corp", "Total", "12.50"],
        "boxes": [[10, 10, 90, 30], [100, 10, 160, 30], [170, 10, 230, 30], [10, 900, 80, 920],
                  [900, 900, 990, 920]],
        "token_labels": [0, 1, 2, 0, 3],
        "width": 60,
        "height": 80,
    }
    data.update(changes)
    return data


def _write(split_dir: Path, doc_id: str, data, image: str | None = "a.png") -> Path:
    """An annotation (a dict, or raw str/bytes) and, unless None, its image in the split."""
    path = split_dir / "annotations" / f"{doc_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, dict):
        data = json.dumps(data)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    if image is not None and not (split_dir / "images" / image).exists():
        _image(split_dir / "images" / image)
    return path


def _read_bad(tmp_path: Path, data, image: str | None = "a.png", check_image: bool = True) -> str:
    """The message of reading a bad annotation: it must start with the annotation's path."""
    split = tmp_path / "train"
    path = _write(split, "doc", data, image)
    with pytest.raises(DatasetError) as info:
        read_annotation(path, TINY_MAP, split / "images", check_image=check_image)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bizdocs") / "d"
    write_dataset(BusinessDocGenerator(seed=7, dpi=50), out, N_GENERATED, workers=1, progress=False)
    return out


@pytest.fixture
def tiny(tmp_path) -> Path:
    """Three hand-made documents: PNG and JPEG images, a purchase order with a subtype."""
    root = tmp_path / "tiny"
    root.mkdir()
    (root / "label_map.json").write_text(json.dumps(TINY_MAP.to_dict()), encoding="utf-8")
    train = root / "train"
    _write(train, "b_invoice", _annotation("b.png"), "b.png")
    _write(train, "a_po", _annotation("a.jpg", doc_type="PURCHASE_ORDER", po_subtype="BLANKET"), None)
    _image(train / "images" / "a.jpg", fmt="JPEG")
    absolute = _image(tmp_path / "elsewhere" / "c.png")
    _write(train, "c_other", _annotation(str(absolute), doc_type="OTHER", words=["x"] * 5), None)
    return root


# -- good data ---------------------------------------------------------------------------------
def test_generated_dataset_reads_back_as_written(generated):
    label_map = read_label_map(generated)
    assert label_map == business_document_labels()
    check_dataset_labels(label_map, business_document_labels(), generated)
    total = 0
    for split in schema.SPLITS:
        records = read_split(generated / split, label_map)
        assert records and [r.id for r in records] == sorted(r.id for r in records)
        for rec in records:
            a = json.loads(rec.annotation_path.read_text(encoding="utf-8"))
            assert rec.annotation_path == generated / split / "annotations" / f"{rec.id}.json"
            assert rec.image_path == generated / split / "images" / a["image_path"]
            assert (rec.doc_type, rec.po_subtype) == (a["doc_type"], a["po_subtype"])
            assert rec.words == tuple(a["words"])
            assert rec.boxes == tuple(tuple(b) for b in a["boxes"])
            assert rec.labels == tuple(a["token_labels"])
            assert (rec.width, rec.height) == (a["width"], a["height"])
            with Image.open(rec.image_path) as im:
                assert im.size == (rec.width, rec.height)
        total += len(records)
    assert total == N_GENERATED
    # check_images=False gives the same records
    assert read_split(generated / "train", label_map, check_images=False) == read_split(
        generated / "train", label_map)


def test_generated_words_for_a_tokenizer(generated):
    words = AnnotationWords(generated / "train")
    expected = [w for p in sorted((generated / "train" / "annotations").glob("*.json"))
                for w in json.loads(p.read_text(encoding="utf-8"))["words"]]
    assert list(words) == expected and len(expected) > 8 * 20
    assert list(words) == expected  # re-iterable
    assert list(AnnotationWords(generated / "train" / "annotations")) == expected


def test_hand_made_dataset(tiny):
    label_map = read_label_map(tiny)
    assert label_map == TINY_MAP
    records = read_split(tiny / "train", label_map)
    assert [r.id for r in records] == ["a_po", "b_invoice", "c_other"]  # sorted by file name
    po, invoice, other = records
    assert (po.doc_type, po.po_subtype, po.image_path) == ("PURCHASE_ORDER", "BLANKET",
                                                           tiny / "train" / "images" / "a.jpg")
    assert invoice.po_subtype is None and invoice.image_path.name == "b.png"
    assert other.image_path == tiny.parent / "elsewhere" / "c.png"  # absolute paths are kept
    assert invoice.words == ("Vendor:", "Acme", "Corp", "Total", "12.50")
    assert invoice.boxes[1] == (100, 10, 160, 30) and invoice.labels == (0, 1, 2, 0, 3)
    assert isinstance(invoice.boxes, tuple) and all(isinstance(b, tuple) for b in invoice.boxes)
    assert (invoice.width, invoice.height) == (60, 80)
    with pytest.raises(dataclasses.FrozenInstanceError):
        invoice.doc_type = "OTHER"  # type: ignore[misc]


def test_tolerated_variants(tmp_path):
    split = tmp_path / "train"
    # a UTF-8 BOM, extra keys, a purchase order whose subtype is unknown (null), zero-width boxes,
    # boxes on the page edge, words with inner spaces
    data = _annotation(doc_type="PURCHASE_ORDER", po_subtype=None, source="scanner 3",
                       words=["a", "b c", "d", "e", "f"],
                       boxes=[[0, 0, 0, 0], [1000, 1000, 1000, 1000], [0, 0, 1000, 1000], [5, 5, 6, 6],
                              [7, 7, 7, 9]])
    path = _write(split, "doc", b"\xef\xbb\xbf" + json.dumps(data).encode("utf-8"))
    rec = read_annotation(path, TINY_MAP)  # images_dir defaults to annotations/../images
    assert rec == DocumentRecord("doc", path, split / "images" / "a.png", "PURCHASE_ORDER", None,
                                 ("a", "b c", "d", "e", "f"),
                                 ((0, 0, 0, 0), (1000, 1000, 1000, 1000), (0, 0, 1000, 1000), (5, 5, 6, 6),
                                  (7, 7, 7, 9)),
                                 (0, 1, 2, 0, 3), 60, 80)


# -- bad annotation files ----------------------------------------------------------------------
_OUT = [[10, 10, 90, 30], [100, 10, 160, 30], [0, 0, 1001, 10], [10, 900, 80, 920], [900, 900, 990, 920]]
BAD = {
    "not utf-8": (b'{"image_path": "a.png",\n "words": ["caf\xe9"]}', r"not UTF-8 text: line 2 column 16: byte E9"),
    "utf-16": ('{"a": 1}'.encode("utf-16"), r"not UTF-8: it is UTF-16"),
    "invalid json": ('{"image_path": "a.png",\n "words": [}', r"invalid JSON at line 2 column 12"),
    "empty file": (b"", r"invalid JSON at line 1 column 1: .*\(the file is empty\)"),
    "not an object": ("[1, 2]", r"expected a JSON object with the keys image_path, doc_type, .*got an array"),
    "missing key": ({k: v for k, v in _annotation().items() if k != "token_labels"},
                    (r"missing field 'token_labels' \(expected the keys image_path, doc_type, po_subtype, "
                    r"words, boxes, token_labels, width, height\)")),
    "missing keys": ({"words": []}, r"missing fields 'image_path', 'doc_type', 'po_subtype', 'boxes'"),
    "word not a string": (_annotation(words=["a", 5, "c", "d", "e"]), r"field 'words': word 1 is an integer"),
    "empty word": (_annotation(words=["a", "", "c", "d", "e"]), r"field 'words': word 1 is an empty string"),
    "blank word": (_annotation(words=["a", "b", "c", " \t", "e"]), r"field 'words': word 3 is only whitespace"),
    "words not a list": (_annotation(words="a b c"), r"field 'words' must be an array of strings"),
    "boxes not a list": (_annotation(boxes={}), r"field 'boxes' must be an array of \[x0, y0, x1, y1\] boxes"),
    "labels not a list": (_annotation(token_labels=None), r"field 'token_labels' must be an array of label ids"),
    "lengths differ": (_annotation(boxes=_annotation()["boxes"][:4], token_labels=[0, 0, 0]),
                       (r"fields 'words', 'boxes' and 'token_labels' differ in length: "
                       r"5 words, 4 boxes, 3 token_labels")),
    "no words": (_annotation(words=[], boxes=[], token_labels=[]), r"field 'words' is empty"),
    "box of 3": (_annotation(boxes=[[1, 2, 3, 4]] * 4 + [[1, 2, 3]]),
                 r"field 'boxes': word 4 \('12.50'\) has box \[1, 2, 3\]: .*got 3 values"),
    "box not a list": (_annotation(boxes=[[1, 2, 3, 4]] * 4 + ["1 2 3 4"]), r"field 'boxes': word 4 .*a string"),
    "box of floats": (_annotation(boxes=[[0.1, 0.1, 0.2, 0.2]] * 5),
                      r"field 'boxes': word 0 .*integers .*fractions of the page\?"),
    "box with a bool": (_annotation(boxes=[[1, 2, 3, 4]] * 4 + [[True, 2, 3, 4]]),
                        r"field 'boxes': word 4 .*got a boolean, an integer"),
    "box outside": (_annotation(boxes=_OUT),
                    (r"field 'boxes': word 2 \('Corp'\) has box \[0, 0, 1001, 10\]: a coordinate is outside "
                    r"0\.\.1000")),
    "negative box": (_annotation(boxes=[[1, 2, 3, 4]] * 4 + [[-1, 2, 3, 4]]),
                     r"field 'boxes': word 4 .*\[-1, 2, 3, 4\].*outside 0\.\.1000"),
    "pixel boxes": (_annotation(boxes=[[1, 2, 3, 4]] * 4 + [[1, 2, 1200, 1500]], width=1240, height=1754),
                    r"field 'boxes': word 4 .*outside 0\.\.1000.*pixel coordinates\?"),
    "x1 < x0": (_annotation(boxes=[[1, 2, 3, 4]] * 3 + [[50, 2, 40, 4], [1, 2, 3, 4]]),
                r"field 'boxes': word 3 \('Total'\) has box \[50, 2, 40, 4\]: x1 < x0"),
    "y1 < y0": (_annotation(boxes=[[1, 2, 3, 4]] * 4 + [[1, 9, 3, 8]]),
                r"field 'boxes': word 4 .*\[1, 9, 3, 8\]: y1 < y0"),
    "unknown doc_type": (_annotation(doc_type="INVOICES"),
                         (r"field 'doc_type': unknown document type 'INVOICES' \(known doc_types: INVOICE, "
                         r"PURCHASE_ORDER, OTHER; did you mean 'INVOICE'\?\)")),
    "doc_type case": (_annotation(doc_type="invoice"), r"field 'doc_type': .*did you mean 'INVOICE'\?"),
    "doc_type not a string": (_annotation(doc_type=3), r"field 'doc_type' must be a string"),
    "unknown po_subtype": (_annotation(doc_type="PURCHASE_ORDER", po_subtype="STANDART"),
                           (r"field 'po_subtype': unknown subtype 'STANDART' \(known po_subtypes: STANDARD, "
                           r"BLANKET; did you mean 'STANDARD'\?\)")),
    "po_subtype not a string": (_annotation(doc_type="PURCHASE_ORDER", po_subtype=1),
                                r"field 'po_subtype' must be a string or null"),
    "po_subtype on an invoice": (_annotation(po_subtype="STANDARD"),
                                 (r"field 'po_subtype' is 'STANDARD' but 'doc_type' is 'INVOICE': only "
                                 r"PURCHASE_ORDER documents carry a subtype \(expected null\)")),
    "label too large": (_annotation(token_labels=[0, 5, 0, 0, 0]),
                        (r"field 'token_labels': word 1 \('Acme'\): label id 5 is outside 0\.\.4 "
                        r"\(the label map has 5 labels\)")),
    "negative label": (_annotation(token_labels=[0, 0, 0, 0, -1]),
                       r"field 'token_labels': word 4 .*label id -1 is outside 0\.\.4"),
    "bool label": (_annotation(token_labels=[0, True, 0, 0, 0]),
                   r"field 'token_labels': word 1 .*True is a boolean, expected an integer label id"),
    "label name": (_annotation(token_labels=[0, "B-VENDOR_NAME", 0, 0, 0]),
                   r"field 'token_labels': word 1 .*a label name: write its id, 1, from label2id"),
    "zero width": (_annotation(width=0), r"field 'width' must be a positive integer"),
    "negative height": (_annotation(height=-3), r"field 'height' must be a positive integer"),
    "float width": (_annotation(width=60.5), r"field 'width' must be a positive integer .*got 60\.5"),
    "string height": (_annotation(height="80"), r"field 'height' must be a positive integer"),
    "bool width": (_annotation(width=True), r"field 'width' must be a positive integer"),
    "empty image_path": (_annotation(image=""), r"field 'image_path' must be a non-empty string"),
    "image_path not a string": (_annotation(image=None), r"field 'image_path' must be a non-empty string"),
}


@pytest.mark.parametrize("data, pattern", BAD.values(), ids=BAD.keys())
def test_bad_annotation_names_file_and_field(tmp_path, data, pattern):
    message = _read_bad(tmp_path, data)
    assert re.search(pattern, message), message


def test_missing_image(tmp_path):
    for check_image in (True, False):
        message = _read_bad(tmp_path, _annotation(image="nope.png"), check_image=check_image)
        assert re.search(r"field 'image_path': image .*nope\.png does not exist", message), message


@pytest.mark.parametrize("fmt, suffix", [("PNG", "png"), ("JPEG", "jpg")])
def test_truncated_image(tmp_path, fmt, suffix):
    image = _image(tmp_path / "train" / "images" / f"page.{suffix}", size=(120, 160), fmt=fmt)
    data = image.read_bytes()
    image.write_bytes(data[: len(data) * 2 // 3])
    message = _read_bad(tmp_path, _annotation(image=image.name, width=120, height=160), image=None)
    assert re.search(rf"field 'image_path': image .*page\.{suffix} is corrupt or truncated", message), message
    # without the check the record reads (the image is opened only when used)
    split = tmp_path / "train"
    rec = read_annotation(split / "annotations" / "doc.json", TINY_MAP, split / "images", check_image=False)
    assert rec.image_path == image


def test_not_an_image(tmp_path):
    (tmp_path / "train" / "images").mkdir(parents=True)
    (tmp_path / "train" / "images" / "a.png").write_bytes(b"<html>not an image</html>")
    message = _read_bad(tmp_path, _annotation(), image=None)
    assert re.search(r"field 'image_path': image .*a\.png is corrupt or unreadable", message), message


# -- splits ------------------------------------------------------------------------------------
def test_split_layout_errors(tmp_path):
    with pytest.raises(DatasetError, match=rf"split dir {re.escape(str(tmp_path / 'x'))} does not exist "
                                           r"\(expected <split>/annotations/<id>\.json"):
        read_split(tmp_path / "x", TINY_MAP)
    (tmp_path / "train" / "images").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"split dir .*train has no annotations/ folder \(expected "
                                           r"<split>/annotations/<id>\.json"):
        read_split(tmp_path / "train", TINY_MAP)
    (tmp_path / "train" / "annotations").mkdir()
    with pytest.raises(DatasetError, match=r"split dir .*train: no annotation files in .*annotations "
                                           r"\(it is empty\)"):
        read_split(tmp_path / "train", TINY_MAP)
    (tmp_path / "train" / "annotations" / "a.JSON").write_text("{}")
    (tmp_path / "train" / "annotations" / "._b.json").write_bytes(b"\x00\x05\x16\x07")  # macOS metadata
    with pytest.raises(DatasetError, match=r"no annotation files in .*; found only ._b.json, a.JSON"):
        read_split(tmp_path / "train", TINY_MAP)
    with pytest.raises(DatasetError, match=r"it looks like the dataset root: give one of its splits, e\.g\. "
                                           rf"{re.escape(str(tmp_path / 'train'))}"):
        read_split(tmp_path, TINY_MAP)


def test_split_lists_the_errors_of_all_files(tmp_path):
    split = tmp_path / "train"
    _write(split, "good_0", _annotation())
    _write(split, "good_1", _annotation())
    bad = [_write(split, f"bad_{i:02d}", _annotation(doc_type=f"NOPE{i}")) for i in range(13)]
    with pytest.raises(DatasetError) as info:
        read_split(split, TINY_MAP)
    message = str(info.value)
    assert message.startswith(f"split dir {split}: 13 of 15 annotation files are invalid:\n"), message
    for path in bad[:10]:
        assert f"\n  {path}: field 'doc_type': unknown document type" in message
    assert str(bad[10]) not in message and message.endswith("\n  ... and 3 more")
    # one bad file: its own error
    for path in bad[1:]:
        path.unlink()
    with pytest.raises(DatasetError) as info:
        read_split(split, TINY_MAP)
    assert str(info.value).startswith(f"{bad[0]}: field 'doc_type': unknown document type 'NOPE0'")


def test_split_ignores_macos_metadata(tmp_path):
    split = tmp_path / "train"
    _write(split, "doc", _annotation())
    (split / "annotations" / "._doc.json").write_bytes(b"\x00\x05\x16\x07\x00\x02")
    assert [r.id for r in read_split(split, TINY_MAP)] == ["doc"]


# -- label maps --------------------------------------------------------------------------------
def test_read_label_map(tiny, tmp_path):
    assert read_label_map(tiny) == TINY_MAP
    with pytest.raises(DatasetError, match=r"label map .*label_map\.json does not exist"):
        read_label_map(tmp_path / "nowhere")
    (tmp_path / "label_map.json").write_text('{"labels": ["O"], "doc_types": "INVOICE"}')
    with pytest.raises(DatasetError, match=r"label map .*label_map\.json: 'doc_types' must be a list"):
        read_label_map(tmp_path)


def test_business_document_labels():
    lm = business_document_labels()
    assert lm.labels == schema.LABELS and lm.doc_types == schema.DOC_TYPES
    assert lm.po_subtypes == schema.PO_SUBTYPES and lm.subtype_of == "PURCHASE_ORDER"
    assert lm.label2id == schema.LABEL2ID and len(lm) == 181


def test_model_label_map_may_append_labels(tmp_path):
    check_dataset_labels(TINY_MAP, TINY_MAP, tmp_path)
    appended = DocumentLabelMap(TINY_MAP.labels + ("B-IBAN", "I-IBAN"), TINY_MAP.doc_types, TINY_MAP.po_subtypes)
    check_dataset_labels(TINY_MAP, appended, tmp_path)


def _refused(dataset_map, model_map, tmp_path) -> str:
    with pytest.raises(DatasetError) as info:
        check_dataset_labels(dataset_map, model_map, tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'label_map.json'}: the dataset's label map differs from the "
                              "model's: "), message
    return message


def test_changed_label_map_is_refused(tmp_path):
    labels, types, subtypes = TINY_MAP.labels, TINY_MAP.doc_types, TINY_MAP.po_subtypes
    # the dataset has labels the model lacks
    message = _refused(TINY_MAP, DocumentLabelMap(labels[:3], types, subtypes), tmp_path)
    assert "labels differ (5 in the dataset vs 3 in the model; only in the dataset: ['B-TOTAL_AMOUNT', " \
           "'I-TOTAL_AMOUNT'], only in the model: [])" in message
    assert "append them to the model's label map" in message
    # a label inserted in the middle shifts the ids
    inserted = DocumentLabelMap(labels[:1] + ("B-IBAN", "I-IBAN") + labels[1:], types, subtypes)
    message = _refused(TINY_MAP, inserted, tmp_path)
    assert "only in the model: ['B-IBAN', 'I-IBAN']" in message and "keep their meaning" in message
    # the same labels in another order
    swapped = DocumentLabelMap(labels[:1] + labels[3:] + labels[1:3], types, subtypes)
    assert "same names in another order (position 1: 'B-VENDOR_NAME' vs 'B-TOTAL_AMOUNT')" in _refused(
        TINY_MAP, swapped, tmp_path)
    # appended labels but other doc types: the doc types are named, the labels are not
    message = _refused(TINY_MAP, DocumentLabelMap(labels + ("B-IBAN", "I-IBAN"), types[:2], subtypes), tmp_path)
    assert "doc_types differ (3 in the dataset vs 2 in the model; only in the dataset: ['OTHER']" in message
    assert "labels differ" not in message
    message = _refused(TINY_MAP, DocumentLabelMap(labels, types, subtypes[:1]), tmp_path)
    assert "po_subtypes differ (2 in the dataset vs 1 in the model; only in the dataset: ['BLANKET']" in message
    message = _refused(TINY_MAP, DocumentLabelMap(labels, types, subtypes, subtype_of="INVOICE"), tmp_path)
    assert "subtypes belong to 'PURCHASE_ORDER' in the dataset, to 'INVOICE' in the model" in message


# -- words for a tokenizer ---------------------------------------------------------------------
def test_annotation_words_are_read_only_when_iterated(tmp_path):
    split = tmp_path / "later" / "train"
    words = AnnotationWords(split)  # nothing there yet: no error, no I/O
    assert words.directory == split and "later" in repr(words)
    with pytest.raises(DatasetError, match=rf"annotation words: {re.escape(str(split))} does not exist"):
        list(words)
    (split / "annotations").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"annotation words: no \.json annotation files in .*annotations"):
        list(words)
    _write(split, "a", _annotation(words=["one", "two", "3", "4", "5"]), image=None)
    _write(split, "b", _annotation(words=["six"] * 5), image=None)
    _write(split, "c", '{"words": "not a list"}', image=None)
    it = iter(words)
    assert [next(it) for _ in range(10)] == ["one", "two", "3", "4", "5"] + ["six"] * 5  # lazily, file by file
    with pytest.raises(DatasetError, match=r"c\.json: field 'words' must be an array of strings"):
        next(it)
    (split / "annotations" / "c.json").write_text('{"words": ["seven", 8]}')
    with pytest.raises(DatasetError, match=r"c\.json: field 'words': word 1 is an integer"):
        list(words)
    (split / "annotations" / "c.json").write_text('{"words": ["seven"]}')
    assert list(words)[-1] == "seven" and len(list(words)) == 11


def test_annotation_words_constructor_does_no_io(tmp_path, monkeypatch):
    def no_io(*args, **kwargs):
        raise AssertionError("I/O in the constructor")

    for name in ("scandir", "stat", "listdir"):
        monkeypatch.setattr(os, name, no_io)
    monkeypatch.setattr(Path, "is_dir", no_io)
    monkeypatch.setattr(Path, "exists", no_io)
    monkeypatch.setattr("builtins.open", no_io)
    AnnotationWords(tmp_path / "anything")
