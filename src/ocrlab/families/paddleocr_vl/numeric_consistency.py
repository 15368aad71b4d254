"""Numeric consistency of an extracted (or true) document: :func:`validate_numbers` checks that
``quantity x unit_price = amount`` per line (within half a minor unit: the generator rounds
half-up), ``sum(line amounts) = subtotal`` and ``subtotal - discounts + taxes + shipping = total``,
each sum within one minor unit of the currency per summed term (documents that round each printed
amount stay consistent; the generator's are exact). Discounts count by their absolute value (some
are printed negative).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ocrlab.families.paddleocr_vl.field_matching import is_blank, parse_number
from ocrlab.synth.money import CURRENCIES

NUMERIC_CHECKS = ("line_item_amounts", "line_items_sum", "total")


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
        if not is_blank(doc.get("shipping")):
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
