"""The content of one financial document, drawn with exact ``Decimal`` arithmetic, and its
ground truth (:data:`~ocrlab.synth.invoices.schema.GROUND_TRUTH_SCHEMA`)."""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from ocrlab.synth.invoices.locales import _USD_PER_UNIT, CAPTIONS, DETAILS, ITEMS, LOCALES
from ocrlab.synth.money import (
    CURRENCIES,
    NUMBER_STYLES,
    Currency,
    NumberStyle,
    format_amount,
    format_number,
    quantize,
)
from ocrlab.synth.sampling import choice, faker_for


@dataclass
class Party:
    name: str
    address: list[str]
    phone: str | None
    email: str | None
    tax_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": "\n".join(self.address), "phone": self.phone, "email": self.email, "tax_id": self.tax_id}


@dataclass
class LineItem:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    tax_rate: str


@dataclass
class DocumentContent:
    doc_id: str
    document_type: str
    locale: str
    currency: Currency
    style: NumberStyle
    use_code: bool  # print the currency code instead of the symbol
    number: str
    issue_date: dt.date
    due_date: dt.date | None
    vendor: Party
    client: Party
    items: list[LineItem]
    subtotal: Decimal
    discounts: list[tuple[str, Decimal]]
    taxes: list[tuple[str, Decimal]]
    shipping: Decimal | None
    total: Decimal
    payment_terms: str | None
    notes: str | None
    hard_kinds: list[str]

    def money(self, value: Decimal) -> str:
        return format_amount(value, self.currency, self.style, use_code=self.use_code)

    def qty(self, value: Decimal) -> str:
        return format_number(value, self.style, 0 if value == value.to_integral_value() else 1)

    def date(self, value: dt.date) -> str:
        fmt = LOCALES[self.locale].date_format.replace("{be}", str(value.year + 543))
        return value.strftime(fmt)

    def ground_truth(self) -> dict[str, Any]:
        def s(v: Decimal) -> str:
            return str(v)

        return {
            "document_type": self.document_type,
            "number": self.number,
            "issue_date": self.issue_date.isoformat(),
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "currency": self.currency.code,
            "locale": self.locale,
            "vendor": self.vendor.to_dict(),
            "client": self.client.to_dict(),
            "line_items": [
                {"description": i.description, "quantity": s(i.quantity), "unit_price": s(i.unit_price),
                 "amount": s(i.amount), "tax_rate": i.tax_rate}
                for i in self.items
            ],
            "subtotal": s(self.subtotal),
            "discounts": [{"description": d, "amount": s(a)} for d, a in self.discounts],
            "taxes": [{"rate": r, "amount": s(a)} for r, a in self.taxes],
            "shipping": s(self.shipping) if self.shipping is not None else None,
            "total": s(self.total),
            "payment_terms": self.payment_terms,
            "notes": self.notes,
        }


def _pattern(rng: np.random.Generator, pattern: str) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(
        str(rng.integers(10)) if c == "#" else choice(rng, letters) if c == "?" else c for c in pattern
    )


