"""Hard-sample mining: which documents the model gets wrong, why, and a plan to make more of them.

Input: scored answers (:class:`~ocrlab.families.paddleocr_vl.extraction.ExtractionScorer` records, e.g. from a
validation epoch: :func:`analyse_records`), or predictions (``{"id", "prediction", "task"?}``
rows, ``id`` = the ground-truth file's stem) and the dataset they were made on (:func:`analyse`).

* A document is **hard** when its answers have at least ``min_errors`` field errors (normalized
  mismatches, by key path, counted once over all its answers).
* **Error patterns**: errors by region block (:data:`FIELD_BLOCKS`, which block of the page a
  field is printed in), by field group (:data:`~ocrlab.synth.invoices.schema.FIELD_GROUPS`),
  by sub-field (``line_items.amount``), and the hard-document rate by hard kind (``none`` =
  documents without one), locale, currency, document type and layout.
* **Synthesis plan** (:mod:`ocrlab.synth.plan`, validated by its :func:`~ocrlab.synth.plan.parse_plan`):

  - ``fields``: plan keys (``line_items.description``, ``dates.issue_date``, ``total``: the
    group, then the sub-field when there is one) weighted by their share of the hard documents'
    errors, scaled so the weights sum to :data:`FIELD_WEIGHT_TOTAL`;
  - ``hard_kinds``: ``hard_rate(kind) / hard_rate(all) - 1`` where positive (how much more often
    documents of that kind are hard); when at least :data:`SATURATED_HARD_SHARE` of the documents
    are hard (an early, weak model: the hard rates no longer tell kinds apart),
    ``mean_errors(kind) / mean_errors(all) - 1`` instead (how many more errors they have);
  - ``hard_ratio``: the share of hard documents that carry a hard kind, clamped to [0.1, 0.9];
  - ``locales`` / ``document_types``: ``1 + 2 x hard_rate`` for every allowed name (1 where
    unseen), so none drops out of the draw.

  ``currencies`` and ``layouts`` are left out: a present ``currencies`` section mixes foreign
  currencies into every locale and a ``layouts`` one drops the receipt layout preference, so
  both would change far more than the errors ask for; their rates are in the error patterns,
  and ``uncommon_currency`` carries foreign-currency difficulty into ``hard_kinds``.

CLI: ``ocrlab-mine --predictions P --dataset D --output hard_samples_analysis.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ocrlab.families.paddleocr_vl.extraction import TASKS, ExtractionScorer
from ocrlab.families.paddleocr_vl.field_matching import field_group, subfield
from ocrlab.synth.invoices.schema import (
    CONTENT_FIELDS,
    FIELD_GROUPS,
    PLAN_NAMES,
    PLAN_SUBFIELDS,
    REGION_BLOCKS,
)
from ocrlab.synth.plan import parse_plan
from ocrlab.utils.io import atomic_write_json

# Content field -> the region block it is printed in (as the generator lays pages out).
# ``currency`` and ``locale`` are not printed in one place: they have no block.
FIELD_BLOCKS: dict[str, str] = {
    "document_type": "header", "number": "meta", "issue_date": "meta", "due_date": "meta",
    "vendor": "vendor", "client": "client", "line_items": "table", "subtotal": "summary",
    "discounts": "summary", "taxes": "summary", "shipping": "summary", "total": "summary",
    "payment_terms": "footer", "notes": "footer",
}
if not (set(FIELD_BLOCKS) <= set(CONTENT_FIELDS) and set(FIELD_BLOCKS.values()) <= set(REGION_BLOCKS)):
    raise ImportError("FIELD_BLOCKS names a field or block that ocrlab.synth.invoices.schema does not define")

FIELD_WEIGHT_TOTAL = 4.0
DEFAULT_MIN_ERRORS = 3
SATURATED_HARD_SHARE = 0.9


class UnknownDocumentsError(ValueError):
    """Predictions name documents the dataset does not have."""


def plan_field_key(path: str) -> str | None:
    """The synthesis-plan ``fields`` key of an error's key path (None: no field group).

    ``vendor.name`` -> ``vendor.name``; ``line_items.3.amount`` -> ``line_items.amount``;
    ``issue_date`` -> ``dates.issue_date``; ``total`` -> ``total``. A path the ground truth does
    not have (a hallucinated ``vendor.website``, ``line_items.0.sku``) counts for its longest
    prefix that a plan may name (``vendor``, ``line_items``): the plan accepts only
    :data:`~ocrlab.synth.invoices.schema.PLAN_SUBFIELDS`.
    """
    group = field_group(path)
    if group is None:
        return None
    sub = subfield(path)
    key = sub if sub.split(".")[0] == group else f"{group}.{sub}"
    while key != group and key not in PLAN_SUBFIELDS[group]:
        key = key.rsplit(".", 1)[0]
    return key


# -- inputs -------------------------------------------------------------------------------------------
def ground_truth_dir(dataset: str | Path) -> Path:
    """``dataset/ground_truth`` if it exists, else ``dataset`` itself (a folder of ``<id>.json``)."""
    root = Path(dataset)
    folder = root / "ground_truth" if (root / "ground_truth").is_dir() else root
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset {root}: no such directory")
    return folder


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a predictions JSONL file: each an object with ``id`` and ``prediction`` (text),
    optionally ``task`` (default ``full``)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise ValueError(f"{path}, line {n}: not JSON ({error})") from error
            valid = isinstance(row, dict) and isinstance(row.get("id"), str) and isinstance(row.get("prediction"), str)
            if not valid:
                raise ValueError(f"{path}, line {n}: expected an object with 'id' and 'prediction' strings")
            if row.get("task", "full") not in TASKS:
                raise ValueError(f"{path}, line {n}: task {row['task']!r} is not one of {list(TASKS)}")
            rows.append(row)
    return rows


def score_predictions(predictions: Iterable[Mapping[str, Any]], dataset: str | Path,
                      tables: bool = True) -> list[dict[str, Any]]:
    """Scorer records of prediction rows against ``dataset``'s ground truth (metadata from it)."""
    predictions = list(predictions)
    folder = ground_truth_dir(dataset)
    unknown = sorted({str(p["id"]) for p in predictions
                      if Path(str(p["id"])).name != str(p["id"]) or not (folder / f"{p['id']}.json").is_file()})
    if unknown:
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise UnknownDocumentsError(
            f"{len(unknown)} prediction id(s) have no ground truth in {folder}: {unknown[:10]}{more}"
        )
    scorer = ExtractionScorer(tables=tables)
    truths: dict[str, dict[str, Any]] = {}
    for p in predictions:
        doc_id = str(p["id"])
        if doc_id not in truths:
            truths[doc_id] = json.loads((folder / f"{doc_id}.json").read_text(encoding="utf-8"))
        scorer.add(doc_id, p["prediction"], truths[doc_id], p.get("task", "full"))
    return scorer.records


