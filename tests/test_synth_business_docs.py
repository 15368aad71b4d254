"""Business-document generator (the business-document annotation format, for LayoutLMv3)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocrlab.synth import business_docs as bd
from ocrlab.synth.business_docs import (
    ANNOTATION_KEYS,
    DOC_TYPES,
    FIELDS,
    LABEL2ID,
    LABELS,
    NUM_VARIANTS,
    PO_SUBTYPES,
    BusinessDocGenerator,
)
from ocrlab.synth.dataset import read_manifest, verify_dataset, write_dataset
from ocrlab.synth.render import render

N_DOCS = 150  # 7 full rounds of 19: every doc type and all 35 PO subtypes (35 POs)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("bizdocs") / "d"
    write_dataset(BusinessDocGenerator(seed=7, dpi=50), out, N_DOCS, workers=1, progress=False)
    annotations = {}
    for path in sorted(out.glob("*/annotations/*.json")):
        annotations[path] = json.loads(path.read_text(encoding="utf-8"))
    return out, annotations


def test_label_space():
    assert len(DOC_TYPES) == 15 and len(set(DOC_TYPES)) == 15
    assert len(PO_SUBTYPES) == 35 and len(set(PO_SUBTYPES)) == 35
    assert {
        "STANDARD",
        "BLANKET",
        "CONTRACT",
        "FRAMEWORK",
        "SUBCONTRACTING",
        "CONSIGNMENT",
        "STOCK_TRANSFER",
        "SERVICE",
    } <= set(PO_SUBTYPES)
    assert len(FIELDS) == 90 and len(set(FIELDS)) == 90
    assert len(LABELS) == 181 and LABEL2ID["O"] == 0
    for i, f in enumerate(FIELDS):
        assert LABEL2ID[f"B-{f}"] == 1 + 2 * i and LABEL2ID[f"I-{f}"] == 2 + 2 * i


def test_label_map_file_round_trips(dataset):
    out, _ = dataset
    lm = json.loads((out / "label_map.json").read_text(encoding="utf-8"))
    assert set(lm) == {"labels", "label2id", "doc_types", "po_subtypes"}
    assert (
        lm["labels"] == list(LABELS)
        and lm["doc_types"] == list(DOC_TYPES)
        and lm["po_subtypes"] == list(PO_SUBTYPES)
    )
    assert all(lm["labels"][i] == label for label, i in lm["label2id"].items())
    assert len(lm["label2id"]) == len(lm["labels"])
    assert verify_dataset(out) == 2 * N_DOCS + 1


def test_annotation_format(dataset):
    _, annotations = dataset
    assert len(annotations) == N_DOCS
    for path, a in annotations.items():
        assert list(a) == list(ANNOTATION_KEYS), path
        assert isinstance(a["image_path"], str) and "/" not in a["image_path"]
        assert a["doc_type"] in DOC_TYPES
        if a["doc_type"] == "PURCHASE_ORDER":
            assert a["po_subtype"] in PO_SUBTYPES
        else:
            assert a["po_subtype"] is None
        n = len(a["words"])
        assert n > 20 and n == len(a["boxes"]) == len(a["token_labels"]), path
        assert all(isinstance(w, str) and w and " " not in w for w in a["words"])
        assert all(isinstance(t, int) and 0 <= t < len(LABELS) for t in a["token_labels"])
        for box in a["boxes"]:
            assert len(box) == 4 and all(isinstance(v, int) and 0 <= v <= 1000 for v in box), (path, box)
            assert box[0] <= box[2] and box[1] <= box[3], (path, box)
        image = path.parent.parent / "images" / a["image_path"]
        assert image.is_file(), image
        with Image.open(image) as im:
            assert im.size == (a["width"], a["height"])


def test_splits_follow_index(dataset):
    out, annotations = dataset
    records = read_manifest(out)
    assert [r["index"] for r in records] == list(range(N_DOCS))
    for r in records:
        split = ("train",) * 8 + ("val", "test")
        assert r["split"] == split[r["index"] % 10]
        assert all(p.startswith(f"{r['split']}/") for p in r["files"])
        assert set(r["hard_kinds"]) <= set(bd.HARD_KINDS)
    assert {p.parent.parent.name for p in annotations} == {"train", "val", "test"}


def test_every_class_and_label_appears(dataset):
    _, annotations = dataset
    assert {a["doc_type"] for a in annotations.values()} == set(DOC_TYPES)
    assert {a["po_subtype"] for a in annotations.values()} - {None} == set(PO_SUBTYPES)
    counts = Counter(t for a in annotations.values() for t in a["token_labels"])
    missing = [LABELS[i] for i in range(len(LABELS)) if counts[i] == 0]
    assert not missing


def test_bio_sequences_are_valid(dataset):
    _, annotations = dataset
    for path, a in annotations.items():
        previous = "O"
        for t in a["token_labels"]:
            label = LABELS[t]
            if label.startswith("I-"):
                assert previous[2:] == label[2:] and previous != "O", (path, previous, label)
            previous = label


def test_word_boxes_hold_ink(dataset):
    """Every word box holds a pixel clearly darker than the page's paper (its median: white, or
    darker on degraded pages). Relative, not absolute: at 50 dpi a light-gray caption in a
    6 pt font or a lone "/" is antialiased to a mid gray."""
    _, annotations = dataset
    checked = 0
    for path, a in annotations.items():
        with Image.open(path.parent.parent / "images" / a["image_path"]) as im:
            pixels = np.asarray(im.convert("L"))
        paper = int(np.median(pixels))
        assert paper > 200, path
        w, h = a["width"], a["height"]
        for word, (x0, y0, x1, y1) in zip(a["words"], a["boxes"]):
            crop = pixels[
                math.floor(y0 * h / 1000) : math.ceil(y1 * h / 1000) + 1,
                math.floor(x0 * w / 1000) : math.ceil(x1 * w / 1000) + 1,
            ]
            assert crop.size and int(crop.min()) < paper - 50, (path, word, int(crop.min()), paper)
            checked += 1
    assert checked > 100 * N_DOCS


def test_text_stays_inside_its_boxes():
    """The converse: blanking every word box leaves no text ink (only rules, fills and logos)."""
    gen = BusinessDocGenerator(seed=4, dpi=72, hard_ratio=0.0)
    for index in range(3):
        canvas, _ = gen.layout(index)
        canvas.pages[0].ops = [op for op in canvas.pages[0].ops if op[0] == "text"]  # text only
        rendered = render(canvas, 72, grayscale=True)
        pixels = np.asarray(rendered.images[0]).copy()
        for word in rendered.words:
            x0, y0, x1, y1 = word.box
            pixels[
                max(0, math.floor(y0) - 1) : math.ceil(y1) + 1, max(0, math.floor(x0) - 1) : math.ceil(x1) + 1
            ] = 255
        assert pixels.min() > 200, index


def test_same_seed_same_bytes_for_any_worker_count(tmp_path):
    gen = BusinessDocGenerator(seed=11, dpi=40, hard_ratio=0.5)
    write_dataset(gen, tmp_path / "a", 6, workers=1, progress=False)
    write_dataset(gen, tmp_path / "b", 6, workers=2, progress=False)
    files_a = {
        p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()
    }
    files_b = {
        p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()
    }
    assert files_a == files_b and len(files_a) == 2 * 6 + 3
    other = BusinessDocGenerator(seed=12, dpi=40, hard_ratio=0.5).sample(0).files
    assert other != gen.sample(0).files


def test_holdout_layouts_stay_in_test():
    held = NUM_VARIANTS - 1
    gen = BusinessDocGenerator(seed=5, holdout_layouts=True)
    by_split: dict[str, set[int]] = {"train": set(), "val": set(), "test": set()}
    for i in range(200):
        _, record = gen.layout(i)
        by_split[record["split"]].add(record["layout"])
    assert held not in by_split["train"] | by_split["val"]
    assert held in by_split["test"] and len(by_split["train"]) == NUM_VARIANTS - 1
    assert held in {
        BusinessDocGenerator(seed=5).layout(i)[1]["layout"] for i in range(0, 80, 10)
    }  # without holdout: anywhere


def test_layout_variants_differ():
    for doc_type in DOC_TYPES:
        variants = bd.variants_of(doc_type)
        assert len(variants) == NUM_VARIANTS >= 3 and len(set(variants)) == NUM_VARIANTS
        assert len({v.header for v in variants}) == 3


def test_plan_covers_types_and_subtypes_in_rounds():
    gen = BusinessDocGenerator(seed=3)
    plans = [gen.plan(i) for i in range(60)]  # the acceptance check: 60 docs, seed 3
    assert {p["split"] for p in plans} == {"train", "val", "test"}
    assert len({p["doc_type"] for p in plans}) == 15
    subtypes = [p["po_subtype"] for p in (gen.plan(i) for i in range(bd.ROUND * 7)) if p["po_subtype"]]
    assert sorted(subtypes) == sorted(PO_SUBTYPES)


def test_hard_samples_are_recorded_not_annotated():
    gen = BusinessDocGenerator(seed=1, dpi=40, hard_ratio=1.0)
    for i in range(4):
        sample = gen.sample(i)
        assert sample.record["hard"] and sample.record["hard_kinds"]
        ann = json.loads(next(v for k, v in sample.files.items() if k.endswith(".json")))
        assert list(ann) == list(ANNOTATION_KEYS)
    assert not BusinessDocGenerator(seed=1, dpi=40, hard_ratio=0.0).sample(0).record["hard_kinds"]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"seed": -1}, "seed"),
        ({"hard_ratio": 1.5}, "hard_ratio"),
        ({"dpi": 10}, "dpi"),
        ({"image_format": "gif"}, "image_format"),
        ({"grayscale": "yes"}, "grayscale"),
        ({"holdout_layouts": 1}, "holdout_layouts"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BusinessDocGenerator(**kwargs)


def test_png_and_color_output():
    sample = BusinessDocGenerator(seed=2, dpi=40, image_format="png", grayscale=False).sample(3)
    image_rel = next(k for k in sample.files if "/images/" in k)
    assert image_rel.endswith(".png")
    ann = json.loads(next(v for k, v in sample.files.items() if k.endswith(".json")))
    assert ann["image_path"] == Path(image_rel).name


def test_cli_writes_the_seed_002_layout(tmp_path, capsys):
    from ocrlab.synth.cli import main

    out = tmp_path / "bd"
    args = ["business-docs", "--num-samples", "20", "--output-dir", str(out), "--seed", "3", "--dpi", "40",
            "--holdout-layouts", "--no-progress"]
    assert main(args) == 0
    assert "20 documents" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["test", "train", "val"]
    assert len(list(out.glob("*/annotations/*.json"))) == 20
    assert (out / "label_map.json").is_file()
    with pytest.raises(SystemExit) as exit_:
        main(["business-docs", "--num-samples", "0", "--output-dir", str(tmp_path / "none")])
    assert exit_.value.code == 2
    assert "--num-samples 0: expected at least 1" in capsys.readouterr().err
