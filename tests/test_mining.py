"""Hard-sample mining (ocrlab.families.paddleocr_vl.mining) on hand-made predictions for a tiny generated dataset."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ocrlab.families.paddleocr_vl.extraction import ExtractionScorer, task_answer
from ocrlab.families.paddleocr_vl.mining import (
    FIELD_BLOCKS,
    FIELD_WEIGHT_TOTAL,
    UnknownDocumentsError,
    analyse,
    analyse_records,
    error_patterns,
    ground_truth_dir,
    main,
    plan_field_key,
    read_predictions,
    score_predictions,
    summary_lines,
    synthesis_plan,
    write_analysis,
)
from ocrlab.synth.invoices.schema import DOCUMENT_TYPES, PLAN_NAMES, REGION_BLOCKS
from ocrlab.synth.plan import load_plan, parse_plan


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Three plain documents (no hard kinds) in two locales."""
    from ocrlab.synth.dataset import write_dataset
    from ocrlab.synth.invoices import InvoiceGenerator

    out = tmp_path_factory.mktemp("mining") / "docs"
    write_dataset(InvoiceGenerator(seed=8, hard_ratio=0.0, dpi=40, locales=["en_US", "de_DE"]), out, 3, progress=False)
    return out


@pytest.fixture(scope="module")
def truths(dataset) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted((dataset / "ground_truth").glob("*.json"))}


@pytest.fixture(scope="module")
def predictions(truths) -> list[dict]:
    """Document 0: one error (notes); 1: three (an item's description and amount, the total);
    2: three (vendor name, issue date, number)."""
    (a, ta), (b, tb), (c, tc) = truths.items()
    pa, pb, pc = (copy.deepcopy(task_answer(t, "full")) for t in (ta, tb, tc))
    pa["notes"] = "not on the page"
    pb["line_items"][0]["description"] = "misread"
    pb["line_items"][0]["amount"] = "0.01"
    pb["total"] = "1.00"
    pc["vendor"]["name"] = "Someone Else"
    pc["issue_date"] = "1999-01-01"
    pc["number"] = "X-0"
    return [{"id": a, "prediction": json.dumps(pa)},
            {"id": b, "prediction": "```json\n" + json.dumps(pb) + "\n```", "task": "full"},
            {"id": c, "prediction": json.dumps(pc)}]


@pytest.fixture(scope="module")
def records(dataset, predictions) -> list[dict]:
    return score_predictions(predictions, dataset)


def expected_plan(truths: dict[str, dict], hard: set[str]) -> dict:
    """The plan the module docstring's rules give, worked out here from the documents."""
    fields = {"line_items.description": 1, "line_items.amount": 1, "total": 1, "vendor.name": 1,
              "dates.issue_date": 1, "number": 1}

    def weights(section: str, key: str) -> dict[str, float]:
        out = {}
        for name in PLAN_NAMES[section]:
            docs = [i for i, t in truths.items() if t[key] == name]
            out[name] = round(1 + 2 * (sum(i in hard for i in docs) / len(docs) if docs else 0.0), 3)
        return out

    return {"version": 1, "hard_ratio": 0.1,  # no hard document has a hard kind: the lower clamp
            "fields": {k: round(FIELD_WEIGHT_TOTAL * n / 6, 3) for k, n in fields.items()},
            "locales": weights("locales", "locale"), "document_types": weights("document_types", "document_type")}


def test_plan_field_keys_use_the_plan_schema():
    assert plan_field_key("vendor.name") == "vendor.name"
    assert plan_field_key("line_items.3.amount") == "line_items.amount"
    assert plan_field_key("issue_date") == "dates.issue_date"
    assert plan_field_key("shipping") == "amounts.shipping"
    assert plan_field_key("taxes.1.rate") == "taxes.rate"
    assert plan_field_key("total") == "total"
    assert plan_field_key("notes") is None and plan_field_key("currency") is None
    # paths the ground truth lacks (hallucinated keys) count for their nearest valid plan key
    assert plan_field_key("vendor.website") == "vendor" and plan_field_key("line_items.2.sku") == "line_items"
    assert plan_field_key("total.value") == "total" and plan_field_key("discounts.0.rate") == "discounts"
    parse_plan({"fields": dict.fromkeys(["vendor.name", "line_items.amount", "dates.issue_date", "amounts.shipping",
                                          "taxes.rate", "total", "number"], 1.0)})
    assert set(FIELD_BLOCKS.values()) <= set(REGION_BLOCKS)


