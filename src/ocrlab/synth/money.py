"""Currencies and locale number formats, written here rather than taken from a library.

Faker's ``pricetag`` is not localized and Babel is not a dependency; documents need exact control
of how an amount looks (symbol before or after, space or not, decimals, separators, Indian lakh
grouping), and metrics need the inverse (:func:`parse_amount`). Amounts are ``Decimal``
throughout; :func:`quantize` rounds half-up to the currency's minor unit, the rule invoices use.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Currency:
    code: str
    symbol: str
    decimals: int

    @property
    def minor_unit(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("USD", "$", 2),
        Currency("EUR", "€", 2),
        Currency("GBP", "£", 2),
        Currency("JPY", "¥", 0),
        Currency("INR", "₹", 2),
        Currency("THB", "฿", 2),
        Currency("CHF", "CHF", 2),
    )
}


@dataclass(frozen=True)
class NumberStyle:
    """How digits are grouped and separated, and where the currency sign goes."""

    name: str
    group: str  # thousands separator ("" for none)
    decimal: str
    indian_grouping: bool = False  # 12,34,567.89
    symbol_first: bool = True
    symbol_space: bool = False


NBSP = "\u00a0"  # French groups with a no-break space: an amount stays one word.

NUMBER_STYLES: dict[str, NumberStyle] = {
    s.name: s
    for s in (
        NumberStyle("en", ",", "."),  # $1,234.56
        NumberStyle("de", ".", ",", symbol_first=False, symbol_space=True),  # 1.234,56 €
        NumberStyle("fr", NBSP, ",", symbol_first=False, symbol_space=True),  # 1 234,56 €
        NumberStyle("ch", "'", ".", symbol_first=True, symbol_space=True),  # CHF 1'234.56
        NumberStyle("in", ",", ".", indian_grouping=True),  # ₹12,34,567.89
        NumberStyle("code", ",", ".", symbol_first=False, symbol_space=True),  # 1,234.56 THB
        NumberStyle("plain", "", "."),  # 1234.56
    )
}


def quantize(amount: Decimal, currency: Currency) -> Decimal:
    """Round half-up to the currency's minor unit (1 for JPY, 0.01 otherwise)."""
    return amount.quantize(currency.minor_unit, rounding=ROUND_HALF_UP)


def format_number(value: Decimal, style: NumberStyle, decimals: int) -> str:
    """``value`` with ``decimals`` digits after the separator, grouped per ``style``."""
    q = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP) if decimals else value.quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    sign = "-" if q < 0 else ""
    digits = f"{abs(q):f}"
    whole, _, frac = digits.partition(".")
    whole = _group(whole, style)
    return sign + whole + (style.decimal + frac if decimals else "")


def _group(whole: str, style: NumberStyle) -> str:
    if not style.group or len(whole) <= 3:
        return whole
    head, tail = whole[:-3], whole[-3:]
    size = 2 if style.indian_grouping else 3
    groups = []
    while len(head) > size:
        groups.insert(0, head[-size:])
        head = head[:-size]
    groups.insert(0, head)
    return style.group.join(groups + [tail])


def format_amount(value: Decimal, currency: Currency, style: NumberStyle, *, use_code: bool = False) -> str:
    """An amount as printed on a document, e.g. ``$1,234.56``, ``1.234,56 €``, ``¥12,300``."""
    number = format_number(value, style, currency.decimals)
    sign = currency.code if use_code else currency.symbol
    space = " " if (style.symbol_space or use_code or len(sign) > 1) else ""
    if style.symbol_first:
        if number.startswith("-"):
            return "-" + sign + space + number[1:]
        return sign + space + number
    return number + space + sign


def parse_amount(text: str, style: NumberStyle) -> Decimal:
    """Inverse of :func:`format_number` (currency signs and spaces ignored)."""
    cleaned = "".join(ch for ch in text if ch.isdigit() or ch in (style.decimal, "-"))
    if style.decimal != ".":
        cleaned = cleaned.replace(style.decimal, ".")
    if not cleaned or cleaned in ("-", "."):
        raise ValueError(f"no amount in {text!r}")
    return Decimal(cleaned)
