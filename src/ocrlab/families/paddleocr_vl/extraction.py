"""Metrics of JSON extraction from financial documents (the PaddleOCR-VL family's answers).

A model answers a task (:data:`TASK_FIELDS`: ``full``, ``vendor``, ``client``, ``line_items``,
``summary``; or ``table``, a table as OTSL/HTML) with generated text. Each answer is scored by:

* :func:`~ocrlab.families.paddleocr_vl.json_output.parse_json_output`: the first JSON object of the text
  (code fences and leading prose skipped). Nothing is repaired: truncated or invalid JSON, an
  array, duplicate keys or NaN make the answer invalid, a scored failure (every expected field
  wrong), never an exception.
* field accuracy over key paths (:mod:`ocrlab.families.paddleocr_vl.field_matching`; :func:`flatten`:
  ``vendor.name``, ``line_items.0.amount``), the union of the true paths and the predicted paths
  under the task's fields (a hallucinated line item is an error). ``exact``: same JSON value;
  ``normalized`` (:func:`values_match`): null, missing and blank agree, amounts and quantities
  compare as ``Decimal`` (through :func:`ocrlab.synth.money.parse_amount`, decimal separator
  inferred, currency signs ignored), dates as ISO (``2026-09-06`` or the locale's printed
  format), other text after :func:`~ocrlab.text.normalize.normalize_text` and case folding.
  Line items align by index. A field error is a normalized mismatch.
* Donut's ``JSONParseEvaluator`` (``donut/util.py``): micro P/R/F1 over flattened (key, value)
  pairs of the normalized trees (:func:`f1_counts`) and normalized tree-edit-distance accuracy
  (:func:`tree_accuracy`), with its node construction and costs; the tests check both against
  the reference code to 1e-9. Where ours differs: the tree edit distance is our own Zhang-Shasha
  (:func:`tree_edit_distance`; the reference calls ``zss.distance``, the same algorithm and the
  same integer, but ``zss`` builds every edit script as it goes: ~30 s on a 30-item invoice, 15x
  ours); its denominator, the distance from an empty tree, is the sum of the answer's insert
  costs (the number ``zss`` finds); leaf edit distances use ``rapidfuzz`` (the reference:
  ``nltk.edit_distance``, equal values); and on inputs the reference cannot score, F1 with no
  pair on either side is 1 and an answer that normalizes to nothing gives accuracy 1 if the
  prediction does too, else 0 (the reference divides by zero). These live in
  :mod:`ocrlab.metrics.json_tree`.
* :func:`~ocrlab.families.paddleocr_vl.numeric_consistency.validate_numbers`: ``quantity x unit_price =
  amount`` per line (half a minor unit: the generator rounds half-up), ``sum(line amounts) =
  subtotal`` and ``subtotal - discounts + taxes + shipping = total``, each sum within one minor
  unit of the currency per summed term (documents that round each printed amount stay
  consistent; the generator's are exact). Discounts count by their absolute value (some are
  printed negative).
* TEDS / TEDS-S (:mod:`ocrlab.metrics.tables`): of the ``table`` task's OTSL/HTML against the
  ground truth's ``table_html``, and for answers holding line items, of the items' table
  (:func:`line_items_table`, columns :data:`LINE_ITEM_FIELDS`) against the true items' table.

:class:`ExtractionScorer` collects one JSON-serializable record per answer (DDP: gather the
records, then :meth:`ExtractionScorer.from_records`); :meth:`~ExtractionScorer.compute` gives
flat metrics, ``overall_score = 0.6 field_accuracy_normalized + 0.2 teds + 0.2
numeric_consistency`` (weights renormalized over the parts that apply).
"""

from __future__ import annotations

import copy
import html
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ocrlab.families.paddleocr_vl.field_matching import compare_fields, field_group, subfield
from ocrlab.families.paddleocr_vl.json_output import parse_json_output
from ocrlab.families.paddleocr_vl.numeric_consistency import NUMERIC_CHECKS, validate_numbers
from ocrlab.metrics.json_tree import (  # noqa: F401  (re-exported: the Donut-style scores)
    Tree,
    donut_flatten,
    donut_normalize,
    donut_tree,
    f1_counts,
    f1_score,
    tree_accuracy,
    tree_edit_distance,
)
from ocrlab.metrics.tables import teds, teds_struct
from ocrlab.synth.invoices.schema import CONTENT_FIELDS, LINE_ITEM_FIELDS

TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "full": CONTENT_FIELDS,
    "vendor": ("vendor",),
    "client": ("client",),
    "line_items": ("line_items",),
    "summary": ("subtotal", "discounts", "taxes", "shipping", "total", "currency"),
}
TABLE_TASK = "table"
TASKS: tuple[str, ...] = (*TASK_FIELDS, TABLE_TASK)
NUMERIC_TASKS = ("full", "line_items", "summary")
OVERALL_WEIGHTS = {"field_accuracy_normalized": 0.6, "teds": 0.2, "numeric_consistency": 0.2}


# -- one answer -------------------------------------------------------------------------------------
def line_items_table(items: Any) -> str:
    """HTML table of line items, one row per item, columns :data:`LINE_ITEM_FIELDS`."""
    rows = []
    for item in items if isinstance(items, list) else []:
        values = [item.get(f) for f in LINE_ITEM_FIELDS] if isinstance(item, Mapping) else [item]
        cells = "".join(f"<td>{html.escape('' if v is None else str(v), quote=False)}</td>" for v in values)
        rows.append(f"<tr>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def task_answer(truth: Mapping[str, Any], task: str) -> dict[str, Any]:
    """The part of a ground truth a task's answer holds."""
    if task not in TASK_FIELDS:
        raise ValueError(f"unknown task {task!r}; JSON tasks: {list(TASK_FIELDS)} (or {TABLE_TASK!r})")
    missing = [f for f in TASK_FIELDS[task] if f not in truth]
    if missing:
        raise ValueError(f"the truth lacks field(s) {missing} of task {task!r}")
    return {f: copy.deepcopy(truth[f]) for f in TASK_FIELDS[task]}


META_KEYS = ("hard_kinds", "locale", "currency", "document_type", "layout")


def _meta(truth: Any, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The record's slicing keys (:data:`META_KEYS`: from ``meta``, else the ground truth), and
    any other ``meta`` entries under ``"meta"``."""
    source = truth if isinstance(truth, Mapping) else {}
    defaults = {**{k: source.get(k) for k in META_KEYS}, "layout": (source.get("rendering") or {}).get("layout")}
    meta = dict(meta or {})
    out = {k: meta.pop(k) if k in meta else defaults[k] for k in META_KEYS}
    out["hard_kinds"] = list(out["hard_kinds"] or [])
    out["meta"] = meta
    return out


def score_answer(doc_id: str, prediction: str, truth: Mapping[str, Any] | str, task: str = "full",
                 meta: Mapping[str, Any] | None = None, tables: bool = True) -> dict[str, Any]:
    """The record of one generated answer (plain JSON types), what the scorer aggregates.

    ``truth``: the document's ground truth (or the task's answer; for ``table``, its
    ``table_html`` or the table itself). ``meta`` (hard_kinds, locale, currency, ...) defaults to
    the truth's; other ``meta`` keys are kept under ``"meta"``. ``tables=False`` skips TEDS (APTED costs ~1 s for a 30-row table).
    """
    info = _meta(truth, meta)
    record: dict[str, Any] = {"id": str(doc_id), "task": task, **info, "prediction": prediction,
                              "json_valid": None, "json_error": None, "predicted": None, "fields": {}, "errors": {},
                              "n_errors": 0, "f1_counts": None, "tree_accuracy": None, "numeric": None,
                              "teds": None, "teds_struct": None}
    if task == TABLE_TASK:
        table = truth if isinstance(truth, str) else truth.get("table_html")
        if not isinstance(table, str):
            raise ValueError(f"task {TABLE_TASK!r} needs a table: a string or a truth with 'table_html'")
        record["truth"] = table
        record["teds"], record["teds_struct"] = teds(prediction, table), teds_struct(prediction, table)
        return record
    answer = task_answer(truth, task)  # type: ignore[arg-type]
    pred, error = parse_json_output(prediction)
    record.update(truth=answer, json_valid=pred is not None, json_error=error, predicted=pred)
    fields, errors = compare_fields(pred, answer, TASK_FIELDS[task], info["currency"], info["locale"])
    record.update(fields=fields, errors=errors, n_errors=len(errors))
    record["f1_counts"] = list(f1_counts(pred or {}, answer))
    record["tree_accuracy"] = tree_accuracy(pred or {}, answer)
    if task in NUMERIC_TASKS:
        record["numeric"] = (validate_numbers(pred, info["currency"]) if pred is not None
                             else {"checks": dict.fromkeys(NUMERIC_CHECKS), "consistent": False,
                                   "problems": [f"no JSON: {error}"]})
    if tables and "line_items" in answer:
        items = pred.get("line_items") if pred else None
        pred_table, true_table = line_items_table(items), line_items_table(answer["line_items"])
        record["teds"], record["teds_struct"] = teds(pred_table, true_table), teds_struct(pred_table, true_table)
    return record


# -- aggregation ------------------------------------------------------------------------------------
def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Flat metrics of records (see :meth:`ExtractionScorer.compute`)."""
    json_records = [r for r in records if r["task"] != TABLE_TASK]
    out: dict[str, float | None] = {"n_answers": len(records), "n_documents": len({r["id"] for r in records})}
    pairs = [v for r in json_records for v in r["fields"].values()]
    if pairs:
        out["field_accuracy"] = sum(e for e, _ in pairs) / len(pairs)
        out["field_accuracy_normalized"] = sum(n for _, n in pairs) / len(pairs)
    if json_records:
        tp, fp, fn = (sum(r["f1_counts"][i] for r in json_records) for i in range(3))
        out["field_precision"] = tp / (tp + fp) if tp + fp else 0.0
        out["field_recall"] = tp / (tp + fn) if tp + fn else 0.0
        out["field_f1"] = f1_score(tp, fp, fn)
        out["json_tree_accuracy"] = _mean([r["tree_accuracy"] for r in json_records])
        out["json_valid_rate"] = _mean([float(r["json_valid"]) for r in json_records])
        out["mean_errors"] = _mean([r["n_errors"] for r in json_records])
    out["teds"] = _mean([r["teds"] for r in records if r["teds"] is not None])
    out["teds_struct"] = _mean([r["teds_struct"] for r in records if r["teds_struct"] is not None])
    consistent: dict[str, bool] = {}
    for r in records:
        if r["numeric"] is not None and r["numeric"]["consistent"] is not None:
            consistent[r["id"]] = consistent.get(r["id"], True) and bool(r["numeric"]["consistent"])
    out["numeric_consistency"] = _mean([float(v) for v in consistent.values()])
    parts = {k: out[k] for k in OVERALL_WEIGHTS if out.get(k) is not None}
    if parts:
        weight = sum(OVERALL_WEIGHTS[k] for k in parts)
        out["overall_score"] = sum(OVERALL_WEIGHTS[k] * v for k, v in parts.items()) / weight  # type: ignore[operator]
    return {k: v for k, v in out.items() if v is not None}  # type: ignore[misc]


def _field_table(records: Iterable[Mapping[str, Any]], key) -> dict[str, dict[str, float]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in records:
        for path, (exact, normalized) in r["fields"].items():
            name = key(path)
            if name is not None:
                c = counts[name]
                c[0], c[1], c[2] = c[0] + 1, c[1] + int(exact), c[2] + int(normalized)
    return {name: {"n": n, "accuracy": e / n, "accuracy_normalized": m / n}
            for name, (n, e, m) in sorted(counts.items())}


class ExtractionScorer:
    """Accumulates answer records; DDP-friendly (records are plain JSON-able dicts).

    Each rank calls :meth:`add`; gather ``scorer.records`` (``all_gather_object``) and score
    ``ExtractionScorer.from_records(all_of_them)``. Records repeated with the same (id, task)
    (a distributed sampler pads its shards with repeats) count once.
    """

    def __init__(self, tables: bool = True):
        self.tables = tables
        self.records: list[dict[str, Any]] = []

    def add(self, doc_id: str, prediction: str, truth: Mapping[str, Any] | str, task: str = "full",
            meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
        record = score_answer(doc_id, prediction, truth, task, meta, tables=self.tables)
        self.records.append(record)
        return record

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> ExtractionScorer:
        scorer = cls()
        scorer.records = [dict(r) for r in records]
        return scorer

    def merge(self, other: ExtractionScorer | Iterable[Mapping[str, Any]]) -> ExtractionScorer:
        self.records.extend(dict(r) for r in (other.records if isinstance(other, ExtractionScorer) else other))
        return self

    def reset(self) -> None:
        self.records = []

    def unique_records(self) -> list[dict[str, Any]]:
        seen: set[tuple[str, str]] = set()
        out = []
        for r in self.records:
            if (r["id"], r["task"]) not in seen:
                seen.add((r["id"], r["task"]))
                out.append(r)
        return out

    def compute(self) -> dict[str, float]:
        """``field_accuracy``, ``field_accuracy_normalized``, ``field_precision``/``recall``/
        ``f1`` (Donut), ``json_tree_accuracy``, ``json_valid_rate``, ``mean_errors``, ``teds``,
        ``teds_struct``, ``numeric_consistency`` (share of documents whose answers add up),
        ``overall_score``, ``n_answers``, ``n_documents``; field and JSON metrics over the JSON
        tasks; a metric no answer applies to is left out (not 0)."""
        records = self.unique_records()
        if not records:
            raise ValueError("no answers to score: call add() first")
        return aggregate(records)

    def breakdown(self) -> dict[str, Any]:
        """Per content field, field group, sub-field (``vendor.name``), task, hard kind
        (``none`` = documents without one), locale and currency."""
        records = self.unique_records()

        def by(key) -> dict[str, dict[str, float]]:
            groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
            for r in records:
                for name in key(r):
                    groups[str(name)].append(r)
            return {name: aggregate(rs) for name, rs in sorted(groups.items())}

        return {
            "fields": _field_table(records, lambda p: p.split(".")[0]),
            "groups": _field_table(records, field_group),
            "subfields": _field_table(records, subfield),
            "tasks": by(lambda r: [r["task"]]),
            "hard_kinds": by(lambda r: r["hard_kinds"] or ["none"]),
            "locales": by(lambda r: [r["locale"]] if r["locale"] else []),
            "currencies": by(lambda r: [r["currency"]] if r["currency"] else []),
        }

    def documents(self) -> list[dict[str, Any]]:
        """One entry per document: its errors by field path over all its answers (``task`` says
        which answer), metadata, and each task's prediction and truth."""
        docs: dict[str, dict[str, Any]] = {}
        for r in self.unique_records():
            d = docs.setdefault(r["id"], {
                "id": r["id"], "n_errors": 0, "errors": {}, "hard_kinds": r["hard_kinds"], "locale": r["locale"],
                "currency": r["currency"], "document_type": r.get("document_type"), "layout": r.get("layout"),
                "tasks": [], "json_valid": True, "numeric_consistent": None, "prediction": {}, "truth": {}})
            d["tasks"].append(r["task"])
            d["prediction"][r["task"]], d["truth"][r["task"]] = r["prediction"], r.get("truth")
            for path, err in r["errors"].items():
                d["errors"].setdefault(path, {**err, "task": r["task"]})
            d["n_errors"] = len(d["errors"])
            if r["json_valid"] is False:
                d["json_valid"] = False
            if r["numeric"] is not None and r["numeric"]["consistent"] is not None:
                d["numeric_consistent"] = (d["numeric_consistent"] is not False) and r["numeric"]["consistent"]
        return list(docs.values())

    def report(self) -> dict[str, Any]:
        """``{"metrics": compute(), "breakdown": breakdown(), "documents": documents()}``."""
        return {"metrics": self.compute(), "breakdown": self.breakdown(), "documents": self.documents()}