# -- analysis -----------------------------------------------------------------------------------------
def _rate_table(docs: Sequence[Mapping[str, Any]], hard: set[str], key) -> dict[str, dict[str, float]]:
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for d in docs:
        for name in key(d):
            groups[str(name)].append(d)
    return {name: {"documents": len(ds), "hard": sum(d["id"] in hard for d in ds),
                   "hard_rate": sum(d["id"] in hard for d in ds) / len(ds),
                   "mean_errors": sum(d["n_errors"] for d in ds) / len(ds)}
            for name, ds in sorted(groups.items())}


def _error_table(docs: Sequence[Mapping[str, Any]], hard: set[str], key) -> dict[str, dict[str, int]]:
    errors: Counter[str] = Counter()
    documents: defaultdict[str, set[str]] = defaultdict(set)
    for d in docs:
        for path in d["errors"]:
            name = key(path)
            if name is not None:
                errors[name] += 1
                documents[name].add(d["id"])
    return {name: {"errors": n, "documents": len(documents[name]), "hard_documents": len(documents[name] & hard)}
            for name, n in errors.most_common()}


def error_patterns(docs: Sequence[Mapping[str, Any]], hard: set[str]) -> dict[str, Any]:
    """Errors by block, group and sub-field; hard rates by hard kind, locale, currency, type, layout."""
    patterns: dict[str, Any] = {
        "by_block": _error_table(docs, hard, lambda p: FIELD_BLOCKS.get(p.split(".")[0])),
        "by_group": _error_table(docs, hard, field_group),
        "by_field": _error_table(docs, hard, subfield),
        "by_hard_kind": _rate_table(docs, hard, lambda d: d["hard_kinds"] or ["none"]),
    }
    for name, key in (("by_locale", "locale"), ("by_currency", "currency"), ("by_document_type", "document_type"),
                      ("by_layout", "layout")):
        patterns[name] = _rate_table(docs, hard, lambda d, k=key: [d[k]] if d.get(k) else [])
    return patterns