def _party(rng: np.random.Generator, locale: str, *, with_optional: bool) -> Party:
    fake = faker_for(locale)
    fake.seed_instance(int(rng.integers(2**31)))
    name = fake.company()
    address = [line.strip() for line in fake.address().replace(",", ",\n" if locale == "th_TH" else ",").split("\n") if line.strip()]
    if locale == "th_TH" and len(address) == 1:  # Thai addresses come as one long line: break it
        words = address[0].split(" ")
        cut = max(1, len(words) // 2)
        address = [" ".join(words[:cut]), " ".join(words[cut:])]
    optional = (lambda v: v) if with_optional else (lambda v: v if rng.random() < 0.25 else None)
    return Party(
        name=name,
        address=address,
        phone=optional(fake.phone_number()),
        email=optional(fake.company_email()),
        tax_id=optional(_pattern(rng, LOCALES[locale].tax_id_format)),
    )


def make_content(
    rng: np.random.Generator,
    doc_id: str,
    document_type: str,
    locale: str,
    currency_code: str,
    hard_kinds: Sequence[str],
) -> DocumentContent:
    """Draw a document's content; all arithmetic exact in ``Decimal``."""
    profile = LOCALES[locale]
    lang = profile.language
    caps = CAPTIONS[lang]
    currency = CURRENCIES[currency_code]
    style = NUMBER_STYLES[profile.number_style]
    use_code = False
    if "uncommon_currency" in hard_kinds and profile.script == "latin":
        style = NUMBER_STYLES[choice(rng, ("de", "fr", "ch", "in", "code"))]
        use_code = style.name == "code" or rng.random() < 0.3
    elif "uncommon_currency" in hard_kinds:
        # Thai and Japanese documents keep their digits; a foreign currency by its code avoids
        # symbols their fonts may lack (₹ in IPAexGothic, € in the tlwg fonts).
        use_code = True
    elif currency_code != profile.currency:
        use_code = True  # a foreign currency is usually written by its code
    full = "missing_optional_fields" not in hard_kinds

    fake = faker_for(locale)
    fake.seed_instance(int(rng.integers(2**31)))
    issue = dt.date(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, 4 * 365)))
    prefix = {"invoice": "INV", "receipt": "RCPT", "credit_note": "CN"}[document_type]
    number = f"{prefix}-{issue.year}-{int(rng.integers(1, 99999)):05d}"
    if document_type == "receipt":
        n_items = int(rng.integers(1, 9))
    else:
        n_items = int(rng.integers(1, 16))
    if "many_line_items" in hard_kinds:
        n_items = int(rng.integers(25, 41))
    goods, services = ITEMS[lang]
    multi_tax = "discounts_multi_tax" in hard_kinds and len(profile.tax_rates) > 1
    doc_rate = choice(rng, profile.tax_rates)
    scale = 1.0 / _USD_PER_UNIT[currency_code]
    items = []
    for _ in range(n_items):
        service = rng.random() < 0.3
        description = choice(rng, services if service else goods)
        if "long_descriptions" in hard_kinds and rng.random() < 0.6:
            description = f"{description}, {choice(rng, DETAILS[lang])}"
        if service and rng.random() < 0.5:
            quantity = Decimal(int(rng.integers(1, 80))) / 2  # hours: 0.5 steps
        else:
            quantity = Decimal(int(rng.integers(1, 25)))
        usd = math.exp(rng.uniform(math.log(2), math.log(1500)))
        unit_price = quantize(Decimal(repr(round(usd * scale, 4))), currency)
        if unit_price <= 0:
            unit_price = currency.minor_unit
        amount = quantize(quantity * unit_price, currency)
        rate = choice(rng, profile.tax_rates) if multi_tax else doc_rate
        items.append(LineItem(description, quantity, unit_price, amount, rate))
    subtotal = sum((i.amount for i in items), Decimal(0))

    discounts: list[tuple[str, Decimal]] = []
    n_discounts = int(rng.integers(1, 3)) if "discounts_multi_tax" in hard_kinds else int(rng.random() < 0.2)
    for _ in range(n_discounts):
        pct = Decimal(int(choice(rng, (2, 3, 5, 10, 15))))
        amount = quantize(subtotal * pct / 100, currency)
        if amount > 0 and sum(a for _, a in discounts) + amount < subtotal:
            discounts.append((f"{caps['discount']} {pct}%", amount))
    discount_total = sum((a for _, a in discounts), Decimal(0))

    taxes: list[tuple[str, Decimal]] = []
    for rate in sorted({i.tax_rate for i in items}, key=Decimal, reverse=True):
        base = sum((i.amount for i in items if i.tax_rate == rate), Decimal(0))
        # Discounts reduce each rate's base in proportion to its share of the subtotal.
        taxable = base - (discount_total * base / subtotal if subtotal else Decimal(0))
        if Decimal(rate) > 0:
            taxes.append((rate, quantize(taxable * Decimal(rate) / 100, currency)))
    shipping = None
    if document_type != "receipt" and rng.random() < 0.3:
        shipping = quantize(Decimal(repr(round(rng.uniform(5, 80) * scale, 2))), currency)
    total = subtotal - discount_total + sum((a for _, a in taxes), Decimal(0)) + (shipping or Decimal(0))

    due = None
    terms = None
    if document_type != "receipt":
        days = int(choice(rng, (7, 14, 30, 45, 60)))
        if full or rng.random() < 0.3:
            due = issue + dt.timedelta(days=days)
        if full or rng.random() < 0.3:
            terms = caps["net_days"].format(days=days) if rng.random() < 0.85 else caps["due_on_receipt"]
    notes = None
    if document_type == "credit_note":
        notes = caps["credit_ref"].format(ref=f"INV-{issue.year}-{int(rng.integers(1, 99999)):05d}")
    elif full and rng.random() < 0.5:
        notes = caps["thanks"]
    vendor = _party(rng, locale, with_optional=full)
    client = _party(rng, locale, with_optional=full)
    if document_type == "receipt" and rng.random() < 0.5:
        client = Party(name=fake.name(), address=[], phone=None, email=None, tax_id=None)
    return DocumentContent(
        doc_id, document_type, locale, currency, style, use_code, number, issue, due, vendor, client, items,
        subtotal, discounts, taxes, shipping, total, terms, notes, list(hard_kinds),
    )


def table_html(doc: DocumentContent) -> str:
    """The line-items table as HTML, cells as printed (what TEDS compares)."""
    caps = CAPTIONS[LOCALES[doc.locale].language]
    head = "".join(f"<th>{html.escape(caps[k])}</th>" for k in ("description", "quantity", "unit_price", "amount"))
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(v)}</td>"
            for v in (i.description, doc.qty(i.quantity), doc.money(i.unit_price), doc.money(i.amount))
        )
        + "</tr>"
        for i in doc.items
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
