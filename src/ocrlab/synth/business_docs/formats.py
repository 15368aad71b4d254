"""How one business document writes numbers, money, dates, units and item numbers."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from ocrlab.synth.font_book import winansi_covers
from ocrlab.synth.money import CURRENCIES, NumberStyle, format_amount, format_number
from ocrlab.synth.sampling import choice


def digits(rng: np.random.Generator, n: int) -> str:
    out = ""
    while n > 0:
        k = min(n, 18)
        out += f"{int(rng.integers(10**k)):0{k}d}"
        n -= k
    return out


def letters(rng: np.random.Generator, n: int) -> str:
    return "".join(choice(rng, "ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(n))


def clean(text: str) -> str:
    """Faker text the PDF standard fonts (WinAnsi) can draw, one line, single spaces."""
    text = " ".join(text.split())
    if not winansi_covers(text):
        text = "".join(
            c if winansi_covers(c) else unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode()
            for c in text
        )
    return text


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_CURRENCY_NAMES = {"EUR": "Euro", "USD": "US Dollar", "GBP": "Pound Sterling", "CHF": "Swiss Franc"}
_SYMBOLS = ("EUR", "USD", "GBP")  # currencies printed with their symbol in "symbol" style
_LOCALE_CURRENCY = {"en_US": "USD", "en_GB": "GBP", "de_DE": "EUR"}
_DATE_FORMATS = {  # (single-word formats, multi-word formats)
    "en_US": (("{m:02d}/{d:02d}/{y}", "{y}-{m:02d}-{d:02d}"), ("{M} {d}, {y}", "{Mb} {d}, {y}")),
    "en_GB": (
        ("{d:02d}/{m:02d}/{y}", "{y}-{m:02d}-{d:02d}", "{d:02d}-{Mb}-{y}"),
        ("{d} {M} {y}", "{d} {Mb} {y}"),
    ),
    "de_DE": (("{d:02d}.{m:02d}.{y}", "{y}-{m:02d}-{d:02d}"), ("{d}. {M} {y}", "{d} {Mb} {y}")),
}


@dataclass
class Fmt:
    """How one document writes numbers, money, dates and units."""

    locale: str
    currency: str
    group: str
    decimal: str
    date_format: str
    money_style: str  # plain | prefix | suffix | symbol (totals and key-value amounts)
    table_code: bool  # table amounts carry the currency code
    uom_long: bool
    item_style: str  # "10" | "1" | "00010" | "10/1"
    currency_long: bool
    percent_space: bool

    @classmethod
    def draw(cls, rng: np.random.Generator, locale: str) -> Fmt:
        currency = (
            _LOCALE_CURRENCY[locale] if rng.random() < 0.8 else choice(rng, ("EUR", "USD", "GBP", "CHF"))
        )
        if locale == "de_DE":
            group, decimal = choice(rng, ((".", ","), (".", ","), (" ", ","), ("", ",")))
        else:
            group, decimal = choice(rng, ((",", "."), (",", "."), (" ", "."), ("", ".")))
        single, multi = _DATE_FORMATS[locale]
        date_format = choice(rng, multi) if rng.random() < 0.5 else choice(rng, single)
        styles = ("plain", "prefix", "suffix") + (("symbol",) if currency in _SYMBOLS else ())
        return cls(
            locale,
            currency,
            group,
            decimal,
            date_format,
            choice(rng, styles),
            bool(rng.random() < 0.3),
            bool(rng.random() < 0.5),
            choice(rng, ("10", "1", "00010", "10/1")),
            bool(rng.random() < 0.3),
            bool(rng.random() < 0.4),
        )

    def num(self, cents: int, decimals: int = 2) -> str:
        return format_number(Decimal(cents).scaleb(-2), self._number_style(), decimals)

    def _number_style(self, *, symbol_first: bool = True, symbol_space: bool = False) -> NumberStyle:
        return NumberStyle(
            "document", self.group, self.decimal, symbol_first=symbol_first, symbol_space=symbol_space
        )

    def qty(self, q: int) -> str:
        return f"{q:,}".replace(",", self.group)

    def money(self, cents: int, *, table: bool = False) -> str:
        style = ("suffix" if self.table_code else "plain") if table else self.money_style
        if style == "plain":
            return self.num(cents)
        german = self.locale == "de_DE"
        number_style = self._number_style(
            symbol_first=style == "prefix" or (style == "symbol" and not german),
            symbol_space=style != "symbol" or german,
        )
        return format_amount(
            Decimal(cents).scaleb(-2), CURRENCIES[self.currency], number_style, use_code=style != "symbol"
        )

    def currency_text(self) -> str:
        if self.currency_long:
            return _CURRENCY_NAMES[self.currency] + (
                "" if self.currency not in _SYMBOLS else f" ({self.currency})"
            )
        return self.currency

    def date(self, d: dt.date) -> str:
        return self.date_format.format(
            d=d.day, m=d.month, y=d.year, M=_MONTHS[d.month - 1], Mb=_MONTHS[d.month - 1][:3]
        )

    def item_no(self, i: int) -> str:
        return {"10": str(10 * i), "1": str(i), "00010": f"{10 * i:05d}", "10/1": f"{10 * i} / 1"}[
            self.item_style
        ]

    def percent(self, basis_points: int) -> str:
        value = (
            f"{basis_points // 100}"
            if basis_points % 100 == 0
            else f"{basis_points / 100:.2f}".replace(".", self.decimal)
        )
        return value + (" %" if self.percent_space else "%")
