"""Financial documents: schema, exact arithmetic, word boxes, hard samples, plans, CLI errors."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocrlab.synth.cli import main as synth_main
from ocrlab.synth.dataset import read_manifest, write_dataset
from ocrlab.synth.invoices import (
    CURRENCIES,
    GROUND_TRUTH_SCHEMA,
    LAYOUT_FAMILIES,
    LOCALES,
    InvoiceGenerator,
    make_content,
)
from ocrlab.synth.money import NBSP, NUMBER_STYLES, format_amount, parse_amount, quantize
from ocrlab.synth.plan import HARD_KINDS, PlanError, load_plan, parse_plan


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """60 documents, half of them hard, at a low dpi: every locale, type and layout appears."""
    out = tmp_path_factory.mktemp("invoices")
    write_dataset(InvoiceGenerator(seed=11, hard_ratio=0.5, dpi=72), out, 60, workers=2, progress=False)
    return out


def ground_truths(root: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((root / "ground_truth").glob("*.json"))]


# -- money -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, currency, style, expected",
    [
        ("1234.56", "USD", "en", "$1,234.56"),
        ("1234.56", "EUR", "de", "1.234,56 €"),
        ("1234.56", "EUR", "fr", f"1{NBSP}234,56 €"),
        ("12300", "JPY", "en", "¥12,300"),
        ("1234567.89", "INR", "in", "₹12,34,567.89"),
        ("1234.5", "CHF", "ch", "CHF 1'234.50"),
        ("-42.1", "GBP", "en", "-£42.10"),
        ("999.999", "THB", "code", "1,000.00 ฿"),
    ],
)
def test_format_amount(value, currency, style, expected):
    text = format_amount(Decimal(value), CURRENCIES[currency], NUMBER_STYLES[style])
    assert text == expected
    assert parse_amount(text, NUMBER_STYLES[style]) == quantize(Decimal(value), CURRENCIES[currency])


def test_quantize_rounds_half_up_to_the_minor_unit():
    assert quantize(Decimal("2.345"), CURRENCIES["EUR"]) == Decimal("2.35")
    assert quantize(Decimal("1234.5"), CURRENCIES["JPY"]) == Decimal(1235)


# -- content ---------------------------------------------------------------------------------
def test_arithmetic_is_exact_on_many_seeds():
    kinds_cycle = [[], ["discounts_multi_tax"], ["many_line_items", "uncommon_currency"], ["missing_optional_fields"]]
    for seed in range(240):
        rng = np.random.default_rng(seed)
        locale = list(LOCALES)[seed % len(LOCALES)]
        currency = LOCALES[locale].currency if seed % 5 else list(CURRENCIES)[seed % len(CURRENCIES)]
        doc_type = ("invoice", "receipt", "credit_note")[seed % 3]
        kinds = kinds_cycle[seed % 4]
        doc = make_content(rng, f"d{seed}", doc_type, locale, currency, kinds)
        minor = doc.currency.minor_unit
        assert sum(i.amount for i in doc.items) == doc.subtotal
        for item in doc.items:
            assert abs(item.quantity * item.unit_price - item.amount) <= minor / 2
            assert item.amount == item.amount.quantize(minor)
        discounts = sum((a for _, a in doc.discounts), Decimal(0))
        taxes = sum((a for _, a in doc.taxes), Decimal(0))
        assert 0 <= discounts < doc.subtotal or not doc.discounts
        assert doc.subtotal - discounts + taxes + (doc.shipping or 0) == doc.total
        if "many_line_items" in kinds:
            assert len(doc.items) >= 25
        if "discounts_multi_tax" in kinds and len(LOCALES[locale].tax_rates) > 1:
            assert doc.discounts


# -- generated dataset ----------------------------------------------------------------------
def test_every_ground_truth_matches_the_schema_and_its_files(dataset):
    import jsonschema

    validator = jsonschema.Draft202012Validator(GROUND_TRUTH_SCHEMA)
    docs = ground_truths(dataset)
    assert len(docs) == 60
    for doc in docs:
        errors = sorted(validator.iter_errors(doc), key=str)
        assert not errors, f"{doc['id']}: {errors[0].message} at {list(errors[0].absolute_path)}"
        for page in doc["pages"]:
            with Image.open(dataset / page["image"]) as image:
                assert image.size == (page["width"], page["height"])
        assert (dataset / doc["pdf"]).read_bytes().startswith(b"%PDF")
        blocks = {r["block"] for r in doc["regions"]}
        assert {"vendor", "table", "summary"} <= blocks, doc["id"]
        for word in doc["words"]:
            x0, y0, x1, y1 = word["box"]
            page = doc["pages"][word["page"]]
            assert 0 <= x0 <= x1 <= page["width"] and 0 <= y0 <= y1 <= page["height"]
        fields = {w["field"].split(".")[0] for w in doc["words"] if w["field"]}
        assert {"vendor", "line_items", "total", "number"} <= fields, doc["id"]
    assert {d["locale"] for d in docs} == set(LOCALES)
    assert {d["document_type"] for d in docs} == {"invoice", "receipt", "credit_note"}
    assert len({d["rendering"]["layout"] for d in docs}) >= 6


def test_table_html_lists_every_item_as_printed(dataset):
    from lxml import html as lxml_html

    for doc in ground_truths(dataset)[:20]:
        table = lxml_html.fromstring(doc["table_html"])
        rows = table.findall(".//tbody/tr")
        assert len(rows) == len(doc["line_items"])
        printed = {w["text"] for w in doc["words"] if w["field"] and w["field"].endswith(".amount")}
        for row, item in zip(rows, doc["line_items"]):
            cells = [c.text_content() for c in row.findall("td")]
            assert cells[0] == item["description"]
            assert cells[3].split(" ")[0] in printed or cells[3] in printed


def test_manifest_records_hard_kinds_and_checksums(dataset):
    records = read_manifest(dataset)
    assert len(records) == 60
    for record in records:
        doc = json.loads((dataset / f"ground_truth/{record['id']}.json").read_text(encoding="utf-8"))
        assert record["hard_kinds"] == doc["hard_kinds"]
        for rel, sha in record["files"].items():
            assert hashlib.sha256((dataset / rel).read_bytes()).hexdigest() == sha
    assert any(r["pages"] > 1 for r in records), "no document ran to a second page"


def _pdf_chars(pdf_bytes: bytes, page_index: int) -> list[tuple[str, tuple[float, float, float, float]]]:
    """pypdfium2's characters with loose boxes, converted to a top-left origin in points."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf_bytes)
    page = doc[page_index]
    height = page.get_height()
    text = page.get_textpage()
    chars = []
    for i in range(text.count_chars()):
        ch = text.get_text_range(i, 1)
        if not ch.strip():
            continue
        left, bottom, right, top = text.get_charbox(i, loose=True)
        chars.append((ch, (left, height - top, right, height - bottom)))
    text.close()
    page.close()
    doc.close()
    return chars