def test_mined_plan_counts_hallucinated_fields_for_their_group(dataset, truths):
    """Keys the ground truth lacks are errors, but the plan names only sub-fields it has (the
    plan's check would refuse ``vendor.website``): they count for their group."""
    (a, ta), (b, tb), (c, tc) = truths.items()
    pa = copy.deepcopy(task_answer(ta, "full"))
    pa["vendor"]["website"] = "www.example.com"
    pa["line_items"][0]["sku"] = "SKU-1"
    pa["total"] = {"value": "1.00"}
    rows = [{"id": i, "prediction": json.dumps(p)}
            for i, p in ((a, pa), (b, task_answer(tb, "full")), (c, task_answer(tc, "full")))]
    analysis = analyse(rows, dataset)
    assert analysis["hard_samples"][0]["fields"] == ["line_items.0.sku", "total", "total.value", "vendor.website"]
    plan = analysis["synthesis_plan"]
    assert plan["fields"] == {"line_items": 1.0, "total": 2.0, "vendor": 1.0}
    assert parse_plan(plan).to_dict() == plan


def test_analyse_predictions_finds_the_hard_documents_and_their_plan(dataset, truths, predictions):
    analysis = analyse(predictions, dataset)
    _, b, c = truths
    assert [s["id"] for s in analysis["hard_samples"]] == sorted([b, c])
    hard = {s["id"]: s for s in analysis["hard_samples"]}
    assert hard[b]["n_errors"] == 3 and hard[b]["fields"] == ["line_items.0.amount", "line_items.0.description",
                                                               "total"]
    assert hard[b]["groups"] == ["line_items", "total"]
    assert hard[c]["fields"] == ["issue_date", "number", "vendor.name"]
    assert (hard[c]["locale"], hard[c]["currency"], hard[c]["hard_kinds"]) == (
        truths[c]["locale"], truths[c]["currency"], [])
    assert analysis["synthesis_plan"] == expected_plan(truths, {b, c})
    summary = analysis["summary"]
    assert (summary["documents"], summary["hard_documents"], summary["min_errors"]) == (3, 2, 3)
    assert summary["mean_errors"] == pytest.approx(7 / 3)
    assert summary["metrics"]["json_valid_rate"] == 1.0

    patterns = analysis["error_patterns"]
    assert patterns["by_block"]["table"] == {"errors": 2, "documents": 1, "hard_documents": 1}
    assert patterns["by_block"]["meta"] == {"errors": 2, "documents": 1, "hard_documents": 1}
    assert patterns["by_block"]["footer"] == {"errors": 1, "documents": 1, "hard_documents": 0}
    assert patterns["by_group"]["line_items"]["errors"] == 2 and "notes" not in patterns["by_group"]
    assert patterns["by_field"]["notes"]["documents"] == 1
    assert patterns["by_hard_kind"] == {"none": {"documents": 3, "hard": 2, "hard_rate": 2 / 3,
                                                 "mean_errors": 7 / 3}}
    assert sum(v["documents"] for v in patterns["by_locale"].values()) == 3
    assert set(patterns["by_document_type"]) <= set(DOCUMENT_TYPES)


def test_min_errors_sets_the_threshold(records):
    assert len(analyse_records(records, min_errors=1)["hard_samples"]) == 3
    none = analyse_records(records, min_errors=4)
    assert none["hard_samples"] == [] and none["synthesis_plan"] == {"version": 1}
    with pytest.raises(ValueError, match="min_errors"):
        analyse_records(records, min_errors=0)
    with pytest.raises(ValueError, match="no scored answers"):
        analyse_records([])