def synthesis_plan(docs: Sequence[Mapping[str, Any]], hard: set[str]) -> dict[str, Any]:
    """A plan for more documents like the hard ones (rules in the module docstring), validated
    by :func:`ocrlab.synth.plan.parse_plan`."""
    plan: dict[str, Any] = {"version": 1}
    hard_docs = [d for d in docs if d["id"] in hard]
    if hard_docs:
        keys = Counter(k for d in hard_docs for p in d["errors"] if (k := plan_field_key(p)) is not None)
        total = sum(keys.values())
        if total:
            fields = {k: round(FIELD_WEIGHT_TOTAL * n / total, 3) for k, n in sorted(keys.items())}
            plan["fields"] = {k: w for k, w in fields.items() if w > 0}
        base = len(hard_docs) / len(docs)
        kinds = _rate_table(docs, hard, lambda d: d["hard_kinds"])
        if base < SATURATED_HARD_SHARE:
            lifts = {k: round(v["hard_rate"] / base - 1, 3) for k, v in kinds.items()}
        else:  # (nearly) every document is hard: rank the kinds by their documents' error counts
            mean = sum(d["n_errors"] for d in docs) / len(docs)
            lifts = {k: round(v["mean_errors"] / mean - 1, 3) if mean else 0.0 for k, v in kinds.items()}
        if any(w > 0 for w in lifts.values()):
            plan["hard_kinds"] = {k: w for k, w in lifts.items() if w > 0}
        plan["hard_ratio"] = round(min(0.9, max(0.1, sum(bool(d["hard_kinds"]) for d in hard_docs) / len(hard_docs))), 3)
        for section, key in (("locales", "locale"), ("document_types", "document_type")):
            rates = _rate_table(docs, hard, lambda d, k=key: [d[k]] if d.get(k) else [])
            if rates:
                plan[section] = {name: round(1 + 2 * rates.get(name, {"hard_rate": 0.0})["hard_rate"], 3)
                                 for name in PLAN_NAMES[section]}
    return parse_plan(plan).to_dict()


def analyse_records(records: Iterable[Mapping[str, Any]], min_errors: int = DEFAULT_MIN_ERRORS) -> dict[str, Any]:
    """The analysis of scored answers (what a training callback calls after validation):
    ``{"summary", "hard_samples", "error_patterns", "synthesis_plan"}``."""
    if min_errors < 1:
        raise ValueError(f"min_errors={min_errors}: expected at least 1")
    scorer = ExtractionScorer.from_records(records)
    docs = scorer.documents()
    if not docs:
        raise ValueError("no scored answers to analyse")
    hard_docs = sorted((d for d in docs if d["n_errors"] >= min_errors), key=lambda d: (-d["n_errors"], d["id"]))
    hard = {d["id"] for d in hard_docs}
    patterns = error_patterns(docs, hard)
    hard_samples = [
        {"id": d["id"], "n_errors": d["n_errors"], "fields": sorted(d["errors"]),
         "groups": sorted({g for p in d["errors"] if (g := field_group(p))}, key=list(FIELD_GROUPS).index),
         "hard_kinds": d["hard_kinds"], "locale": d["locale"], "currency": d["currency"],
         "document_type": d["document_type"], "layout": d["layout"], "json_valid": d["json_valid"]}
        for d in hard_docs
    ]
    summary = {
        "documents": len(docs), "answers": len(scorer.unique_records()), "hard_documents": len(hard_docs),
        "hard_share": len(hard_docs) / len(docs), "min_errors": min_errors,
        "mean_errors": sum(d["n_errors"] for d in docs) / len(docs),
        "invalid_json_documents": sum(not d["json_valid"] for d in docs),
        "top_groups": list(patterns["by_group"])[:5], "metrics": scorer.compute(),
    }
    return {"summary": summary, "hard_samples": hard_samples, "error_patterns": patterns,
            "synthesis_plan": synthesis_plan(docs, hard)}