def test_word_boxes_match_pdfium_character_boxes_within_a_point():
    """Latin documents: each drawn word's box against the union of the PDF's own character
    boxes for that word (independent of our measuring): mean offset < 1 pt."""
    generator = InvoiceGenerator(seed=5, hard_ratio=0.0, dpi=72, locales=["en_US", "de_DE", "fr_FR", "en_GB"])
    offsets = []
    for index in range(6):
        sample = generator.sample(index)
        doc = json.loads(next(v for k, v in sample.files.items() if k.endswith(".json")))
        chars = _pdf_chars(sample.files[doc["pdf"]], 0)
        used = [False] * len(chars)
        cursor = 0
        for word in (w for w in doc["words"] if w["page"] == 0):
            text = word["text"].replace(NBSP, "")
            # The PDF lists characters in drawing order, as we list words: find this word next.
            for start in range(cursor, len(chars) - len(text) + 1):
                if "".join(c for c, _ in chars[start : start + len(text)]) == text and not used[start]:
                    boxes = [b for _, b in chars[start : start + len(text)]]
                    union = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
                    offsets.append(np.abs(np.array(union) - np.array(word["box"])).mean())
                    for k in range(start, start + len(text)):
                        used[k] = True
                    cursor = start + len(text)
                    break
    assert len(offsets) > 300
    assert float(np.mean(offsets)) < 1.0, f"mean offset {np.mean(offsets):.2f} pt"
    assert float(np.percentile(offsets, 95)) < 2.0


