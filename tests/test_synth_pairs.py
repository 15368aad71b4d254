"""``ocrlab-synth pairs``: instruction pairs split by document, element crops, prompts, the reader,
and an output that appears whole or not at all."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ocrlab.synth.cli import main as synth_main
from ocrlab.synth.dataset import write_dataset
from ocrlab.synth.invoices import InvoiceGenerator
from ocrlab.synth.invoices.schema import CONTENT_FIELDS, LINE_ITEM_FIELDS, PARTY_FIELDS
from ocrlab.synth.pair_crops import page_table_html, pixel_box
from ocrlab.synth.pair_rows import TASKS, PairsError, load_prompts
from ocrlab.synth.pairs import (
    SPLITS,
    make_pairs,
    read_pairs,
    split_documents,
    split_sizes,
)

NUM_DOCS = 30


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """30 documents (seed 11): receipts, a table over two pages, a skewed page, overlapping regions."""
    out = tmp_path_factory.mktemp("pairs") / "inv"
    write_dataset(InvoiceGenerator(seed=11, dpi=72), out, NUM_DOCS, progress=False)
    return out


@pytest.fixture(scope="module")
def gts(dataset) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted((dataset / "ground_truth").glob("*.json"))}


@pytest.fixture(scope="module")
def pages(dataset) -> Path:
    out = dataset.parent / "pages"
    make_pairs(dataset, out, seed=3, progress=False)
    return out


@pytest.fixture(scope="module")
def crops(dataset) -> Path:
    out = dataset.parent / "crops"
    make_pairs(dataset, out, mode="crops", seed=3, progress=False)
    return out


def all_rows(out: Path) -> dict[str, list[dict]]:
    return {split: read_pairs(out / f"{split}.jsonl") for split in SPLITS}


def ids_of(rows: list[dict]) -> set[str]:
    return {r["id"] for r in rows}


def table_pages(gt: dict) -> list[int]:
    return [r["page"] for r in gt["regions"] if r["block"] == "table"]


def copy_docs(dataset: Path, dest: Path, n: int = 3) -> Path:
    """The first ``n`` documents as a hand-made dataset (ground truth + images, no dataset.json)."""
    (dest / "ground_truth").mkdir(parents=True)
    (dest / "images").mkdir()
    for path in sorted((dataset / "ground_truth").glob("*.json"))[:n]:
        shutil.copy(path, dest / "ground_truth")
        for image in (dataset / "images").glob(f"{path.stem}_p*"):
            shutil.copy(image, dest / "images")
    return dest


def edit_gt(root: Path, edit) -> Path:
    path = sorted((root / "ground_truth").glob("*.json"))[1]
    gt = json.loads(path.read_text(encoding="utf-8"))
    edit(gt)
    path.write_text(json.dumps(gt, ensure_ascii=False), encoding="utf-8")
    return path


def test_fixture_has_the_hard_cases(gts):
    assert any(len(set(table_pages(gt))) > 1 for gt in gts.values())  # a table over two pages
    assert any(gt["rendering"]["layout"] == "receipt" for gt in gts.values())
    assert any("skew" in gt["hard_kinds"] for gt in gts.values())


# -- pages mode ------------------------------------------------------------------------------
def test_five_pairs_per_document_over_every_page(pages, gts):
    rows = [r for split in all_rows(pages).values() for r in split]
    assert len(rows) == 5 * NUM_DOCS
    by_doc: dict[str, list[dict]] = {}
    for row in rows:
        by_doc.setdefault(row["id"], []).append(row)
    assert set(by_doc) == set(gts)
    for doc_id, doc_rows in by_doc.items():
        assert [r["task"] for r in doc_rows] == list(TASKS)
        gt = gts[doc_id]
        for row in doc_rows:
            assert [Path(i).name for i in row["images"]] == [Path(p["image"]).name for p in gt["pages"]]
            assert all(Path(i).name.split("_p")[0] == doc_id for i in row["images"])
            user, assistant = row["messages"]
            assert (user["role"], assistant["role"]) == ("user", "assistant")
            assert user["content"].startswith("<image>" * len(gt["pages"]))
            assert user["content"].count("<image>") == len(gt["pages"])
            assert {k: row[k] for k in ("document_type", "locale", "currency", "hard_kinds")} == {
                k: gt[k] for k in ("document_type", "locale", "currency", "hard_kinds")
            }
            assert row["layout"] == gt["rendering"]["layout"]


def test_split_by_document_80_10_10(pages):
    rows = all_rows(pages)
    ids = {split: ids_of(r) for split, r in rows.items()}
    assert [len(ids[s]) for s in SPLITS] == [24, 3, 3]
    assert [len(rows[s]) for s in SPLITS] == [120, 15, 15]
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    # the acceptance check's document of an image: no document's images in two splits
    docs = {s: {Path(i).name.split("_p")[0] for r in rows[s] for i in r["images"]} for s in SPLITS}
    assert docs == ids
    manifest = json.loads((pages / "pairs.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["documents"] == {"train": 24, "val": 3, "test": 3}
    assert {s: set(v) for s, v in manifest["documents"].items()} == ids
    assert manifest["spec"]["mode"] == "pages" and manifest["spec"]["seed"] == 3


@pytest.mark.parametrize(
    "n, fractions, expected",
    [(30, (0.8, 0.1, 0.1), [24, 3, 3]), (6, (0.8, 0.1, 0.1), [4, 1, 1]), (10, (0.8, 0.1, 0.1), [8, 1, 1]),
     (2, (0.8, 0.1, 0.1), [1, 1, 0]), (1, (0.8, 0.1, 0.1), [1, 0, 0]), (7, (0.7, 0.3, 0.0), [5, 2, 0]),
     (101, (0.8, 0.1, 0.1), [81, 10, 10])],
)
def test_split_sizes(n, fractions, expected):
    assert split_sizes(n, fractions) == expected


def test_split_depends_on_seed_not_on_order():
    ids = [f"invoice_{i:06d}" for i in range(50)]
    assert split_documents(ids, 0, (0.8, 0.1, 0.1)) == split_documents(ids[::-1], 0, (0.8, 0.1, 0.1))
    assert split_documents(ids, 0, (0.8, 0.1, 0.1)) != split_documents(ids, 1, (0.8, 0.1, 0.1))


def test_answers_are_the_ground_truth(pages, gts):
    for row in (r for split in all_rows(pages).values() for r in split):
        gt, answer = gts[row["id"]], row["messages"][1]["content"]
        parsed = json.loads(answer)
        assert parsed == {k: gt[k] for k in TASKS[row["task"]]}
        assert list(parsed) == list(TASKS[row["task"]])  # schema order
        assert answer == json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))  # compact
        if row["task"] == "full":
            assert list(parsed) == list(CONTENT_FIELDS)
            assert list(parsed["vendor"]) == list(PARTY_FIELDS)
            assert all(list(item) == list(LINE_ITEM_FIELDS) for item in parsed["line_items"])
    summary = json.loads(next(r for r in all_rows(pages)["train"] if r["task"] == "summary")["messages"][1]["content"])
    assert list(summary) == ["subtotal", "discounts", "taxes", "shipping", "total", "currency"]


def test_image_paths_are_relative_to_the_jsonl(pages, dataset):
    line = (pages / "train.jsonl").read_text(encoding="utf-8").splitlines()[0]
    images = json.loads(line)["images"]
    assert all(not os.path.isabs(i) and (pages / i).resolve().parent == (dataset / "images").resolve() for i in images)
    assert all(os.path.isabs(i) and Path(i).is_file() for i in read_pairs(pages / "train.jsonl")[0]["images"])


def test_same_seed_same_bytes_other_seed_other_split(dataset, pages):
    again = dataset.parent / "pages_again"
    make_pairs(dataset, again, seed=3, progress=False)
    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "pairs.json"):
        assert (again / name).read_bytes() == (pages / name).read_bytes(), name
    other = dataset.parent / "pages_seed4"
    make_pairs(dataset, other, seed=4, progress=False)
    assert ids_of(read_pairs(other / "test.jsonl")) != ids_of(read_pairs(pages / "test.jsonl"))


def test_pairs_per_sample(dataset, tmp_path):
    summary = make_pairs(dataset, tmp_path / "two", pairs_per_sample=2, progress=False)
    rows = [r for split in all_rows(tmp_path / "two").values() for r in split]
    assert len(rows) == 2 * NUM_DOCS == sum(summary.pairs.values())
    assert {r["task"] for r in rows} == {"full", "vendor"}
    for bad in (0, 6):
        with pytest.raises(PairsError, match="pairs per sample"):
            make_pairs(dataset, tmp_path / f"bad{bad}", pairs_per_sample=bad, progress=False)
        assert not (tmp_path / f"bad{bad}").exists()


# -- the output directory --------------------------------------------------------------------
def test_identical_rerun_is_left_as_is(dataset, pages):
    before = {p.name: p.stat().st_mtime_ns for p in pages.iterdir()}
    summary = make_pairs(dataset, pages, seed=3, progress=False)
    assert not summary.made and summary.pairs == {"train": 120, "val": 15, "test": 15}
    assert {p.name: p.stat().st_mtime_ns for p in pages.iterdir()} == before


def test_refuses_a_non_empty_output(dataset, pages, tmp_path):
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(PairsError, match="not empty"):
        make_pairs(dataset, stray, progress=False)
    assert [p.name for p in stray.iterdir()] == ["notes.txt"]
    with pytest.raises(PairsError, match="another run.*seed: existing 3 != requested 5"):
        make_pairs(dataset, pages, seed=5, progress=False)
    with pytest.raises(PairsError, match="mode"):
        make_pairs(dataset, pages, seed=3, mode="crops", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert make_pairs(dataset, empty, progress=False).made  # an empty directory is fine
    assert (empty / "pairs.json").is_file()


def test_a_failed_run_leaves_nothing(dataset, tmp_path, monkeypatch):
    from ocrlab.synth import pairs

    real, calls = pairs._read_ground_truth, []

    def failing(path):
        calls.append(path)
        if len(calls) == 10:
            raise RuntimeError("disk on fire")
        return real(path)

    monkeypatch.setattr(pairs, "_read_ground_truth", failing)
    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(RuntimeError, match="disk on fire"):
        make_pairs(dataset, out, mode="crops", progress=False)
    assert list(tmp_path.iterdir()) == []  # no output, temp dir or parent it created


def test_a_killed_run_leaves_no_output_and_its_temp_dir_goes_next_time(dataset, tmp_path):
    out = tmp_path / "out"
    script = f"""