def test_records_from_a_validation_epoch_give_the_same_analysis(dataset, truths, predictions, records):
    scorer = ExtractionScorer()
    for row in predictions:
        scorer.add(row["id"], row["prediction"], truths[row["id"]])
    gathered = json.loads(json.dumps(scorer.records))  # as gathered from the ranks
    assert records == scorer.records
    assert analyse_records(gathered) == analyse(predictions, dataset) == analyse(gathered)


def test_invalid_json_and_hard_kinds_weigh_in_the_plan(truths):
    (a, ta), (b, tb), (c, tc) = truths.items()
    scorer = ExtractionScorer(tables=False)
    scorer.add(a, "truncated {", ta, meta={"hard_kinds": ["stamp"]})
    scorer.add(b, json.dumps(task_answer(tb, "full")), tb, meta={"hard_kinds": ["stamp", "skew"]})
    scorer.add(c, json.dumps(task_answer(tc, "full")), tc)
    docs = scorer.documents()
    plan = synthesis_plan(docs, {a})
    assert plan["hard_ratio"] == 0.9  # the one hard document has a hard kind (upper clamp)
    assert plan["hard_kinds"] == {"stamp": round((1 / 2) / (1 / 3) - 1, 3)}  # skew: hard rate 0, not raised
    assert set(plan["fields"]) <= {plan_field_key(p) for p in docs[0]["errors"]} and "vendor.name" in plan["fields"]
    assert sum(plan["fields"].values()) == pytest.approx(FIELD_WEIGHT_TOTAL, abs=0.01)
    assert parse_plan(plan).to_dict() == plan
    patterns = error_patterns(docs, {a})
    assert patterns["by_hard_kind"]["stamp"] == {"documents": 2, "hard": 1, "hard_rate": 0.5,
                                                 "mean_errors": docs[0]["n_errors"] / 2}


def test_when_every_document_is_hard_the_kinds_are_ranked_by_their_errors(truths):
    (a, ta), (b, tb), (c, tc) = truths.items()
    scorer = ExtractionScorer(tables=False)
    scorer.add(a, "truncated {", ta, meta={"hard_kinds": ["stamp"]})  # every field wrong
    wrong = task_answer(tb, "full")
    wrong["number"], wrong["total"] = "X-0", -1.0
    wrong["vendor"] = {**wrong["vendor"], "name": "Nobody Ltd"}
    scorer.add(b, json.dumps(wrong), tb, meta={"hard_kinds": ["skew"]})  # 3 fields wrong
    scorer.add(c, "{}", tc)
    docs = scorer.documents()
    errors = {d["id"]: d["n_errors"] for d in docs}
    assert errors[b] == 3 < errors[a]
    mean = sum(errors.values()) / 3
    plan = synthesis_plan(docs, {a, b, c})  # hard share 1.0: hard rates are all equal
    assert plan["hard_kinds"] == {"stamp": round(errors[a] / mean - 1, 3)}  # skew: fewer errors than the mean
    assert parse_plan(plan).to_dict() == plan
    assert "hard_kinds" in synthesis_plan(docs, {a, c})  # 2 of 3 hard: the hard-rate rule, as above


def test_unknown_ids_are_listed_with_the_dataset(dataset, predictions):
    rows = predictions + [{"id": f"nope_{i:02d}", "prediction": "{}"} for i in range(11)]
    rows.append({"id": f"../{dataset.name}/ground_truth/{predictions[0]['id']}", "prediction": "{}"})
    with pytest.raises(UnknownDocumentsError, match=r"12 prediction id\(s\) have no ground truth") as info:
        analyse(rows, dataset)
    message = str(info.value)
    assert str(dataset / "ground_truth") in message and "../" in message and "nope_10" not in message
    assert "and 2 more" in message
    with pytest.raises(ValueError, match="need the dataset"):
        analyse(predictions)