def test_thai_documents_have_ink_in_every_word_box():
    """Thai documents (Pillow RAQM path): every word box holds ink. (That ink stays inside the
    boxes is checked on text-only pages in test_synth_render.)"""
    generator = InvoiceGenerator(seed=2, hard_ratio=0.0, dpi=100, locales=["th_TH"], image_format="png")
    for index in range(3):
        sample = generator.sample(index)
        doc = json.loads(next(v for k, v in sample.files.items() if k.endswith(".json")))
        assert doc["rendering"]["backend"] == "raster"
        assert any("\u0e00" <= ch <= "\u0e7f" for w in doc["words"] for ch in w["text"])
        image = np.asarray(Image.open(io.BytesIO(sample.files[doc["pages"][0]["image"]])).convert("L"))
        for word in (w for w in doc["words"] if w["page"] == 0):
            x0, y0, x1, y1 = (round(v) for v in word["box"])
            assert (image[y0:y1, x0:x1] < 128).any(), f"no ink in the box of {word}"


def test_same_seed_same_bytes_across_worker_counts(tmp_path):
    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}

    for out, workers in (("a", 1), ("b", 2)):
        write_dataset(InvoiceGenerator(seed=4, hard_ratio=0.5, dpi=60), tmp_path / out, 8, workers=workers, progress=False)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    write_dataset(InvoiceGenerator(seed=5, hard_ratio=0.5, dpi=60), tmp_path / "c", 8, progress=False)
    assert digest(tmp_path / "c") != digest(tmp_path / "a")


# -- hard samples and plans -----------------------------------------------------------------
def attribute_stats(generator: InvoiceGenerator, n: int = 3000) -> tuple[float, Counter, Counter]:
    hard = 0
    kinds: Counter = Counter()
    locales: Counter = Counter()
    for index in range(n):
        attrs = generator.draw_attributes(np.random.default_rng([generator.seed, index]))
        hard += attrs["hard"]
        kinds.update(attrs["hard_kinds"])
        locales[attrs["locale"]] += 1
        assert bool(attrs["hard_kinds"]) == attrs["hard"]
    return hard / n, kinds, locales


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.35])
def test_hard_ratio_is_respected(ratio):
    observed, kinds, _ = attribute_stats(InvoiceGenerator(seed=1, hard_ratio=ratio))
    assert abs(observed - ratio) < 0.025
    if ratio:
        assert set(kinds) == set(HARD_KINDS)


def test_plan_shifts_the_distribution_as_specified():
    _, base_kinds, _ = attribute_stats(InvoiceGenerator(seed=1, hard_ratio=0.2))
    plan = parse_plan(
        {"hard_ratio": 0.5, "hard_kinds": {"stamp": 9.0}, "fields": {"taxes": 6.0}, "locales": {"th_TH": 3, "de_DE": 1}}
    )
    ratio, kinds, locales = attribute_stats(InvoiceGenerator(seed=1, hard_ratio=0.2, plan=plan))
    assert abs(ratio - 0.5) < 0.03  # the plan's hard_ratio wins over the option
    share = lambda c, k: c[k] / sum(c.values())
    assert share(kinds, "stamp") > 3 * share(base_kinds, "stamp")
    assert share(kinds, "discounts_multi_tax") > 2 * share(base_kinds, "discounts_multi_tax")  # via fields.taxes
    assert set(locales) == {"th_TH", "de_DE"}
    assert 0.7 < locales["th_TH"] / sum(locales.values()) < 0.8