def analyse(records_or_predictions: Iterable[Mapping[str, Any]], ground_truth_dir: str | Path | None = None,
            min_errors: int = DEFAULT_MIN_ERRORS) -> dict[str, Any]:
    """:func:`analyse_records` of scorer records, or of prediction rows scored against the
    dataset at ``ground_truth_dir`` (the dataset root or its ``ground_truth`` folder)."""
    rows = list(records_or_predictions)
    if rows and all("errors" in r and "fields" in r for r in rows):
        return analyse_records(rows, min_errors)
    if ground_truth_dir is None:
        raise ValueError("predictions (rows without scores) need the dataset: pass ground_truth_dir")
    return analyse_records(score_predictions(rows, ground_truth_dir), min_errors)


def write_analysis(analysis: Mapping[str, Any], path: str | Path, plan_path: str | Path | None = None) -> Path:
    """Write the analysis (and optionally its plan alone, for ``ocrlab-synth --plan``) atomically."""
    if plan_path is not None:
        atomic_write_json(plan_path, analysis["synthesis_plan"])
    return atomic_write_json(path, analysis)


def summary_lines(analysis: Mapping[str, Any]) -> list[str]:
    """A few lines for the terminal: metrics, hard documents, the groups with most errors."""
    s, m = analysis["summary"], analysis["summary"]["metrics"]
    names = {"field_accuracy_normalized": "field accuracy (normalized)", "field_f1": "F1",
             "json_valid_rate": "JSON valid", "teds": "TEDS", "numeric_consistency": "numbers consistent"}
    scores = ", ".join(f"{label} {m[k]:.3f}" for k, label in names.items() if k in m)
    lines = [f"{s['answers']} answers of {s['documents']} documents: {scores}",
             f"{s['hard_documents']} hard documents (>= {s['min_errors']} field errors, {100 * s['hard_share']:.1f} %)"]
    groups = analysis["error_patterns"]["by_group"]
    if groups:
        lines.append("errors by field group: " + ", ".join(f"{g} {v['errors']}" for g, v in list(groups.items())[:5]))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ocrlab-mine",
        description="Score full-extraction predictions against a synthetic dataset, list the hard documents "
                    "(>= --min-errors field errors), their error patterns, and a synthesis plan for "
                    "`ocrlab-synth invoices --plan`.",
    )
    parser.add_argument("--predictions", required=True, help="JSONL: one {id, prediction[, task]} object a line")
    parser.add_argument("--dataset", required=True, help="the dataset directory (with ground_truth/)")
    parser.add_argument("--output", required=True, help="analysis JSON to write (e.g. hard_samples_analysis.json)")
    parser.add_argument("--min-errors", type=int, default=DEFAULT_MIN_ERRORS, help="field errors that make a "
                        f"document hard (default {DEFAULT_MIN_ERRORS})")
    parser.add_argument("--plan-output", help="also write the synthesis plan alone to this file")
    args = parser.parse_args(argv)
    try:
        rows = read_predictions(args.predictions)
        if not rows:
            raise ValueError(f"{args.predictions}: no predictions")
        analysis = analyse(rows, args.dataset, min_errors=args.min_errors)
    except (OSError, ValueError) as error:
        print(f"ocrlab-mine: error: {error}", file=sys.stderr)
        return 2
    path = write_analysis(analysis, args.output, args.plan_output)
    for line in summary_lines(analysis):
        print(line)
    print(f"analysis -> {path}" + (f", plan -> {args.plan_output}" if args.plan_output else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