import os, signal
import ocrlab.synth.pairs as pairs
real, calls = pairs._read_ground_truth, []
def killing(path):
    calls.append(path)
    if len(calls) == 10:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(path)
pairs._read_ground_truth = killing
pairs.make_pairs({str(dataset)!r}, {str(out)!r}, mode="crops", progress=False)
"""
    proc = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert not out.exists()
    leftovers = list(tmp_path.glob(".out.pairs-*.tmp"))
    assert len(leftovers) == 1 and any((leftovers[0] / "crops").iterdir())  # it had written crops
    assert make_pairs(dataset, out, mode="crops", progress=False).made
    assert not list(tmp_path.glob(".out.pairs-*.tmp"))
    assert sum(len(r) for r in all_rows(out).values()) > 0


# -- bad input -------------------------------------------------------------------------------
def test_missing_or_foreign_dataset(tmp_path):
    with pytest.raises(PairsError, match="does not exist"):
        make_pairs(tmp_path / "nowhere", tmp_path / "out", progress=False)
    (tmp_path / "other").mkdir()
    with pytest.raises(PairsError, match="not an invoice dataset: expected ground_truth"):
        make_pairs(tmp_path / "other", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_interrupted_dataset_is_refused(dataset, tmp_path):
    root = copy_docs(dataset, tmp_path / "ds")
    info = json.loads((dataset / "dataset.json").read_text(encoding="utf-8"))
    (root / "dataset.json").write_text(json.dumps({**info, "complete": False}))
    shutil.copy(dataset / "manifest.jsonl", root)
    with pytest.raises(PairsError, match="interrupted"):
        make_pairs(root, tmp_path / "out", progress=False)


@pytest.mark.parametrize(
    "mode, edit, message",
    [
        ("pages", None, "not a valid ground-truth JSON file"),
        ("pages", lambda gt: gt.pop("vendor"), "task 'full' needs field 'vendor', which is missing"),
        ("pages", lambda gt: gt["client"].pop("tax_id"), "needs field client.'tax_id', which is missing"),
        ("pages", lambda gt: gt["line_items"][0].pop("amount"), r"line_items\.0\.'amount'"),
        ("pages", lambda gt: gt["pages"].append({"image": "images/gone_p9.jpg"}), "page image .*gone_p9.jpg does not exist"),
        ("crops", lambda gt: gt.pop("regions"), r"crops mode needs ground-truth field\(s\) \['regions'\]"),
        ("crops", lambda gt: gt["regions"][0].update(page=7), r"regions\[0\] is not \{block, page"),
    ],
)
def test_bad_ground_truth_names_the_file(dataset, tmp_path, mode, edit, message):
    root = copy_docs(dataset, tmp_path / "ds")
    if edit is None:
        path = sorted((root / "ground_truth").glob("*.json"))[1]
        path.write_text('{"id": "trunc', encoding="utf-8")
    else:
        path = edit_gt(root, edit)
    with pytest.raises(PairsError, match=message) as info:
        make_pairs(root, tmp_path / "out", mode=mode, progress=False)
    assert str(path) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # nothing written


def test_an_id_that_image_names_cannot_carry(dataset, tmp_path):
    root = copy_docs(dataset, tmp_path / "ds")
    path = min((root / "ground_truth").glob("*.json"))
    path.rename(path.with_name("shop_pay_1.json"))
    with pytest.raises(PairsError, match="'shop_pay_1' contains '_p'"):
        make_pairs(root, tmp_path / "out", progress=False)


# -- prompts ---------------------------------------------------------------------------------
def test_shipped_prompts():
    assert list(load_prompts(None, "pages")) == list(TASKS)
    assert load_prompts(None, "crops") == {"text": "OCR:", "table": "Table Recognition:"}


def test_user_prompts(dataset, tmp_path):
    path = tmp_path / "prompts.yaml"
    path.write_text("pages:\n" + "".join(f"  {t}: Read the {t}.\n" for t in TASKS), encoding="utf-8")
    make_pairs(dataset, tmp_path / "out", prompts=path, progress=False)
    for row in read_pairs(tmp_path / "out" / "val.jsonl"):
        assert row["messages"][0]["content"].endswith(f">Read the {row['task']}.")
    with pytest.raises(PairsError, match=r"section 'crops' has no prompt for \['text', 'table'\]"):
        make_pairs(dataset, tmp_path / "crops", mode="crops", prompts=path, progress=False)
    path.write_text("pages:\n  full: A\n  vendor: B\n", encoding="utf-8")
    with pytest.raises(PairsError, match=r"prompts.yaml: section 'pages' has no prompt for \['client', 'line_items'"):
        make_pairs(dataset, tmp_path / "out2", prompts=path, progress=False)
    path.write_text("pages:\n" + "".join(f"  {t}: x\n" for t in (*TASKS, "totals")), encoding="utf-8")
    with pytest.raises(PairsError, match=r"unknown pages name\(s\) \['totals'\]"):
        make_pairs(dataset, tmp_path / "out3", prompts=path, progress=False)
    with pytest.raises(PairsError, match="does not exist"):
        make_pairs(dataset, tmp_path / "out4", prompts=tmp_path / "nope.yaml", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "prompts.yaml"]


# -- crops mode ------------------------------------------------------------------------------
def test_crops_are_the_regions(crops, gts):
    rows = [r for split in all_rows(crops).values() for r in split]
    manifest = json.loads((crops / "pairs.json").read_text(encoding="utf-8"))
    skipped = manifest["counts"]["skipped_regions"]
    assert len(rows) + sum(skipped.values()) == sum(len(gt["regions"]) for gt in gts.values())
    for row in rows:
        gt = gts[row["id"]]
        (image,) = row["images"]
        name = Path(image).name
        assert name == f"{row['id']}_p{row['page'] + 1}_{row['block']}.png"
        assert name.split("_p")[0] == row["id"]
        region = next(r for r in gt["regions"] if r["block"] == row["block"] and r["page"] == row["page"])
        page = gt["pages"][row["page"]]
        x0, y0, x1, y1 = pixel_box(region["box"], page["width"], page["height"])
        assert row["box"] == [x0, y0, x1, y1]
        with Image.open(image) as crop:
            assert crop.size == (x1 - x0, y1 - y0)
        bx0, by0, bx1, by1 = region["box"]
        assert abs((x1 - x0) - (bx1 - bx0)) < 2 and abs((y1 - y0) - (by1 - by0)) < 2
        assert row["task"] == row["block"] and row["messages"][1]["content"].strip()


def test_crops_pixels_come_from_the_page(crops, dataset, gts):
    row = read_pairs(crops / "train.jsonl")[0]
    gt = gts[row["id"]]
    with Image.open(dataset / gt["pages"][row["page"]]["image"]) as page, Image.open(row["images"][0]) as crop:
        assert list(page.crop(tuple(row["box"])).getdata()) == list(crop.getdata())


def test_crops_split_like_pages(crops, pages):
    for split in SPLITS:
        assert ids_of(read_pairs(crops / f"{split}.jsonl")) == ids_of(read_pairs(pages / f"{split}.jsonl"))


def test_crop_table_answers_are_the_table_html(crops, gts):
    tables = [r for split in all_rows(crops).values() for r in split if r["block"] == "table"]
    seen_split = False
    for doc_id in {r["id"] for r in tables}:
        gt = gts[doc_id]
        doc_tables = sorted((r for r in tables if r["id"] == doc_id), key=lambda r: r["page"])
        if gt["rendering"]["layout"] == "receipt":  # items printed as lines: OCR text
            (row,) = doc_tables
            assert row["messages"][0]["content"] == "<image>OCR:"
            text = " ".join(row["messages"][1]["content"].split())
            assert " ".join(gt["line_items"][0]["description"].split()) in text
            continue
        assert all(r["messages"][0]["content"] == "<image>Table Recognition:" for r in doc_tables)
        answers = [r["messages"][1]["content"] for r in doc_tables]
        if len(answers) == 1:
            assert answers[0] == gt["table_html"]
        else:  # one table per page: the header repeated, the rows in order
            seen_split = True
            head = gt["table_html"].split("<tbody>")[0]
            assert all(a.startswith(head + "<tbody>") for a in answers)
            body = "".join(re.search("<tbody>(.*)</tbody>", a).group(1) for a in answers)
            assert f"{head}<tbody>{body}</tbody></table>" == gt["table_html"]
            assert all("<tr>" in a.split("<tbody>")[1] for a in answers)
    assert seen_split


def test_crop_text_answers(crops, gts):
    rows = [r for split in all_rows(crops).values() for r in split]
    for row in rows:
        gt, text = gts[row["id"]], row["messages"][1]["content"]
        flat = " ".join(text.split())
        if row["block"] == "vendor":
            assert " ".join(gt["vendor"]["name"].split()) in flat
            assert text.count("\n") >= 2  # lines kept
        if row["block"] == "footer" and gt["payment_terms"]:
            assert " ".join(gt["payment_terms"].split()) in flat
        if row["block"] == "summary" and "stamp" in gt["hard_kinds"]:
            stamp = next(w["text"] for w in gt["words"] if w["field"] == "stamp")
            assert stamp not in text.split()  # the rubber stamp is not the block's text


def test_degenerate_regions_are_skipped(dataset, tmp_path):
    root = copy_docs(dataset, tmp_path / "ds")
    edit_gt(root, lambda gt: gt["regions"].append({"block": "footer", "page": 0, "box": [10, 10, 12.5, 40]}))
    summary = make_pairs(root, tmp_path / "out", mode="crops", progress=False)
    assert summary.skipped_regions["degenerate"] == 1
    manifest = json.loads((tmp_path / "out" / "pairs.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["skipped_regions"]["degenerate"] == 1


def test_crops_otsl_converts_back(dataset, tmp_path, gts):
    otsl = pytest.importorskip("ocrlab.text.otsl")
    out = tmp_path / "otsl"
    make_pairs(dataset, out, mode="crops", table_format="otsl", seed=3, progress=False)
    tables = [r for s in all_rows(out).values() for r in s if r["block"] == "table" and r["layout"] != "receipt"]
    assert tables
    for row in tables:
        answer = row["messages"][1]["content"]
        assert not answer.startswith("<table>")
        html = page_table_html(gts[row["id"]], row["page"])
        assert answer == otsl.html_to_otsl(html)
        # OTSL has no header markup: back in the canonical form (td cells, no thead/tbody)
        assert otsl.otsl_to_html(answer) == otsl.canonical_html(html)


# -- the reader ------------------------------------------------------------------------------
GOOD = {"id": "invoice_000001", "task": "full", "images": ["a_p1.jpg"],
        "messages": [{"role": "user", "content": "<image>Read."}, {"role": "assistant", "content": "{}"}]}


def _with(**changes) -> dict:
    return {**json.loads(json.dumps(GOOD)), **changes}


@pytest.mark.parametrize(
    "row, message",
    [
        ("{not json", "not valid JSON"),
        (_with(images=[]), "a pairs row without images"),
        (_with(images=["gone_p1.jpg"]), "image gone_p1.jpg does not exist"),
        (_with(messages=[GOOD["messages"][0]]), "a pairs row without an assistant message"),
        (_with(messages=[GOOD["messages"][1]]), "a pairs row without a user message"),
        (_with(messages=[GOOD["messages"][0], GOOD["messages"][0], GOOD["messages"][1]]),
         "a pairs row with more than one a user message|more than one"),
        (_with(messages=[GOOD["messages"][0], {"role": "assistant", "content": "  "}]), "empty assistant message"),
        (_with(messages=[{"role": "user", "content": "Read."}, GOOD["messages"][1]]), "0 <image> for 1 images"),
        (_with(images=["a_p1.jpg", "a_p1.jpg"]), "1 <image> for 2 images"),
    ],
)
def test_read_pairs_names_file_line_and_problem(tmp_path, row, message):
    (tmp_path / "a_p1.jpg").write_bytes(b"")
    path = tmp_path / "train.jsonl"
    bad = row if isinstance(row, str) else json.dumps(row)
    path.write_text(json.dumps(GOOD) + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(PairsError, match=message) as info:
        read_pairs(path)
    assert f"{path}, line 2: " in str(info.value)
    path.write_text(json.dumps(GOOD) + "\n\n", encoding="utf-8")
    (row_read,) = read_pairs(path)
    assert row_read["images"] == [str(tmp_path / "a_p1.jpg")]


# -- command line ----------------------------------------------------------------------------
def test_cli(dataset, tmp_path, capsys):
    out = tmp_path / "cli"
    assert synth_main(["pairs", "--dataset", str(dataset), "--output", str(out), "--pairs-per-sample", "3",
                       "--seed", "3", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{out}: 90 pairs: train 72 (24 docs), val 9 (3 docs), test 9 (3 docs)"
    )
    crops = tmp_path / "cli_crops"
    assert synth_main(["pairs", "--dataset", str(dataset), "--output", str(crops), "--mode", "crops",
                       "--pairs-per-sample", "5", "--table-format", "html", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "--pairs-per-sample applies to --mode pages only" in captured.err
    assert re.fullmatch(rf"{re.escape(str(crops))}: \d+ pairs: train \d+ \(24 docs\), .*\n", captured.out)
    with pytest.raises(SystemExit) as exit_info:
        synth_main(["pairs", "--dataset", str(dataset), "--output", str(tmp_path / "x"), "--split", "0.5", "0.2", "0.2"])
    assert exit_info.value.code == 2
    assert "summing to 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        synth_main(["pairs", "--dataset", str(tmp_path / "none"), "--output", str(tmp_path / "x")])
    assert "ocrlab-synth pairs: error: dataset dir" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