@pytest.mark.parametrize(
    "plan, message",
    [
        ({"hard_kind": {}}, r"unknown key\(s\) \['hard_kind'\]; allowed keys"),
        ({"hard_kinds": {"blurry": 1}}, r"hard_kinds.blurry: unknown name; allowed values: \['many_line_items'"),
        ({"locales": {"xx_XX": 1}}, r"locales.xx_XX: unknown name; allowed values: \['en_US'"),
        ({"currencies": {"USD": -1}}, r"currencies.USD=-1: expected a non-negative number"),
        ({"hard_ratio": 1.5}, r"hard_ratio=1.5: expected a number in \[0, 1\]"),
        ({"fields": {"signature": 1}}, r"fields.signature: unknown field; allowed"),
        ({"layouts": {"classic": 0}}, r"layouts: every weight is 0"),
        ([1, 2], r"expected a JSON object"),
    ],
)
def test_invalid_plans_name_the_key_and_allowed_values(plan, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(plan)


def test_plan_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text("{not json")
    with pytest.raises(PlanError, match=r"plan.json: not valid JSON"):
        load_plan(bad)
    with pytest.raises(PlanError, match=r"missing.json: cannot read"):
        load_plan(tmp_path / "missing.json")


def test_plan_sub_fields_are_checked_against_the_ground_truth_schema(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"fields": {"vendor.name": 1.0, "vendor.no_such_field": 2.0}}))
    with pytest.raises(PlanError, match=r"plan file .*plan.json: fields.vendor.no_such_field: unknown sub-field.*"
                                        r"valid sub-fields of 'vendor': \['name', 'address', 'phone', 'email', 'tax_id'\]"):
        load_plan(plan)
    with pytest.raises(PlanError, match=r"fields.line_items.sku: .*\['description', 'quantity', 'unit_price', 'amount'"):
        parse_plan({"fields": {"line_items.sku": 1.0}})
    with pytest.raises(PlanError, match=r"fields.total.value: .*'total' has no sub-fields"):
        parse_plan({"fields": {"total.value": 1.0}})
    # every key path of the ground truth is a valid plan key, list indices left out
    valid = ["vendor", "vendor.tax_id", "client.email", "dates.issue_date", "dates.due_date", "number",
             "line_items.description", "line_items.tax_rate", "amounts.subtotal", "amounts.shipping", "taxes.rate",
             "taxes.amount", "discounts.description", "discounts.amount", "total"]
    assert sorted(parse_plan({"fields": dict.fromkeys(valid, 1.0)}).fields) == sorted(valid)


def test_skewed_documents_keep_boxes_on_their_words():
    """The skew kind rotates the page: boxes move with the pixels (ink stays inside them)."""
    plan = parse_plan({"hard_ratio": 1.0, "hard_kinds": {k: (100.0 if k == "skew" else 0.0) for k in HARD_KINDS}})
    generator = InvoiceGenerator(seed=9, dpi=100, plan=plan, locales=["en_US"], image_format="png")
    for index in range(6):
        sample = generator.sample(index)
        if "skew" in sample.record["hard_kinds"]:
            break
    else:
        pytest.fail("no skewed document drawn")
    doc = json.loads(next(v for k, v in sample.files.items() if k.endswith(".json")))
    image = np.asarray(Image.open(io.BytesIO(sample.files[doc["pages"][0]["image"]])).convert("L")) < 100
    inked = sum(image[int(w["box"][1]) : int(w["box"][3]) + 1, int(w["box"][0]) : int(w["box"][2]) + 1].any()
                for w in doc["words"] if w["page"] == 0)
    assert inked / sum(w["page"] == 0 for w in doc["words"]) > 0.98


# -- CLI --------------------------------------------------------------------------------------
def run_cli(*args: str) -> int:
    try:
        return synth_main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--locales", "en_US", "xx_YY"], r"unknown locale\(s\) \['xx_YY'\]; allowed values: \['en_US'"),
        (["--currencies", "BTC"], r"unknown currency\(ies\) \['BTC'\]; allowed values"),
        (["--num-samples", "0"], r"--num-samples 0: expected at least 1"),
    ],
)
def test_cli_rejects_bad_input_with_clear_errors(tmp_path, capsys, extra, message):
    args = ["invoices", "--num-samples", "2", "--output-dir", str(tmp_path / "d"), "--no-progress", *extra]
    assert run_cli(*args) == 2
    import re

    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "d").exists()


