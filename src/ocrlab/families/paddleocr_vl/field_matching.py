"""Normalized comparison of extracted fields: the key paths of an answer (:func:`flatten`:
``vendor.name``, ``line_items.0.amount``), the kind of each field (:data:`FIELD_KINDS`, read off
the ground-truth schema), and equality that forgives formatting (:func:`values_match`): null,
missing and blank agree, amounts and quantities compare as ``Decimal`` (through
:func:`ocrlab.synth.money.parse_amount`, decimal separator inferred, currency signs ignored),
dates as ISO (``2026-09-06`` or the locale's printed format), other text after
:func:`~ocrlab.text.normalize.normalize_text` and case folding. :func:`compare_fields` applies it
over a predicted and a true answer; the scorer in :mod:`ocrlab.families.paddleocr_vl.extraction` counts the
results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ocrlab.synth.invoices.locales import LOCALES
from ocrlab.synth.invoices.schema import CONTENT_FIELDS, FIELD_GROUPS, GROUND_TRUTH_SCHEMA
from ocrlab.synth.money import CURRENCIES, NUMBER_STYLES, parse_amount
from ocrlab.text.normalize import normalize_text

_FIELD_GROUP = {f: g for g, fields in FIELD_GROUPS.items() for f in fields}


# -- key paths and field kinds, from the ground-truth schema --------------------------------------
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


def is_blank(value: Any) -> bool:
    """None or whitespace-only text: a value that is not there."""
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    return normalize_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)).casefold()


def values_match(pred: Any, true: Any, path: str, currency: str | None = None, locale: str | None = None) -> bool:
    """Normalized equality of a predicted and a true value at ``path`` (see module docstring)."""
    if is_blank(pred) or is_blank(true):
        return is_blank(pred) and is_blank(true)
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
             if p not in true_flat and p.split(".")[0] in fields and not is_blank(v)]
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