def test_read_predictions_and_ground_truth_dir(tmp_path, dataset):
    good = tmp_path / "p.jsonl"
    good.write_text('{"id": "a", "prediction": "{}"}\n\n{"id": "b", "prediction": "x", "task": "vendor"}\n')
    assert [r["id"] for r in read_predictions(good)] == ["a", "b"]
    for text, message in (('{"id": "a"}\n', "line 1: expected an object"), ("nope\n", "line 1: not JSON"),
                          ('{"id": "a", "prediction": "", "task": "poem"}\n', "task 'poem'")):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_predictions(bad)
    assert ground_truth_dir(dataset) == ground_truth_dir(dataset / "ground_truth") == dataset / "ground_truth"
    with pytest.raises(FileNotFoundError):
        ground_truth_dir(tmp_path / "missing")


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_writes_the_analysis_and_prints_a_summary(tmp_path, dataset, truths, predictions, capsys):
    preds = _write_jsonl(tmp_path / "preds.jsonl", predictions)
    out, plan = tmp_path / "out" / "hard_samples_analysis.json", tmp_path / "plan.json"
    assert main(["--predictions", str(preds), "--dataset", str(dataset), "--output", str(out),
                 "--plan-output", str(plan)]) == 0
    printed = capsys.readouterr().out
    assert "3 answers of 3 documents" in printed and "2 hard documents (>= 3 field errors" in printed
    analysis = json.loads(out.read_text())
    assert analysis["synthesis_plan"] == json.loads(plan.read_text()) == expected_plan(truths, set(list(truths)[1:]))
    assert load_plan(plan).to_dict() == analysis["synthesis_plan"]
    assert summary_lines(analysis)[0] in printed
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, no temp file left


def test_cli_errors_are_one_line(tmp_path, dataset, predictions, capsys):
    preds = _write_jsonl(tmp_path / "preds.jsonl", [*predictions, {"id": "ghost", "prediction": "{}"}])
    assert main(["--predictions", str(preds), "--dataset", str(dataset), "--output", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ocrlab-mine: error: 1 prediction id(s)") and "ghost" in err
    assert not (tmp_path / "o.json").exists()
    empty = _write_jsonl(tmp_path / "empty.jsonl", [])
    assert main(["--predictions", str(empty), "--dataset", str(dataset), "--output", str(tmp_path / "o.json")]) == 2
    assert "no predictions" in capsys.readouterr().err


def test_write_analysis(tmp_path, records):
    analysis = analyse_records(records)
    path = write_analysis(analysis, tmp_path / "a.json", tmp_path / "p.json")
    assert json.loads(path.read_text()) == json.loads(json.dumps(analysis))
    assert json.loads((tmp_path / "p.json").read_text()) == analysis["synthesis_plan"]


@pytest.mark.slow
def test_mined_plan_is_accepted_by_the_generator(tmp_path, dataset, predictions):
    """ocrlab-mine, then ocrlab-synth invoices --plan <its plan> --extend, both as commands."""
    preds = _write_jsonl(tmp_path / "preds.jsonl", predictions)
    plan = tmp_path / "plan.json"
    mine = subprocess.run([sys.executable, "-m", "ocrlab.families.paddleocr_vl.mining", "--predictions", str(preds), "--dataset",
                           str(dataset), "--output", str(tmp_path / "analysis.json"), "--plan-output", str(plan)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert mine.returncode == 0, mine.stderr
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    synth = subprocess.run([sys.executable, "-m", "ocrlab.synth", "invoices", "--num-samples", "2", "--output-dir",
                            str(data), "--plan", str(plan), "--extend", "--seed", "1", "--dpi", "40", "--no-progress"],
                           capture_output=True, text=True, timeout=300, check=False)
    assert synth.returncode == 0, synth.stderr
    assert len(list((data / "ground_truth").glob("*.json"))) == 5
    spec = json.loads((data / "dataset.json").read_text())
    assert spec["parts"][-1]["spec"]["plan"] == json.loads(plan.read_text())