def test_cli_refuses_another_dataset_unless_extending(tmp_path, capsys):
    out = str(tmp_path / "d")
    common = ["--output-dir", out, "--no-progress", "--dpi", "50"]
    assert run_cli("invoices", "--num-samples", "2", "--seed", "1", *common) == 0
    assert run_cli("invoices", "--num-samples", "2", "--seed", "2", *common) == 2
    assert "holds another dataset" in capsys.readouterr().err
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"hard_ratio": 1.0, "hard_kinds": {"stamp": 5}}))
    assert run_cli("invoices", "--num-samples", "3", "--seed", "2", "--plan", str(plan), "--extend", *common) == 0
    records = read_manifest(out)
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4]
    assert all(r["hard_kinds"] for r in records[2:])
    assert run_cli("thai-lines", "--num-samples", "2", "--output-dir", out) == 2  # a different generator


def test_layout_families_all_render():
    for layout in LAYOUT_FAMILIES:
        doc_types = {"receipt": {"receipt": 1.0}}.get(layout, {"invoice": 1.0})
        g = InvoiceGenerator(seed=0, dpi=40, plan=parse_plan({"layouts": {layout: 1.0}, "document_types": doc_types}))
        sample = g.sample(0)
        assert sample.record["layout"] == layout


def only_kind(kind: str) -> InvoiceGenerator:
    plan = parse_plan({"hard_ratio": 1.0, "hard_kinds": {k: (1000.0 if k == kind else 0.0) for k in HARD_KINDS}})
    return InvoiceGenerator(seed=4, dpi=40, plan=plan, locales=["en_US", "de_DE", "th_TH", "ja_JP"])


@pytest.mark.parametrize(
    "kind, check",
    [
        ("many_line_items", lambda d: len(d["line_items"]) >= 25 and len(d["pages"]) >= 1),
        ("small_font", lambda d: d["rendering"]["font_size"] <= 7.0),
        ("stamp", lambda d: any(w["field"] == "stamp" for w in d["words"])),
        ("discounts_multi_tax", lambda d: len(d["discounts"]) >= 1),
        ("missing_optional_fields", lambda d: None in (d["vendor"]["phone"], d["vendor"]["email"], d["vendor"]["tax_id"],
                                                        d["client"]["phone"], d["client"]["email"], d["client"]["tax_id"])),
        ("uncommon_currency", lambda d: d["currency"] != LOCALES[d["locale"]].currency or "," in d["table_html"]),
        ("long_descriptions", lambda d: max(len(i["description"]) for i in d["line_items"]) > 45),
    ],
)
def test_each_hard_kind_leaves_its_mark(kind, check):
    generator = only_kind(kind)
    for index in range(3):
        sample = generator.sample(index)
        doc = json.loads(next(v for k, v in sample.files.items() if k.endswith(".json")))
        assert kind in doc["hard_kinds"] and doc["hard"]
        assert check(doc), f"{kind} not visible in {doc['id']}"


def test_killed_cli_run_resumes_to_the_uninterrupted_dataset(tmp_path):
    """SIGKILL the real CLI mid-run, run it again: the dataset equals an uninterrupted one and no
    temp file is left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "ocrlab.synth", "invoices", "--num-samples", "40", "--output-dir", str(out),
                "--seed", "13", "--dpi", "60", "--no-progress"]

    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    out = tmp_path / "cut"
    proc = subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not manifest.exists() or manifest.read_bytes().count(b"\n") < 5):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    listed = manifest.read_bytes().count(b"\n")
    assert 5 <= listed < 40, f"the run was not interrupted mid-way ({listed} listed)"
    subprocess.run(command(out), check=True, capture_output=True)
    subprocess.run(command(tmp_path / "full"), check=True, capture_output=True)
    assert digest(out) == digest(tmp_path / "full")
    assert not list(out.rglob("*.tmp"))
