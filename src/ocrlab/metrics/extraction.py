"""Metrics of JSON extraction from financial documents (the PaddleOCR-VL family's answers).

A model answers a task (:data:`TASK_FIELDS`: ``full``, ``vendor``, ``client``, ``line_items``,
``summary``; or ``table``, a table as OTSL/HTML) with generated text. Each answer is scored by:

* :func:`parse_json_output`: the first JSON object of the text (code fences and leading prose
  skipped). Nothing is repaired: truncated or invalid JSON, an array, duplicate keys or NaN make
  the answer invalid, a scored failure (every expected field wrong), never an exception.
* field accuracy over key paths (:func:`flatten`: ``vendor.name``, ``line_items.0.amount``), the
  union of the true paths and the predicted paths under the task's fields (a hallucinated line
  item is an error). ``exact``: same JSON value; ``normalized`` (:func:`values_match`): null,
  missing and blank agree, amounts and quantities compare as ``Decimal`` (through
  :func:`ocrlab.synth.money.parse_amount`, decimal separator inferred, currency signs ignored),
  dates as ISO (``2026-09-06`` or the locale's printed format), other text after
  :func:`~ocrlab.text.normalize.normalize_text` and case folding. Line items align by index.
  A field error is a normalized mismatch.
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
  prediction does too, else 0 (the reference divides by zero).
* :func:`validate_numbers`: ``quantity x unit_price = amount`` per line (half a minor unit: the
  generator rounds half-up), ``sum(line amounts) = subtotal`` and
  ``subtotal - discounts + taxes + shipping = total``, each sum within one minor unit of the
  currency per summed term (documents that round each printed amount stay consistent; the
  generator's are exact). Discounts count by their absolute value (some are printed negative).
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
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

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
from ocrlab.synth.invoices.locales import LOCALES
from ocrlab.synth.invoices.schema import CONTENT_FIELDS, FIELD_GROUPS, GROUND_TRUTH_SCHEMA, LINE_ITEM_FIELDS
from ocrlab.synth.money import CURRENCIES, NUMBER_STYLES, parse_amount
from ocrlab.text.normalize import normalize_text

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
NUMERIC_CHECKS = ("line_item_amounts", "line_items_sum", "total")
OVERALL_WEIGHTS = {"field_accuracy_normalized": 0.6, "teds": 0.2, "numeric_consistency": 0.2}
_FIELD_GROUP = {f: g for g, fields in FIELD_GROUPS.items() for f in fields}


# -- field kinds, from the ground-truth schema ----------------------------------------------------
def _schema_kinds() -> dict[str, str]:
    """``{sub-field path: "number" | "date"}``: decimal strings and dates of the schema."""
    kinds: dict[str, str] = {}

    def visit(node: Mapping[str, Any], path: str) -> None:
        options = [node, *node.get("anyOf", [])]
        if any("pattern" in o and re.fullmatch(o["pattern"], "-1234.5") for o in options):
            kinds[path] = "number"  # decimal strings: amounts and quantities
        elif path.endswith("rate"):  # tax rates are free strings ("19", "5.5") but numbers too
            kinds[path] = "number"
        elif node.get("format") == "date":
            kinds[path] = "date"
        for key, sub in node.get("properties", {}).items():
            visit(sub, f"{path}.{key}")
        if isinstance(node.get("items"), Mapping):
            visit(node["items"], path)

    for name in CONTENT_FIELDS:
        visit(GROUND_TRUTH_SCHEMA["properties"][name], name)
    return kinds


FIELD_KINDS = _schema_kinds()
_COUNTS = {"line_items.quantity"}  # decimal strings that are not money (no currency minor unit)
if not _COUNTS <= set(FIELD_KINDS):
    raise ImportError(f"the ground-truth schema has no {sorted(_COUNTS - set(FIELD_KINDS))}: update _COUNTS")


def subfield(path: str) -> str:
    """A key path without list indices: ``line_items.3.amount`` -> ``line_items.amount``."""
    return ".".join(p for p in path.split(".") if not p.isdigit())


def field_group(path: str) -> str | None:
    """The :data:`FIELD_GROUPS` group of a key path (None for ungrouped fields)."""
    return _FIELD_GROUP.get(path.split(".")[0])


# -- parsing generated text -----------------------------------------------------------------------
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


_DECODER = json.JSONDecoder(parse_constant=_no_constants, object_pairs_hook=_no_duplicates)


def parse_json_output(text: Any) -> tuple[dict[str, Any] | None, str | None]:
    """``(object, None)`` or ``(None, why not)`` for a model's generated text.

    The first fenced block (```` ```json ... ``` ````) if any, else the whole text; the JSON
    object starts at its first ``{`` (text around it is ignored, text after it too).
    """
    if not isinstance(text, str):
        return None, f"expected generated text (str), got {type(text).__name__}"
    fence = _FENCE.search(text)
    body = fence.group(1) if fence else text
    if body.lstrip().startswith("["):
        return None, "the output is a JSON array; expected an object"
    start = body.find("{")
    if start < 0:
        return None, "no JSON object in the output"
    try:
        obj, _ = _DECODER.raw_decode(body, start)
    except json.JSONDecodeError as error:
        cut = " (the output ends inside the object: truncated?)" if error.pos >= len(body.rstrip()) else ""
        return None, f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}{cut}"
    except ValueError as error:
        return None, f"invalid JSON: {error}"
    return obj, None


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{key path: scalar}`` of a JSON value; list items by index, empty containers dropped."""
    out: dict[str, Any] = {}

    def visit(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                visit(v, f"{key}.{k}" if key else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                visit(v, f"{key}.{i}" if key else str(i))
        else:
            out[key] = value

    visit(obj, prefix)
    return out


# -- normalized comparison ------------------------------------------------------------------------
def parse_number(value: Any, decimals: int | None = None) -> Decimal | None:
    """A number as written (``"1.234,56 €"``, ``"¥12,300"``, ``"19%"``, ``12.5``) or None.

    The decimal separator is the last ``.``/``,`` unless it repeats or, for an amount whose
    currency has ``decimals`` other than 3, three digits follow it (``12,300``: grouping).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = Decimal(str(value))
        return number if number.is_finite() else None
    if not isinstance(value, str) or not any(ch.isdigit() for ch in value):
        return None
    seps = [ch for ch in value if ch in ".,"]
    decimal_sep = "."
    if seps:
        last = seps[-1]
        other = "," if last == "." else "."
        tail = re.match(r"\d*", value[value.rindex(last) + 1:]).group()  # type: ignore[union-attr]
        if seps.count(last) > 1:
            decimal_sep = other
        elif other in seps or decimals is None or decimals == 3 or len(tail) != 3:
            decimal_sep = last
        else:
            decimal_sep = other
    style = NUMBER_STYLES["en" if decimal_sep == "." else "de"]
    try:
        return parse_amount(value, style)
    except (ValueError, InvalidOperation):
        return None


def normalize_date(value: Any, locale: str | None = None) -> str | None:
    """ISO date of ``2026-09-06`` or of the locale's printed format (Thai: Buddhist year)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    profile = LOCALES.get(locale or "")
    if profile is None:
        return None
    buddhist = "{be}" in profile.date_format
    try:
        day = datetime.strptime(text, profile.date_format.replace("{be}", "%Y")).date()
        return (day.replace(year=day.year - 543) if buddhist else day).isoformat()
    except ValueError:
        return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    return normalize_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)).casefold()


def values_match(pred: Any, true: Any, path: str, currency: str | None = None, locale: str | None = None) -> bool:
    """Normalized equality of a predicted and a true value at ``path`` (see module docstring)."""
    if _blank(pred) or _blank(true):
        return _blank(pred) and _blank(true)
    kind = FIELD_KINDS.get(subfield(path))
    if kind == "number":
        money = subfield(path) not in _COUNTS and not path.endswith("rate") and currency in CURRENCIES
        decimals = CURRENCIES[currency].decimals if money and currency else None
        a, b = parse_number(pred, decimals), parse_number(true, decimals)
        if a is not None and b is not None:
            return a == b
    elif kind == "date":
        a_date, b_date = normalize_date(pred, locale), normalize_date(true, locale)
        if a_date and b_date:
            return a_date == b_date
    return _text(pred) == _text(true)


def compare_fields(pred: Mapping[str, Any] | None, truth: Mapping[str, Any], fields: Sequence[str],
                   currency: str | None = None, locale: str | None = None
                   ) -> tuple[dict[str, list[bool]], dict[str, dict[str, Any]]]:
    """``({path: [exact, normalized]}, {path: {"expected", "predicted"}})`` over the true paths
    and the predicted paths under ``fields`` (blank extra predictions are not fields). No
    prediction (``None``: invalid output) gets every true path wrong, null ones too."""
    true_flat, pred_flat = flatten(dict(truth)), flatten(dict(pred or {}))
    if pred is None:
        return ({path: [False, False] for path in true_flat},
                {path: {"expected": t, "predicted": None} for path, t in true_flat.items()})
    extra = [p for p, v in pred_flat.items()
             if p not in true_flat and p.split(".")[0] in fields and not _blank(v)]
    results: dict[str, list[bool]] = {}
    errors: dict[str, dict[str, Any]] = {}
    for path in [*true_flat, *extra]:
        t, p = true_flat.get(path), pred_flat.get(path)
        exact = path in true_flat and path in pred_flat and type(t) is type(p) and t == p
        normalized = path in true_flat and values_match(p, t, path, currency, locale)
        results[path] = [exact, normalized]
        if not normalized:
            errors[path] = {"expected": t, "predicted": p}
    return results, errors


# -- numeric consistency ----------------------------------------------------------------------------
def validate_numbers(doc: Mapping[str, Any], currency: str | None = None, tolerance_units: int = 1) -> dict[str, Any]:
    """The arithmetic of a (predicted or true) document.

    ``{"checks": {name: True | False | None}, "consistent": bool | None, "problems": [...]}``:
    a check is None when its fields are absent (``summary`` answers have no line items);
    ``consistent`` is None when no check applies, else whether all that apply pass.
    """
    code = currency or doc.get("currency")
    unit = CURRENCIES[code].minor_unit if code in CURRENCIES else Decimal("0.01")
    decimals = CURRENCIES[code].decimals if code in CURRENCIES else None
    checks: dict[str, bool | None] = dict.fromkeys(NUMERIC_CHECKS)
    problems: list[str] = []

    def number(value: Any, where: str, counts: bool = False) -> Decimal | None:
        n = parse_number(value, None if counts else decimals)
        if n is None:
            problems.append(f"{where}: {value!r} is not a number")
        return n

    subtotal = number(doc["subtotal"], "subtotal") if "subtotal" in doc else None
    items = doc.get("line_items")
    if isinstance(items, list) and items:
        checks["line_item_amounts"] = True
        amounts: list[Decimal | None] = []
        for i, item in enumerate(items):
            item = item if isinstance(item, Mapping) else {}
            q = number(item.get("quantity"), f"line_items.{i}.quantity", counts=True)
            u, a = number(item.get("unit_price"), f"line_items.{i}.unit_price"), number(item.get("amount"),
                                                                                       f"line_items.{i}.amount")
            amounts.append(a)
            if q is None or u is None or a is None:
                checks["line_item_amounts"] = False
            elif abs(q * u - a) > unit / 2:
                checks["line_item_amounts"] = False
                problems.append(f"line_items.{i}: {q} x {u} = {q * u}, amount {a}")
        if "subtotal" in doc:
            ok = subtotal is not None and None not in amounts
            if ok and abs(sum(amounts, Decimal(0)) - subtotal) > unit * len(items) * tolerance_units:  # type: ignore[arg-type]
                ok = False
                problems.append(f"line amounts sum to {sum(amounts, Decimal(0))}, subtotal {subtotal}")  # type: ignore[arg-type]
            checks["line_items_sum"] = ok
    if "total" in doc and "subtotal" in doc:
        terms: list[tuple[Decimal | None, int]] = [(subtotal, 1)]
        for name, key, sign in (("discounts", "amount", -1), ("taxes", "amount", 1)):
            entries = doc.get(name) or []
            for i, entry in enumerate(entries if isinstance(entries, list) else [entries]):
                value = number(entry.get(key) if isinstance(entry, Mapping) else entry, f"{name}.{i}.{key}")
                terms.append((None if value is None else abs(value) if sign < 0 else value, sign))
        if not _blank(doc.get("shipping")):
            terms.append((number(doc["shipping"], "shipping"), 1))
        total = number(doc["total"], "total")
        ok = total is not None and all(v is not None for v, _ in terms)
        if ok:
            expected = sum((v * s for v, s in terms), Decimal(0))  # type: ignore[operator]
            if abs(expected - total) > unit * len(terms) * tolerance_units:  # type: ignore[operator]
                ok = False
                problems.append(f"subtotal - discounts + taxes + shipping = {expected}, total {total}")
        checks["total"] = ok
    ran = [v for v in checks.values() if v is not None]
    return {"checks": checks, "consistent": all(ran) if ran else None, "problems": problems}


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
