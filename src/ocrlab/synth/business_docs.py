"""Business documents (SAP-style procurement, sales, logistics and finance papers) for
LayoutLMv3 token classification, in seed 002's annotation format.

Each sample is one A4/Letter page of one of 15 :data:`DOC_TYPES` (purchase orders carry one of
35 :data:`PO_SUBTYPES`), laid out by one of :data:`NUM_VARIANTS` layout variants of its type
(header left/right/centred, key-value blocks stacked or side by side, item tables ruled, striped
or bare), filled by Faker (en_US, en_GB, de_DE) and SAP-like numbers. Every drawn word is tagged
at draw time with the field its value belongs to, so labels never come from OCR: captions
("Vendor:", "Total") are ``O``, the first word of a value ``B-<FIELD>``, the following words of the
same value (also across wrapped lines) ``I-<FIELD>``.

Layout on disk (via :func:`ocrlab.synth.dataset.write_dataset`)::

    D/label_map.json                    {"labels", "label2id", "doc_types", "po_subtypes"}
    D/{train,val,test}/images/<id>.jpg
    D/{train,val,test}/annotations/<id>.json
        {"image_path", "doc_type", "po_subtype", "words", "boxes", "token_labels", "width", "height"}

``boxes`` are [x0, y0, x1, y1] integers normalized to 0..1000 by the page width/height. The split
is a function of the index (``index % 10``: 0-7 train, 8 val, 9 test). Document types are drawn
in shuffled rounds (every :data:`ROUND` consecutive indices hold each type once and
:data:`EXTRA_PO_PER_ROUND` more purchase orders), and PO subtypes in shuffled rounds of 35 over
the purchase orders, so small datasets cover every class. Hard samples (``hard_ratio``) get light
photometric scan degradation, small fonts or a dense layout; their kinds are recorded in the
manifest record (``hard_kinds``), never in the annotation.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from ocrlab.synth.dataset import Sample
from ocrlab.synth.degrade import DegradationConfig, Degrader
from ocrlab.synth.fonts import STANDARD_FAMILIES, FontNotFoundError, font_checksums, package_font
from ocrlab.synth.money import CURRENCIES, NumberStyle, format_amount, format_number
from ocrlab.synth.render import (
    DocumentCanvas,
    FontBook,
    encode_image,
    page_size_points,
    render,
    winansi_covers,
)
from ocrlab.synth.sampling import choice, faker_for

DOC_TYPES: tuple[str, ...] = (
    "INVOICE",
    "PURCHASE_ORDER",
    "SALES_ORDER",
    "GOODS_RECEIPT",
    "DELIVERY_NOTE",
    "CREDIT_MEMO",
    "DEBIT_MEMO",
    "PAYMENT_ADVICE",
    "REMITTANCE_ADVICE",
    "STATEMENT",
    "CONTRACT",
    "QUOTATION",
    "RFQ",
    "ASN",
    "OTHER",
)

# Purchase order subtypes: SAP document types (NB, FO, UB, MK, WK, LP, ...) and item categories
# (consignment K, subcontracting L, third party S, stock transfer U, service D) plus common
# procurement categories. subtype -> (SAP order type shown on the page, title, traits)
PO_SUBTYPE_INFO: dict[str, tuple[str, str, frozenset[str]]] = {
    "STANDARD": ("NB Standard PO", "Purchase Order", frozenset()),
    "BLANKET": ("FO Blanket PO", "Blanket Purchase Order", frozenset({"validity"})),
    "CONTRACT": ("MK Contract Release", "Contract Purchase Order", frozenset({"validity", "contract"})),
    "FRAMEWORK": ("FO Framework Order", "Framework Order", frozenset({"validity"})),
    "SUBCONTRACTING": ("NB Subcontracting", "Subcontracting Order", frozenset({"components"})),
    "CONSIGNMENT": ("NB Consignment", "Consignment Order", frozenset({"no_price"})),
    "STOCK_TRANSFER": (
        "UB Stock Transport Order",
        "Stock Transport Order",
        frozenset({"no_price", "transfer"}),
    ),
    "SERVICE": ("NB Service PO", "Service Order", frozenset({"service"})),
    "THIRD_PARTY": ("NB Third-Party Order", "Third-Party Purchase Order", frozenset({"drop_ship"})),
    "LIMIT": ("FO Limit PO", "Limit Purchase Order", frozenset({"validity", "service"})),
    "SCHEDULING_AGREEMENT": (
        "LP Scheduling Agreement",
        "Scheduling Agreement",
        frozenset({"validity", "contract"}),
    ),
    "RELEASE_ORDER": ("NB Release Order", "Release Order", frozenset({"contract"})),
    "EMERGENCY": ("NB Emergency PO", "Emergency Purchase Order", frozenset({"urgent"})),
    "DROP_SHIP": ("NB Drop Shipment", "Drop Ship Purchase Order", frozenset({"drop_ship"})),
    "CAPEX": ("NB Capital Expenditure", "Capital Purchase Order", frozenset({"asset"})),
    "MRO": ("NB MRO", "MRO Purchase Order", frozenset()),
    "RETURN": ("NB Return PO", "Return Purchase Order", frozenset({"return"})),
    "INTERCOMPANY": ("UB Intercompany", "Intercompany Purchase Order", frozenset({"transfer"})),
    "CROSS_COMPANY": ("NB Cross-Company", "Cross-Company Purchase Order", frozenset({"transfer"})),
    "IMPORT": ("NB Import PO", "Import Purchase Order", frozenset({"import"})),
    "EXPORT": ("NB Export PO", "Export Purchase Order", frozenset({"import"})),
    "SPOT_BUY": ("NB Spot Buy", "Spot Buy Order", frozenset()),
    "CATALOG": ("NB Catalog PO", "Catalog Purchase Order", frozenset()),
    "PROJECT": ("NB Project PO", "Project Purchase Order", frozenset({"project"})),
    "ASSET": ("NB Asset PO", "Asset Purchase Order", frozenset({"asset"})),
    "TOOLING": ("NB Tooling PO", "Tooling Purchase Order", frozenset({"asset"})),
    "SAMPLE": ("NB Sample Order", "Sample Order", frozenset()),
    "PREPAYMENT": ("NB Prepayment PO", "Purchase Order (Prepayment)", frozenset({"prepay"})),
    "EVALUATED_RECEIPT": ("NB ERS", "Purchase Order (ERS)", frozenset()),
    "VALUE_CONTRACT": ("WK Value Contract", "Value Contract", frozenset({"validity", "contract"})),
    "QUANTITY_CONTRACT": ("MK Quantity Contract", "Quantity Contract", frozenset({"validity", "contract"})),
    "PIPELINE": ("NB Pipeline", "Pipeline Purchase Order", frozenset({"no_price"})),
    "KANBAN": ("NB Kanban", "Kanban Replenishment Order", frozenset()),
    "VENDOR_MANAGED_INVENTORY": ("NB VMI", "VMI Replenishment Order", frozenset()),
    "CONSUMABLES": ("NB Consumables", "Purchase Order Consumables", frozenset()),
}
PO_SUBTYPES: tuple[str, ...] = tuple(PO_SUBTYPE_INFO)

FIELDS: tuple[str, ...] = (
    # document references
    "DOCUMENT_NUMBER",
    "DOCUMENT_DATE",
    "DUE_DATE",
    "ORDER_TYPE",
    "PO_NUMBER",
    "SO_NUMBER",
    "INVOICE_NUMBER",
    "INVOICE_DATE",
    "DELIVERY_NOTE_NUMBER",
    "QUOTATION_NUMBER",
    "RFQ_NUMBER",
    "CONTRACT_NUMBER",
    "REFERENCE_NUMBER",
    "CUSTOMER_NUMBER",
    "VENDOR_NUMBER",
    "COMPANY_CODE",
    "FISCAL_YEAR",
    "SUBJECT",
    # parties
    "VENDOR_NAME",
    "VENDOR_ADDRESS",
    "VENDOR_TAX_ID",
    "VENDOR_CONTACT",
    "VENDOR_PHONE",
    "VENDOR_EMAIL",
    "BUYER_NAME",
    "BUYER_ADDRESS",
    "BUYER_TAX_ID",
    "BUYER_CONTACT",
    "SHIP_TO_NAME",
    "SHIP_TO_ADDRESS",
    "BILL_TO_ADDRESS",
    # logistics and organisation
    "DELIVERY_DATE",
    "SHIP_DATE",
    "TRACKING_NUMBER",
    "CARRIER_NAME",
    "INCOTERMS",
    "SHIPPING_METHOD",
    "PLANT",
    "STORAGE_LOCATION",
    "PURCHASING_GROUP",
    "PURCHASING_ORG",
    "SALES_ORG",
    "MOVEMENT_TYPE",
    "ROUTE",
    "GROSS_WEIGHT",
    "NET_WEIGHT",
    "NUMBER_OF_PACKAGES",
    "BILL_OF_LADING",
    "CONTAINER_NUMBER",
    # line items
    "ITEM_NUMBER",
    "MATERIAL_NUMBER",
    "ITEM_DESCRIPTION",
    "QUANTITY",
    "UNIT_OF_MEASURE",
    "UNIT_PRICE",
    "LINE_AMOUNT",
    "BATCH_NUMBER",
    "SERIAL_NUMBER",
    "TRANSACTION_DATE",
    # amounts
    "NET_AMOUNT",
    "TAX_RATE",
    "TAX_AMOUNT",
    "DISCOUNT_AMOUNT",
    "FREIGHT_AMOUNT",
    "TOTAL_AMOUNT",
    "CURRENCY",
    "AMOUNT_PAID",
    "BALANCE_DUE",
    "OPENING_BALANCE",
    "CLOSING_BALANCE",
    # payment
    "PAYMENT_TERMS",
    "PAYMENT_METHOD",
    "PAYMENT_DATE",
    "PAYMENT_REFERENCE",
    "IBAN",
    "BIC",
    "BANK_NAME",
    "ACCOUNT_NUMBER",
    # periods, contracts, quotes
    "PERIOD_START",
    "PERIOD_END",
    "CONTRACT_START",
    "CONTRACT_END",
    "CONTRACT_VALUE",
    "NOTICE_PERIOD",
    "GOVERNING_LAW",
    "SIGNATORY_NAME",
    "SIGNATORY_TITLE",
    "REASON",
    "VALID_UNTIL",
    "SUBMISSION_DEADLINE",
)
LABELS: tuple[str, ...] = ("O",) + tuple(f"{p}-{f}" for f in FIELDS for p in ("B", "I"))
LABEL2ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}

SPLITS = ("train", "val", "test")
NUM_VARIANTS = 4  # layout variants per document type
EXTRA_PO_PER_ROUND = 4  # 35 PO subtypes need PO pages: 5 of every 19 documents are POs
ROUND = len(DOC_TYPES) + EXTRA_PO_PER_ROUND
ANNOTATION_KEYS = (
    "image_path",
    "doc_type",
    "po_subtype",
    "words",
    "boxes",
    "token_labels",
    "width",
    "height",
)
LOCALES = ("en_US", "en_GB", "de_DE")
HARD_KINDS = ("scan_noise", "small_font", "dense_layout")


def label_map() -> dict[str, Any]:
    """The contents of ``label_map.json``."""
    return {
        "labels": list(LABELS),
        "label2id": dict(LABEL2ID),
        "doc_types": list(DOC_TYPES),
        "po_subtypes": list(PO_SUBTYPES),
    }


def split_of(index: int) -> str:
    """train for index % 10 in 0..7, val for 8, test for 9."""
    r = index % 10
    return "train" if r < 8 else "val" if r == 8 else "test"


# -- content ---------------------------------------------------------------------------------
def _digits(rng: np.random.Generator, n: int) -> str:
    out = ""
    while n > 0:
        k = min(n, 18)
        out += f"{int(rng.integers(10**k)):0{k}d}"
        n -= k
    return out


def _letters(rng: np.random.Generator, n: int) -> str:
    return "".join(choice(rng, "ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(n))


def _clean(text: str) -> str:
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
        return NumberStyle("document", self.group, self.decimal, symbol_first=symbol_first, symbol_space=symbol_space)

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
        return format_amount(Decimal(cents).scaleb(-2), CURRENCIES[self.currency], number_style, use_code=style != "symbol")

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


@dataclass
class Party:
    name: str
    address: list[str]
    tax_id: str
    contact: str
    phone: str
    email: str
    city: str


_UOM = (  # (SAP unit, long form)
    ("PC", "pieces"),
    ("EA", "each"),
    ("KG", "kilogram"),
    ("M", "metre"),
    ("L", "litre"),
    ("BOX", "box"),
    ("PAL", "pallet"),
    ("M2", "square metre"),
    ("M3", "cubic metre"),
    ("ROL", "roll"),
    ("PAK", "pack of 10"),
    ("CAR", "carton"),
    ("ST", "piece"),
)
_SERVICE_UOM = (("H", "hours"), ("AU", "activity unit"), ("DAY", "man day"), ("LE", "lump sum"))
_PARTS = (
    ("Hex bolt", ("M8x40 DIN 933 A2", "M10x60 8.8 zinc plated", "M6x20 ISO 4017")),
    ("Ball bearing", ("6204-2RS", "6306 ZZ C3", "SKF 6205")),
    ("Steel sheet", ("2 mm S235JR", "1.5 mm DC01 1000x2000", "3 mm 1.4301")),
    ("Hydraulic hose", ("1/2 in 2 m", "DN10 350 bar", "3/8 in 1.5 m")),
    ("Cable tie", ("200x4.8 mm black", "300x7.6 mm UV resistant")),
    ("Copper cable", ("NYM-J 3x1.5 mm2", "H07V-K 6 mm2 blue")),
    ("Pallet wrap film", ("500 mm 23 my", "transparent 450 mm")),
    ("Safety gloves", ("size 9 EN 388", "nitrile size L")),
    ("Gear motor", ("0.75 kW 230/400 V", "1.1 kW IE3")),
    ("Printed circuit board", ("rev C 4-layer", "controller v2.1")),
    ("Aluminium profile", ("40x40 slot 8", "30x60 anodized 6 m")),
    ("Industrial adhesive", ("2K epoxy 50 ml", "cyanoacrylate 20 g")),
    ("Corrugated box", ("600x400x300 mm", "double wall 40x30x20")),
    ("Pneumatic valve", ("5/2-way G1/4", "3/2-way 24 V DC")),
    ("Office paper", ("A4 80 g/m2 white", "Letter 20 lb")),
    ("Lubricating oil", ("ISO VG 46 20 L", "SAE 10W-40 5 L")),
    ("Polypropylene granulate", ("PP H 25 kg bag", "natural MFI 12")),
    ("Toner cartridge", ("black HP 59A", "cyan high yield")),
)
_SERVICES = (
    "Maintenance service compressor",
    "Consulting services SAP MM",
    "Calibration of measuring equipment",
    "Installation and commissioning",
    "Cleaning services production hall",
    "Software licence renewal",
    "Freight forwarding charges",
    "Training course forklift safety",
    "Inspection of pressure vessels",
    "IT support monthly fee",
    "Engineering services design review",
    "Waste disposal container exchange",
)


class Content:
    """Random values of one document: a per-sample Faker, the format, SAP-like numbers."""

    def __init__(self, rng: np.random.Generator, locale: str, *, dense: bool = False):
        self.rng = rng
        self.locale = locale
        self.dense = dense  # small fonts / dense layout: more lines on the page
        self.fake = faker_for(locale)
        self.fake.seed_instance(int(rng.integers(2**31)))
        self.fmt = Fmt.draw(rng, locale)
        self.today = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 6 * 365)))

    def filler(self, sentences: int) -> str:
        """Running text: English words for the en locales (en_GB's Faker lorem is Latin)."""
        fake = faker_for("de_DE" if self.locale == "de_DE" else "en_US")
        fake.seed_instance(int(self.rng.integers(2**31)))
        return _clean(fake.paragraph(nb_sentences=sentences))

    def p(self, probability: float) -> bool:
        return bool(self.rng.random() < probability)

    def pick(self, seq: Sequence[Any]) -> Any:
        return choice(self.rng, seq)

    def cap(self, options: str) -> str:
        """One of the ``|``-separated caption spellings."""
        return self.pick(options.split("|"))

    def date(self, offset_lo: int = 0, offset_hi: int = 0) -> dt.date:
        return self.today + dt.timedelta(days=int(self.rng.integers(offset_lo, offset_hi + 1)))

    def ds(self, offset_lo: int = 0, offset_hi: int = 0) -> str:
        return self.fmt.date(self.date(offset_lo, offset_hi))

    def party(self) -> Party:
        f = self.fake
        name = _clean(f.company())
        street = _clean(f.street_address())
        city = _clean(f.city())
        if self.locale == "de_DE":
            lines = [street, f"{f.postcode()} {city}"]
            tax = "DE" + _digits(self.rng, 9)
            tax = tax if self.p(0.6) else f"DE {tax[2:5]} {tax[5:8]} {tax[8:]}"
        elif self.locale == "en_GB":
            lines = [street, city, _clean(f.postcode())]
            tax = "GB" + _digits(self.rng, 9)
            tax = tax if self.p(0.6) else f"GB {tax[2:5]} {tax[5:9]} {tax[9:]}"
        else:
            lines = [street, f"{city}, {f.state_abbr()} {f.zipcode()}"]
            tax = f"{_digits(self.rng, 2)}-{_digits(self.rng, 7)}"
            tax = tax if self.p(0.6) else f"EIN {tax}"
        if self.p(0.3):
            lines.append({"de_DE": "Germany", "en_GB": "United Kingdom", "en_US": "USA"}[self.locale])
        contact = _clean(f.name())
        email = f"{f.user_name()}@{f.domain_name()}"
        email = "".join(c for c in unicodedata.normalize("NFKD", email) if c.isascii() and not c.isspace())
        if self.p(0.4):
            email = f"{contact} <{email}>"
        return Party(name, lines, tax, contact, _clean(f.phone_number()), email, city)

    # SAP-like numbers
    def number(self, kind: str) -> str:
        r, d = self.rng, functools.partial(_digits, self.rng)
        year = self.today.year
        options: dict[str, list[Callable[[], str]]] = {
            "PO": [lambda: f"45{d(8)}"],
            "PO_REF": [lambda: f"45{d(8)}"] * 3 + [lambda: f"45{d(8)} / {10 * int(r.integers(1, 9)):05d}"],
            "SO": [lambda: f"1{d(7)}", lambda: f"00{d(8)}", lambda: f"SO {d(7)}", lambda: f"SO {d(8)}"],
            "INVOICE": [
                lambda: f"9{d(7)}",
                lambda: f"INV-{year}-{d(5)}",
                lambda: f"INV {year}-{d(5)}",
                lambda: f"{year}/{d(5)}",
            ],
            "DELIVERY": [lambda: f"80{d(6)}", lambda: f"DN {d(8)}"],
            "GR": [lambda: f"50{d(8)}"],
            "QUOTATION": [lambda: f"20{d(6)}", lambda: f"QT {year}-{d(4)}", lambda: f"QT {d(6)}"],
            "RFQ": [lambda: f"60{d(8)}", lambda: f"RFQ {d(8)}", lambda: f"RFQ {year}-{d(4)}"],
            "CONTRACT": [lambda: f"46{d(8)}", lambda: f"CTR {year}-{d(3)}", lambda: f"SA-{year}-{d(4)}"],
            "CREDIT": [lambda: f"CM-{year}-{d(4)}", lambda: f"CN {year}/{d(4)}", lambda: f"7{d(7)}"],
            "DEBIT": [lambda: f"DM-{year}-{d(4)}", lambda: f"DN-{year}-{d(4)}", lambda: f"DB {d(7)}"],
            "PAYMENT": [lambda: f"20{d(8)}", lambda: f"PAY-{year}-{d(6)}", lambda: f"PA {d(8)}"],
            "REMITTANCE": [lambda: f"RA-{year}-{d(5)}", lambda: f"15{d(8)}", lambda: f"REM {d(6)}"],
            "STATEMENT": [
                lambda: f"ST-{year}{self.today.month:02d}-{d(4)}",
                lambda: f"{d(10)}",
                lambda: f"SOA {d(6)}",
            ],
            "ASN": [lambda: f"18{d(8)}", lambda: f"ASN-{year}-{d(5)}", lambda: f"ASN {d(8)}"],
            "LETTER": [lambda: f"{_letters(r, 2)}/{d(4)}/{year}", lambda: f"REF-{d(6)}"],
            "REF": [
                lambda: f"REF-{year}-{d(5)}",
                lambda: f"RF{d(2)} {d(4)} {d(4)} {d(4)}",
                lambda: f"{d(10)}",
            ],
            "CUSTOMER": [lambda: f"{d(6)}", lambda: f"00{d(8)}", lambda: f"CUST {d(6)}"],
            "VENDOR": [lambda: f"{d(6)}", lambda: f"00{d(8)}", lambda: f"V-{d(6)}", lambda: f"VEND {d(6)}"],
        }
        return self.pick(options[kind])()

    def org(self, kind: str) -> str:
        code = {
            "PLANT": self.pick(("1000", "1100", "1200", "2000", "2100", "3000")),
            "SLOC": self.pick(("0001", "0002", "0010", "FG01", "RM01", "1000")),
            "PGRP": self.pick(("001", "002", "A01", "B12", "100")),
            "PORG": self.pick(("1000", "2000", "3000", "0001")),
            "SORG": self.pick(("1000", "1010", "2000", "3000")),
            "CC": self.pick(("1000", "2000", "3000", "1010")),
        }[kind]
        if self.p(0.5):
            return code
        name = {
            "PLANT": _clean(self.fake.city()),
            "SLOC": self.pick(
                ("Main Warehouse", "Raw Materials", "Finished Goods", "Spare Parts", "Quality Stock")
            ),
            "PGRP": self.pick(
                ("Electrical", "Mechanical", "Indirect Materials", "Packaging", "IT Procurement")
            ),
            "PORG": self.pick(("Central Purchasing", "Purch. Org. Europe", "Global Procurement")),
            "SORG": self.pick(("Domestic Sales", "Export Sales", "Sales Org. North")),
            "CC": _clean(self.fake.company()).split(",")[0],
        }[kind]
        return f"{code} {name}"

    def material(self) -> str:
        d = functools.partial(_digits, self.rng)
        return self.pick(
            (
                f"1000{d(4)}",
                f"00{d(8)}",
                f"RM-{d(6)}",
                f"FG-{d(4)}-A",
                f"M-{d(4)}-{d(2)}",
                f"0 {d(3)} {d(3)} {d(3)}",
            )
        )

    def batch(self) -> str:
        d = functools.partial(_digits, self.rng)
        return self.pick((f"B{d(8)}", f"00{d(8)}", f"LOT {d(2)}-{d(4)}", f"CH{d(6)}"))

    def serial(self) -> str:
        d = functools.partial(_digits, self.rng)
        return self.pick((f"SN{d(8)}", f"{d(10)}", f"SN-{self.today.year}-{d(5)}", f"{d(4)} {d(4)} {d(4)}"))

    def tracking(self) -> str:
        d, r = functools.partial(_digits, self.rng), self.rng
        return self.pick(
            (
                f"1Z {d(3)} {_letters(r, 2)}{d(1)} {d(2)} {d(4)} {d(4)}",
                f"00340{d(15)}",
                f"{d(4)} {d(4)} {d(4)}",
                f"JJD{d(18)}",
            )
        )

    def container(self) -> str:
        owner = self.pick(("MSCU", "MAEU", "HLXU", "CMAU", "TGHU"))
        serial = _digits(self.rng, 6)
        return (
            f"{owner}{serial}{_digits(self.rng, 1)}"
            if self.p(0.4)
            else f"{owner} {serial} {_digits(self.rng, 1)}"
        )

    def route(self) -> str:
        if self.p(0.3):
            return f"R{_digits(self.rng, 5)}"
        return f"{_digits(self.rng, 6)} {_clean(self.fake.city())}-{_clean(self.fake.city())}"

    def bill_of_lading(self) -> str:
        d = functools.partial(_digits, self.rng)
        return self.pick(
            (
                f"MAEU{d(9)}",
                f"HLCUHAM{d(9)}",
                f"MEDU {d(4)} {d(4)}",
                f"HLCU HAM {d(9)}",
                f"BL-{d(8)}",
                f"MAEU {d(9)}",
            )
        )

    def iban(self) -> str:
        country = {"de_DE": "DE", "en_GB": "GB", "en_US": self.pick(("DE", "GB", "NL"))}[self.locale]
        bban = {
            "DE": _digits(self.rng, 18),
            "GB": _letters(self.rng, 4) + _digits(self.rng, 14),
            "NL": _letters(self.rng, 4) + _digits(self.rng, 10),
        }[country]
        numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
        iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
        return iban if self.p(0.3) else " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))

    def bic(self) -> str:
        bank = self.pick(("DEUT", "COBA", "BARC", "HSBC", "CHAS", "BOFA", "INGB", "DRES", "LOYD", "NWBK"))
        country = {"de_DE": "DE", "en_GB": "GB", "en_US": "US"}[self.locale]
        loc, branch = _letters(self.rng, 2), self.pick(("XXX", "", "500", ""))
        return f"{bank}{country}{loc}{branch}" if self.p(0.7) else f"{bank} {country} {loc} {branch or 'XXX'}"

    def bank(self) -> str:
        return self.pick(
            {
                "de_DE": (
                    "Deutsche Bank AG",
                    "Commerzbank AG",
                    "Sparkasse KölnBonn",
                    "Postbank",
                    "HypoVereinsbank",
                    "DZ Bank",
                ),
                "en_GB": (
                    "Barclays Bank PLC",
                    "HSBC UK Bank plc",
                    "Lloyds Bank plc",
                    "NatWest",
                    "Santander UK plc",
                ),
                "en_US": (
                    "Bank of America, N.A.",
                    "JPMorgan Chase Bank",
                    "Wells Fargo Bank",
                    "Citibank N.A.",
                    "PNC Bank",
                ),
            }[self.locale]
        )

    def account(self) -> str:
        n = _digits(self.rng, 8 if self.locale == "en_GB" else 10)
        return n if self.p(0.6) else f"{n[:4]} {n[4:]}"

    def incoterms(self) -> str:
        rule = self.pick(("EXW", "FCA", "CPT", "CIP", "DAP", "DPU", "DDP", "FOB", "CIF", "CFR"))
        if self.p(0.25):
            return rule
        place = _clean(self.fake.city())
        return f"{rule} {place}" + (" Incoterms 2020" if self.p(0.4) else "")

    def payment_terms(self) -> str:
        return self.pick(
            (
                "Net 30 days",
                "30 days net",
                "2% 10 days, net 30",
                "Due on receipt",
                "14 days 2% discount, 30 days net",
                "ZB01 14 days 3%, 30 days 2%, 45 days net",
                "Net 60",
                "Payable within 14 days",
                "0001 Payable immediately",
                "End of month plus 30 days",
            )
        )

    def payment_method(self) -> str:
        return self.pick(
            (
                "Bank transfer",
                "SEPA credit transfer",
                "Wire transfer",
                "ACH",
                "Cheque",
                "Direct debit",
                "BACS",
            )
        )

    def carrier(self) -> str:
        return self.pick(
            (
                "DHL Freight",
                "DB Schenker",
                "Kuehne + Nagel",
                "UPS",
                "FedEx",
                "DSV Road",
                "Dachser",
                "Maersk",
                "XPO Logistics",
                "Royal Mail",
                "Hermes",
            )
        )

    def shipping_method(self) -> str:
        return self.pick(
            (
                "Road freight",
                "Air freight",
                "Sea freight",
                "Courier",
                "Parcel",
                "LTL",
                "FTL",
                "Rail freight",
                "Express",
            )
        )

    def weight(self) -> str:
        tenths = int(self.rng.integers(50, 250000))
        if self.p(0.3):
            return f"{self.fmt.qty(tenths // 10)}kg"
        return f"{self.fmt.qty(tenths // 10)}{self.fmt.decimal}{tenths % 10} {self.pick(('kg', 'KG'))}"

    def tax_rate(self) -> int:
        """Basis points."""
        return int(
            self.pick(
                {"de_DE": (1900, 1900, 700), "en_GB": (2000, 2000, 500), "en_US": (0, 625, 700, 825, 887)}[
                    self.locale
                ]
            )
        )

    def items(
        self, n: int, *, service: bool = False, price_lo: int = 200, price_hi: int = 250000
    ) -> list[dict[str, Any]]:
        items = []
        for i in range(1, n + 1):
            if service or self.p(0.1):
                desc = self.pick(_SERVICES)
                uom = self.pick(_SERVICE_UOM)
            else:
                base, specs = self.pick(_PARTS)
                desc = f"{base} {self.pick(specs)}"
                uom = self.pick(_UOM)
            qty = int(self.rng.choice((1, 2, 5, 10, 12, 20, 24, 50, 100, 250, 500, 1000, 2500, 10000)))
            qty = max(1, int(qty * self.rng.uniform(0.5, 1.5)))
            price = int(np.exp(self.rng.uniform(np.log(price_lo), np.log(price_hi))))
            if qty > 500:
                price = max(5, price // 100)
            items.append(
                {
                    "no": self.fmt.item_no(i),
                    "material": self.material(),
                    "desc": desc,
                    "qty": qty,
                    "uom": uom[1] if self.fmt.uom_long else uom[0],
                    "price": price,
                    "amount": qty * price,
                    "batch": self.batch(),
                    "serial": self.serial(),
                    "date": self.ds(3, 60),
                }
            )
        return items


# -- layout ----------------------------------------------------------------------------------
KV = tuple[str, "str | None", str]  # caption, field (None: unlabelled), value
Column = tuple[str, "str | None", str, float]  # caption, field, align, width weight

ROLE_FIELDS: dict[str, tuple[str | None, ...]] = {  # name, address, tax id, contact, phone, email
    "VENDOR": (
        "VENDOR_NAME",
        "VENDOR_ADDRESS",
        "VENDOR_TAX_ID",
        "VENDOR_CONTACT",
        "VENDOR_PHONE",
        "VENDOR_EMAIL",
    ),
    "BUYER": ("BUYER_NAME", "BUYER_ADDRESS", "BUYER_TAX_ID", "BUYER_CONTACT", None, None),
    "BILL_TO": ("BUYER_NAME", "BILL_TO_ADDRESS", "BUYER_TAX_ID", "BUYER_CONTACT", None, None),
    "SHIP_TO": ("SHIP_TO_NAME", "SHIP_TO_ADDRESS", None, None, None, None),
}
_GRAYS = {"fill_header": (0.86, 0.86, 0.86), "fill_row": (0.94, 0.94, 0.94), "rule": (0.35, 0.35, 0.35)}


@dataclass(frozen=True)
class Variant:
    """One layout variant of a document type."""

    header: str  # left | right | center: where the issuer's name and address go
    arrangement: str  # side (parties left, meta right) | stacked | meta_first
    kv_mode: str  # inline ("Caption: value") | above (caption over value)
    table: str  # grid | rules | plain | zebra
    boxed: bool  # frames around the meta and totals blocks

    def name(self) -> str:
        return f"{self.header}-{self.arrangement}-{self.kv_mode}-{self.table}" + (
            "-boxed" if self.boxed else ""
        )


def variants_of(doc_type: str) -> tuple[Variant, ...]:
    """The :data:`NUM_VARIANTS` layout variants of ``doc_type`` (the last one is the one
    ``holdout_layouts`` keeps for test)."""
    t = DOC_TYPES.index(doc_type)
    headers, arrangements = ("left", "right", "center"), ("side", "stacked", "meta_first")
    modes, tables = ("inline", "above"), ("grid", "rules", "plain", "zebra")
    return tuple(
        Variant(
            headers[(v + t) % 3],
            arrangements[(v + 2 * t) % 3],
            modes[(v + t // 3) % 2],
            tables[(v + t) % 4],
            bool((v + t) % 2),
        )
        for v in range(NUM_VARIANTS)
    )


@dataclass
class Style:
    regular: str
    bold: str
    size: float
    leading: float
    margin: float
    caption_gray: float
    caption_colon: bool
    caption_upper: bool
    caption_bold: bool
    title_size: float


@dataclass
class Doc:
    """What one document shows; :func:`_compose` lays it out."""

    title: str
    issuer_role: str  # VENDOR or BUYER: the party in the letterhead
    issuer: Party
    parties: list[tuple[str, str, Party]] = field(default_factory=list)  # (heading, role, party)
    meta: list[KV] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    row: Callable[[dict[str, Any]], list[str]] | None = None
    totals: Callable[[list[dict[str, Any]]], list[KV]] | None = None
    body: list[tuple[Any, ...]] = field(
        default_factory=list
    )  # ("kv", items, ncols) | ("para", segments) | ("note", text) | ("sign", parts) | ("heading", text)
    footer: list[KV] = field(default_factory=list)
    issuer_extras: tuple[str, ...] = ("phone", "email")
    intro: list[tuple[Any, ...]] = field(default_factory=list)  # blocks drawn before the table


class Painter:
    """Draws blocks top-down on a :class:`DocumentCanvas`; each value gets its own tag
    ``FIELD#n`` so that its words become one B-/I- run."""

    def __init__(self, canvas: DocumentCanvas, style: Style, variant: Variant):
        self.c = canvas
        self.s = style
        self.v = variant
        w, h = canvas.page_size
        self.left, self.right = style.margin, w - style.margin
        self.top, self.bottom = style.margin * 0.75, h - style.margin * 0.75
        self.y = self.top
        self._n = 0

    @property
    def lh(self) -> float:
        return self.s.size * self.s.leading

    def tag(self, field_name: str | None) -> str | None:
        if field_name is None:
            return None
        self._n += 1
        return f"{field_name}#{self._n}"

    def caption(self, text: str) -> str:
        if not text:
            return ""
        text = text.upper() if self.s.caption_upper else text
        return text + ":" if self.s.caption_colon and not text.endswith((":", "#", ".")) else text

    def measure(self, draw: Callable[[], Any]) -> float:
        """Height ``draw`` takes from the current ``y``, drawn on a scratch canvas."""
        canvas, y = self.c, self.y
        self.c = DocumentCanvas(canvas.page_size, canvas.fonts)
        try:
            draw()
            return self.y - y
        finally:
            self.c, self.y = canvas, y

    # primitives
    def lines(
        self,
        x: float,
        y: float,
        width: float,
        text: str,
        tag: str | None,
        *,
        bold: bool = False,
        size: float | None = None,
        align: str = "left",
        gray: float = 0.0,
        wrap: bool = True,
    ) -> float:
        """Draw ``text`` (``\\n`` separates lines) wrapped to ``width``; returns the y below it."""
        font = self.s.bold if bold else self.s.regular
        size = size or self.s.size
        ascent = self.c.fonts.ascent(font, size)
        lh = size * self.s.leading
        ax = x + width if align == "right" else x + width / 2 if align == "center" else x
        for part in text.split("\n"):
            if not part:
                continue
            # + 0.01: a run measured to be exactly ``width`` wide must not break (float rounding)
            for line in self.c.fonts.wrap(part, font, size, max(width, 1.0) + 0.01) if wrap else [part]:
                if line.strip():
                    self.c.text(
                        ax,
                        y + ascent,
                        line.strip(),
                        font,
                        size,
                        field=tag,
                        align=align,
                        color=(gray, gray, gray),
                    )
                y += lh
        return y

    def cap(
        self, x: float, y: float, width: float, text: str, *, align: str = "left", size: float | None = None
    ) -> float:
        return self.lines(
            x,
            y,
            width,
            self.caption(text),
            None,
            bold=self.s.caption_bold,
            size=size,
            align=align,
            gray=self.s.caption_gray,
        )

    # blocks
    def kv(self, x: float, y: float, width: float, items: Sequence[KV], mode: str | None = None) -> float:
        mode = mode or self.v.kv_mode
        font = self.s.bold if self.s.caption_bold else self.s.regular
        gap = self.s.size * 0.8
        widest = max((self.c.fonts.width(self.caption(c), font, self.s.size) for c, _, _ in items), default=0)
        if mode == "inline" and widest + gap > width * 0.5:
            mode = "above"  # a narrow column: captions over the values rather than broken captions
        if mode == "inline":
            capw = widest + gap
            for caption, field_name, value in items:
                y_cap = self.cap(x, y, capw - gap, caption)
                y_val = self.lines(x + capw, y, width - capw, value, self.tag(field_name))
                y = max(y_cap, y_val)
            return y
        small = self.s.size * 0.82
        for caption, field_name, value in items:
            y = self.cap(x, y, width, caption, size=small)
            y = self.lines(x, y, width, value, self.tag(field_name)) + self.lh * 0.3
        return y

    def kv_grid(
        self, x: float, y: float, width: float, items: Sequence[KV], ncols: int, mode: str | None = None
    ) -> float:
        colw = width / ncols
        for start in range(0, len(items), ncols):
            y = max(
                self.kv(x + i * colw, y, colw - 6, [item], mode)
                for i, item in enumerate(items[start : start + ncols])
            )
        return y

    def party(
        self, x: float, y: float, width: float, heading: str, role: str, p: Party, extras: Sequence[str] = ()
    ) -> float:
        name_f, addr_f, tax_f, contact_f, phone_f, email_f = ROLE_FIELDS[role]
        if heading:
            y = self.cap(x, y, width, heading)
        y = self.lines(x, y, width, p.name, self.tag(name_f), bold=True)
        y = self.lines(x, y, width, "\n".join(p.address), self.tag(addr_f))
        rows = []
        for key, f, caption, value in (
            ("tax", tax_f, "VAT Reg. No.|Tax ID|VAT ID", p.tax_id),
            ("contact", contact_f, "Contact|Attn.|Contact person", p.contact),
            ("phone", phone_f, "Phone|Tel.|Telephone", p.phone),
            ("email", email_f, "Email|E-mail", p.email),
        ):
            if key in extras and f is not None:
                rows.append((caption.split("|")[len(p.name) % len(caption.split("|"))], f, value))
        return self.kv(x, y, width, rows, "inline") if rows else y

    def header(self, doc: Doc, logo: int) -> None:
        s, v, p = self.s, self.v, doc.issuer
        name_f, addr_f, *_ = ROLE_FIELDS[doc.issuer_role]
        width = (self.right - self.left) * (0.55 if v.header != "center" else 1.0)
        x = self.left if v.header != "right" else self.right - width
        align = {"left": "left", "right": "right", "center": "center"}[v.header]
        y = self.top
        if logo:
            lx = x if v.header == "left" else x + width - 34 if v.header == "right" else x + width / 2 - 17
            if logo == 1:
                self.c.ellipse(lx, y, lx + 34, y + 34, stroke=None, fill=(0.45, 0.45, 0.45))
            else:
                self.c.rect(lx, y, lx + 34, y + 22, stroke=None, fill=(0.3, 0.3, 0.3))
                self.c.rect(lx + 8, y + 6, lx + 26, y + 16, stroke=None, fill=(1, 1, 1))
            y += 40
        y = self.lines(x, y, width, p.name, self.tag(name_f), bold=True, size=s.size * 1.5, align=align)
        address = ", ".join(p.address) if len(p.name) % 2 else "\n".join(p.address)
        y = self.lines(x, y, width, address, self.tag(addr_f), size=s.size * 0.92, align=align)
        fields = dict(zip(("tax", "contact", "phone", "email"), ROLE_FIELDS[doc.issuer_role][2:]))
        values = {"tax": p.tax_id, "contact": p.contact, "phone": p.phone, "email": p.email}
        captions = {"tax": "VAT ID", "contact": "Contact", "phone": "Tel.", "email": "Email"}
        for key in doc.issuer_extras:
            if fields[key] is None:
                continue
            line_w = (
                self.c.fonts.width(f"{self.caption(captions[key])} {values[key]}", s.regular, s.size * 0.9)
                + 4
            )
            if align == "left":
                cx = x
            elif align == "right":
                cx = x + width - line_w
            else:
                cx = x + (width - line_w) / 2
            capw = self.c.fonts.width(self.caption(captions[key]) + " ", s.regular, s.size * 0.9)
            self.lines(
                cx,
                y,
                capw,
                self.caption(captions[key]),
                None,
                size=s.size * 0.9,
                gray=s.caption_gray,
                wrap=False,
            )
            y = self.lines(
                cx + capw,
                y,
                max(line_w - capw, width - capw),
                values[key],
                self.tag(fields[key]),
                size=s.size * 0.9,
            )
        if v.header == "center":
            y = self.lines(
                self.left,
                y + self.lh * 0.6,
                self.right - self.left,
                doc.title,
                None,
                bold=True,
                size=s.title_size,
                align="center",
            )
        else:
            tx = self.left if v.header == "right" else self.left + width + 10
            tw = self.right - self.left - width - 10
            ty = self.lines(
                tx,
                self.top + 4,
                tw,
                doc.title,
                None,
                bold=True,
                size=s.title_size,
                align="right" if v.header == "left" else "left",
            )
            y = max(y, ty)
        self.y = y + self.lh * 0.6
        if not v.boxed:
            self.c.line(
                self.left,
                self.y - self.lh * 0.3,
                self.right,
                self.y - self.lh * 0.3,
                width=0.8,
                color=_GRAYS["rule"],
            )
            self.y += self.lh * 0.2

    def table(self, columns: Sequence[Column], rows: Sequence[Sequence[str]], limit: float) -> int:
        """Draw the item table from ``self.y`` with as many rows as fit above ``limit``."""
        s, style = self.s, self.v.table
        x0, width = self.left, self.right - self.left
        pad, size, hsize = 2.5, s.size * 0.95, s.size * 0.9
        total = sum(c[3] for c in columns)
        widths = [width * c[3] / total for c in columns]
        # every column at least as wide as its longest word (no words broken into pieces); the
        # room comes from columns with slack (the description)
        fonts = self.c.fonts
        need = [
            max(
                [fonts.width(w, s.bold, hsize) for w in c[0].split()]
                + [fonts.width(w, s.regular, size) for row in rows for w in row[i].split()]
            )
            + 2 * pad
            + 0.5
            for i, c in enumerate(columns)
        ]
        grown = [max(w, n) for w, n in zip(widths, need)]
        excess = sum(grown) - width
        slack = [g - n for g, n in zip(grown, need)]
        if excess > 0 and sum(slack) >= excess:
            widths = [g - excess * sl / sum(slack) for g, sl in zip(grown, slack)]
        edges = [x0]
        for w in widths:
            edges.append(edges[-1] + w)
        lh = size * s.leading
        top = y = self.y
        wraps = [
            self.c.fonts.wrap(c[0], s.bold, hsize, edges[i + 1] - edges[i] - 2 * pad)
            for i, c in enumerate(columns)
        ]
        head_h = max(len(w) for w in wraps) * hsize * s.leading + 2 * pad
        if style == "zebra":
            self.c.rect(x0, y, x0 + width, y + head_h, stroke=None, fill=_GRAYS["fill_header"])
        for i, c in enumerate(columns):
            align = c[2]
            self.lines(
                edges[i] + pad,
                y + pad,
                edges[i + 1] - edges[i] - 2 * pad,
                c[0],
                None,
                bold=True,
                size=hsize,
                align=align,
            )
        y += head_h
        if style in ("grid", "rules"):
            self.c.line(x0, y, x0 + width, y, width=0.8)
        drawn = 0
        for r, row in enumerate(rows):
            cells = [
                self.c.fonts.wrap(v, s.regular, size, edges[i + 1] - edges[i] - 2 * pad) if v else []
                for i, v in enumerate(row)
            ]
            row_h = max(1, max(len(c) for c in cells)) * lh + 2 * pad
            if y + row_h > limit and drawn:
                break
            if style == "zebra" and r % 2:
                self.c.rect(x0, y, x0 + width, y + row_h, stroke=None, fill=_GRAYS["fill_row"])
            for i, (c, value) in enumerate(zip(columns, row)):
                if value:
                    self.lines(
                        edges[i] + pad,
                        y + pad,
                        edges[i + 1] - edges[i] - 2 * pad,
                        value,
                        self.tag(c[1]),
                        size=size,
                        align=c[2],
                    )
            y += row_h
            drawn += 1
            if style == "grid":
                self.c.line(x0, y, x0 + width, y, width=0.4)
        if style == "grid":
            self.c.rect(x0, top, x0 + width, y, width=0.8)
            for e in edges[1:-1]:
                self.c.line(e, top, e, y, width=0.4)
        elif style == "rules":
            self.c.line(x0, y, x0 + width, y, width=0.8)
        self.y = y + self.lh * 0.6
        return drawn

    def totals(self, items: Sequence[KV]) -> None:
        width = (self.right - self.left) * 0.45
        x = self.right - width
        y0 = y = self.y
        for n, (caption, field_name, value) in enumerate(items):
            last = n == len(items) - 1
            if last and not self.v.boxed:
                self.c.line(x, y, self.right, y, width=0.6)
                y += 2
            self.lines(
                x + 3,
                y,
                width * 0.55,
                self.caption(caption),
                None,
                bold=last or self.s.caption_bold,
                gray=0 if last else self.s.caption_gray,
            )
            y = self.lines(
                x + width * 0.45, y, width * 0.55 - 3, value, self.tag(field_name), bold=last, align="right"
            )
        if self.v.boxed:
            self.c.rect(x - 2, y0 - 3, self.right, y + 1, width=0.7)
        self.y = y + self.lh * 0.7

    def paragraph(self, segments: Sequence[tuple[str, str | None]], *, size: float | None = None) -> None:
        """Running text with values inline (each segment's words tagged with its field)."""
        size = size or self.s.size
        font = self.s.regular
        ascent, space = self.c.fonts.ascent(font, size), self.c.fonts.width(" ", font, size)
        lh = size * self.s.leading
        x, y = self.left, self.y
        for text, field_name in segments:
            tag = self.tag(field_name)
            for word in text.split():
                w = self.c.fonts.width(word, font, size)
                if x > self.left and x + w > self.right:
                    x, y = self.left, y + lh
                self.c.text(x, y + ascent, word, font, size, field=tag)
                x += w + space
        self.y = y + lh * 1.5

    def signatures(self, parts: Sequence[tuple[str, str, str]]) -> None:
        width = (self.right - self.left) / max(2, len(parts))
        y0 = self.y
        for i, (heading, name, title) in enumerate(parts):
            x = self.left + i * width
            y = (self.cap(x, y0, width - 20, heading) if heading else y0) + self.lh * 2.2
            self.c.line(x, y, x + width - 30, y, width=0.6)
            y = self.lines(x, y + 3, width - 20, name, self.tag("SIGNATORY_NAME"))
            y = self.lines(x, y, width - 20, title, self.tag("SIGNATORY_TITLE"))
            self.y = max(self.y, y)
        self.y += self.lh * 0.6

    def block(self, block: tuple[Any, ...]) -> None:
        kind = block[0]
        if kind == "kv":
            self.y = (
                self.kv_grid(self.left, self.y, self.right - self.left, block[1], block[2]) + self.lh * 0.5
            )
        elif kind == "para":
            self.paragraph(block[1])
        elif kind == "heading":
            self.y = (
                self.lines(
                    self.left,
                    self.y,
                    self.right - self.left,
                    block[1],
                    None,
                    bold=True,
                    size=self.s.size * 1.1,
                )
                + self.lh * 0.2
            )
        elif kind == "note":
            self.y = (
                self.lines(
                    self.left,
                    self.y,
                    self.right - self.left,
                    block[1],
                    None,
                    size=self.s.size * 0.9,
                    gray=self.s.caption_gray,
                )
                + self.lh * 0.5
            )
        elif kind == "sign":
            self.signatures(block[1])
        else:
            raise ValueError(f"unknown block kind {kind!r}")

    def footer(self, items: Sequence[KV]) -> None:
        """Small print at the bottom of the page (bank details etc.), drawn from ``self.y``."""
        self.c.line(self.left, self.y, self.right, self.y, width=0.5, color=_GRAYS["rule"])
        self.y += 4
        size = self.s.size * 0.85
        saved = self.s.size
        self.s.size = size
        try:
            self.y = self.kv_grid(
                self.left,
                self.y,
                self.right - self.left,
                items,
                3 if len(items) > 2 else len(items),
                "inline",
            )
        finally:
            self.s.size = saved


def _compose(
    p: Painter, doc: Doc, logo: int, party_extras: Sequence[tuple[str, ...]]
) -> list[dict[str, Any]]:
    """Lay ``doc`` out on one page; returns the items that fit in the table."""
    v, width = p.v, p.right - p.left
    p.header(doc, logo)
    parties = doc.parties
    if v.arrangement == "side" and doc.meta:
        lw = width * 0.55 if parties else 0
        y = p.y
        for (heading, role, party), extras in zip(parties, party_extras):
            y = p.party(p.left, y, lw - 10, heading, role, party, extras) + p.lh * 0.5
        mx, mw = p.left + lw, width - lw
        y_meta = p.kv(mx + 4, p.y + 3, mw - 8, doc.meta)
        if v.boxed:
            p.c.rect(mx, p.y, p.right, y_meta + 2, width=0.7)
        p.y = max(y, y_meta + p.lh * 0.5)
    else:
        if v.arrangement == "meta_first" and doc.meta:
            ncols = 4 if v.kv_mode == "above" else 2
            y = p.kv_grid(p.left + 3, p.y + 3, width - 6, doc.meta, ncols)
            if v.boxed:
                p.c.rect(p.left, p.y, p.right, y + 2, width=0.7)
            p.y = y + p.lh * 0.6
        if parties:
            colw = width / max(2, len(parties))
            y = p.y
            for i, ((heading, role, party), extras) in enumerate(zip(parties, party_extras)):
                y = max(y, p.party(p.left + i * colw, p.y, colw - 12, heading, role, party, extras))
            p.y = y + p.lh * 0.6
        if v.arrangement != "meta_first" and doc.meta:
            ncols = 3 if v.kv_mode == "above" else 2
            y = p.kv_grid(p.left + 3, p.y + 3, width - 6, doc.meta, ncols)
            if v.boxed:
                p.c.rect(p.left, p.y, p.right, y + 2, width=0.7)
            p.y = y + p.lh * 0.6

    for block in doc.intro:
        p.block(block)
    footer_h = p.measure(lambda: p.footer(doc.footer)) if doc.footer else 0.0
    items = doc.items
    if doc.columns and doc.row is not None:
        totals = doc.totals(items) if doc.totals else []
        tail = p.measure(lambda: [p.totals(totals) if totals else None] + [p.block(b) for b in doc.body])
        drawn = p.table(doc.columns, [doc.row(it) for it in items], p.bottom - footer_h - tail - p.lh)
        items = items[:drawn]
        if doc.totals:
            p.totals(doc.totals(items))
    for block in doc.body:
        if p.y + p.measure(functools.partial(p.block, block)) <= p.bottom - footer_h:
            p.block(block)
    if doc.footer:
        p.y = max(p.y, p.bottom - footer_h)
        p.footer(doc.footer)
    return items


# -- document types --------------------------------------------------------------------------
_COLUMNS: dict[str, tuple[str, str | None, str, float]] = {  # key -> (captions, field, align, weight)
    "no": ("Item|Pos.|No.|Line", "ITEM_NUMBER", "left", 0.65),
    "material": ("Material|Material No.|Article No.|Part No.", "MATERIAL_NUMBER", "left", 1.55),
    "desc": ("Description|Item Description|Material Description|Short Text", "ITEM_DESCRIPTION", "left", 3.2),
    "qty": ("Qty|Quantity|Order Qty", "QUANTITY", "right", 0.9),
    "uom": ("Unit|UoM|UOM", "UNIT_OF_MEASURE", "left", 0.85),
    "price": ("Unit Price|Price|Net Price", "UNIT_PRICE", "right", 1.25),
    "amount": ("Amount|Net Value|Line Total|Net Amount", "LINE_AMOUNT", "right", 1.35),
    "batch": ("Batch|Lot|Batch No.", "BATCH_NUMBER", "left", 1.25),
    "serial": ("Serial No.|Serial Number", "SERIAL_NUMBER", "left", 1.35),
    "date": ("Delivery Date|Deliv. Date|Req. Date", "DELIVERY_DATE", "left", 1.15),
}


def _item_table(
    c: Content, keys: Sequence[str]
) -> tuple[list[Column], Callable[[dict[str, Any]], list[str]]]:
    f = c.fmt
    columns = []
    for key in keys:
        captions, field_name, align, weight = _COLUMNS[key]
        if key in ("price", "amount") and f.table_code:
            weight += 0.45
        if key == "uom" and f.uom_long:
            weight += 0.4
        if key == "date" and len(c.ds()) > 10:
            weight += 0.3
        columns.append((c.cap(captions), field_name, align, weight))
    cells = {
        "no": lambda it: it["no"],
        "material": lambda it: it["material"],
        "desc": lambda it: it["desc"],
        "qty": lambda it: f.qty(it["qty"]),
        "uom": lambda it: it["uom"],
        "price": lambda it: f.money(it["price"], table=True),
        "amount": lambda it: f.money(it["amount"], table=True),
        "batch": lambda it: it["batch"],
        "serial": lambda it: it["serial"],
        "date": lambda it: it["date"],
    }
    return columns, lambda it: [cells[k](it) for k in keys]


def _money_totals(
    c: Content,
    *,
    tax: bool = True,
    discount: bool = False,
    freight: bool = False,
    currency: bool = False,
    paid: bool = False,
) -> Callable[[list[dict[str, Any]]], list[KV]]:
    f = c.fmt
    rate = c.tax_rate()
    disc_bp = int(c.pick((200, 300, 500, 1000)))
    freight_cents = int(c.rng.integers(1500, 60000))
    paid_share = float(c.rng.uniform(0.2, 0.8))
    captions = {
        k: c.cap(v)
        for k, v in {
            "net": "Net Amount|Subtotal|Net Value|Total Net",
            "disc": "Discount|Less Discount|Rebate",
            "freight": "Freight|Shipping|Freight Charges",
            "rate": "Tax Rate|VAT Rate|Tax %",
            "tax": "VAT|Tax|Sales Tax|Tax Amount",
            "cur": "Currency",
            "total": "Total|Total Amount|Grand Total|Amount Due|Gross Amount",
            "paid": "Amount Paid|Paid|Less Payments",
            "due": "Balance Due|Outstanding|Amount Outstanding",
        }.items()
    }
    sales_tax = c.locale == "en_US"
    if sales_tax:
        captions["tax"] = "Sales Tax"

    def totals(items: list[dict[str, Any]]) -> list[KV]:
        net = sum(it["amount"] for it in items)
        rows: list[KV] = [(captions["net"], "NET_AMOUNT", f.money(net))]
        base = net
        if discount:
            d = (net * disc_bp + 5000) // 10000
            rows.append((captions["disc"], "DISCOUNT_AMOUNT", f.money(-d)))
            base -= d
        if freight:
            rows.append((captions["freight"], "FREIGHT_AMOUNT", f.money(freight_cents)))
            base += freight_cents
        total = base
        if tax:
            t = (base * rate + 5000) // 10000
            rows += [
                (captions["rate"], "TAX_RATE", f.percent(rate)),
                (captions["tax"], "TAX_AMOUNT", f.money(t)),
            ]
            total += t
        if currency:
            rows.append((captions["cur"], "CURRENCY", f.currency_text()))
        rows.append((captions["total"], "TOTAL_AMOUNT", f.money(total)))
        if paid:
            p = int(total * paid_share)
            rows += [
                (captions["paid"], "AMOUNT_PAID", f.money(p)),
                (captions["due"], "BALANCE_DUE", f.money(total - p)),
            ]
        return rows

    return totals


def _bank_footer(c: Content, party: Party, *, tax_field: str | None = None) -> list[KV]:
    rows: list[KV] = [
        ("Bank", "BANK_NAME", c.bank()),
        ("IBAN", "IBAN", c.iban()),
        (("BIC", "SWIFT")[int(c.p(0.3))], "BIC", c.bic()),
    ]
    if c.p(0.4) or c.locale == "en_US":
        rows.append((c.cap("Account No.|Account|Acct. No."), "ACCOUNT_NUMBER", c.account()))
    if tax_field and c.p(0.6):
        rows.append((c.cap("VAT Reg. No.|Tax ID|VAT ID"), tax_field, party.tax_id))
    return rows


def _opt(c: Content, probability: float, *rows: KV) -> list[KV]:
    return list(rows) if c.p(probability) else []


def _n_items(c: Content, lo: int = 2, hi: int = 12) -> int:
    if c.dense:
        lo, hi = hi, int(hi * 2.5)
    return int(c.rng.integers(lo, hi + 1))


def _invoice(c: Content, sub: str | None) -> Doc:
    vendor, buyer = c.party(), c.party()
    meta = [
        (c.cap("Invoice No.|Invoice Number|Invoice #"), "DOCUMENT_NUMBER", c.number("INVOICE")),
        (c.cap("Invoice Date|Date|Billing Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Due Date|Payment Due|Due"), "DUE_DATE", c.ds(14, 60)),
        (c.cap("PO Number|Your Order|Purchase Order|Customer PO"), "PO_NUMBER", c.number("PO_REF")),
        (c.cap("Customer No.|Customer ID|Account No."), "CUSTOMER_NUMBER", c.number("CUSTOMER")),
        *_opt(c, 0.4, (c.cap("Delivery Note|Delivery No."), "DELIVERY_NOTE_NUMBER", c.number("DELIVERY"))),
        *_opt(c, 0.4, (c.cap("Sales Order|Our Order"), "SO_NUMBER", c.number("SO"))),
        (c.cap("Payment Terms|Terms"), "PAYMENT_TERMS", c.payment_terms()),
        *_opt(c, 0.3, ("Incoterms", "INCOTERMS", c.incoterms())),
        *_opt(c, 0.3, (c.cap("Payment Method|Pay by"), "PAYMENT_METHOD", c.payment_method())),
        *_opt(c, 0.3, (c.cap("Payment Reference|Reference"), "PAYMENT_REFERENCE", c.number("REF"))),
    ]
    parties = [(c.cap("Bill To|Invoice To|Customer|Sold To"), "BILL_TO", buyer)]
    if c.p(0.5):
        parties.append((c.cap("Ship To|Delivery Address|Deliver To"), "SHIP_TO", c.party()))
    columns, row = _item_table(
        c,
        c.pick(
            (
                ("no", "material", "desc", "qty", "uom", "price", "amount"),
                ("no", "desc", "qty", "uom", "price", "amount"),
                ("material", "desc", "qty", "price", "amount"),
            )
        ),
    )
    return Doc(
        c.cap("INVOICE|Invoice|Tax Invoice|Commercial Invoice"),
        "VENDOR",
        vendor,
        parties,
        meta,
        columns,
        c.items(_n_items(c)),
        row,
        _money_totals(c, discount=c.p(0.3), freight=c.p(0.35), currency=c.p(0.4), paid=c.p(0.25)),
        [
            (
                "note",
                c.cap(
                    "Thank you for your business.|Please pay within the agreed terms quoting the invoice number.|Goods remain our property until paid in full."
                ),
            )
        ],
        _bank_footer(c, vendor, tax_field="VENDOR_TAX_ID"),
        c.pick((("tax", "phone", "email"), ("phone", "email"), ("tax",), ("contact", "phone"))),
    )


def _purchase_order(c: Content, sub: str | None) -> Doc:
    assert sub is not None
    order_type, title, traits = PO_SUBTYPE_INFO[sub]
    buyer, vendor = c.party(), c.party()
    meta = [
        (c.cap("PO Number|Purchase Order No.|PO No.|Order Number"), "DOCUMENT_NUMBER", c.number("PO")),
        (c.cap("PO Date|Order Date|Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Order Type|Document Type|PO Type"), "ORDER_TYPE", order_type),
        (c.cap("Vendor No.|Supplier No.|Vendor"), "VENDOR_NUMBER", c.number("VENDOR")),
        *_opt(c, 0.6, (c.cap("Purch. Org.|Purchasing Org."), "PURCHASING_ORG", c.org("PORG"))),
        *_opt(
            c, 0.7, (c.cap("Purch. Group|Purchasing Group|Buyer Group"), "PURCHASING_GROUP", c.org("PGRP"))
        ),
        *_opt(c, 0.5, (c.cap("Company Code|Co. Code"), "COMPANY_CODE", c.org("CC"))),
        (c.cap("Plant|Receiving Plant"), "PLANT", c.org("PLANT")),
        *_opt(c, 0.6, (c.cap("Storage Location|Stor. Loc."), "STORAGE_LOCATION", c.org("SLOC"))),
        (c.cap("Delivery Date|Requested Delivery|Deliver By"), "DELIVERY_DATE", c.ds(7, 60)),
        *_opt(c, 0.8, (c.cap("Payment Terms|Terms of Payment"), "PAYMENT_TERMS", c.payment_terms())),
        *_opt(
            c,
            0.6 if "import" not in traits else 1.0,
            (c.cap("Incoterms|Delivery Terms"), "INCOTERMS", c.incoterms()),
        ),
        *_opt(c, 0.5, ("Currency", "CURRENCY", c.fmt.currency_text())),
        *_opt(c, 0.3, (c.cap("Quotation|Your Quotation"), "QUOTATION_NUMBER", c.number("QUOTATION"))),
    ]
    if "contract" in traits:
        meta.append(
            (c.cap("Contract No.|Outline Agreement|Agreement"), "CONTRACT_NUMBER", c.number("CONTRACT"))
        )
    if "validity" in traits:
        meta += [
            (c.cap("Validity Start|Valid From"), "CONTRACT_START", c.ds(0, 30)),
            (c.cap("Validity End|Valid To"), "CONTRACT_END", c.ds(180, 720)),
        ]
    ship = c.party() if "drop_ship" in traits else Party(buyer.name, c.party().address, "", "", "", "", "")
    parties = [
        (c.cap("Vendor|Supplier|To"), "VENDOR", vendor),
        (c.cap("Deliver To|Ship To|Delivery Address"), "SHIP_TO", ship),
    ]
    service = "service" in traits
    keys: tuple[str, ...] = (
        ("no", "desc", "qty", "uom") if service else ("no", "material", "desc", "qty", "uom")
    )
    if "no_price" not in traits:
        keys += ("price", "amount")
    if c.p(0.4):
        keys += ("date",)
    columns, row = _item_table(c, keys)
    items = c.items(_n_items(c, 1, 10), service=service)
    if "return" in traits:
        meta.append(
            (
                c.cap("Return Reason|Reason"),
                "REASON",
                c.pick(("Defective goods", "Wrong material delivered", "Quality complaint", "Overdelivery")),
            )
        )
    body: list[tuple[Any, ...]] = []
    if "value" in sub.lower() or "LIMIT" == sub:
        body.append(
            (
                "kv",
                [
                    (
                        c.cap("Target Value|Overall Limit|Contract Value"),
                        "CONTRACT_VALUE",
                        c.fmt.money(int(c.rng.integers(10**6, 10**8))),
                    )
                ],
                1,
            )
        )
    body.append(
        (
            "note",
            c.cap(
                "Please quote our PO number on all delivery notes and invoices.|Delivery according to our general terms and conditions of purchase.|Order confirmation requested within 3 working days."
            ),
        )
    )
    if c.p(0.4):
        body.append(
            (
                "sign",
                [
                    (
                        c.cap("Authorized by|Approved by|Buyer"),
                        _clean(c.fake.name()),
                        c.pick(
                            (
                                "Purchasing Manager",
                                "Head of Procurement",
                                "Senior Buyer",
                                "Einkaufsleiter",
                                "Category Manager",
                            )
                        ),
                    )
                ],
            )
        )
    totals = _money_totals(c, tax=c.p(0.5)) if "no_price" not in traits else None
    return Doc(
        title if c.p(0.7) else title.upper(),
        "BUYER",
        buyer,
        parties,
        meta,
        columns,
        items,
        row,
        totals,
        body,
        [(c.cap("VAT Reg. No.|Tax ID|VAT ID"), "BUYER_TAX_ID", buyer.tax_id)]
        + _opt(c, 0.5, ("Company Code", "COMPANY_CODE", c.org("CC"))),
        c.pick((("contact", "phone"), ("contact", "email"), ("tax",), ())),
    )


def _sales_order(c: Content, sub: str | None) -> Doc:
    vendor, buyer = c.party(), c.party()
    meta = [
        (c.cap("Order No.|Sales Order|Order Confirmation No."), "DOCUMENT_NUMBER", c.number("SO")),
        (c.cap("Order Date|Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Your PO|Customer PO|Your Order No."), "PO_NUMBER", c.number("PO_REF")),
        (c.cap("Customer No.|Sold-To No.|Customer"), "CUSTOMER_NUMBER", c.number("CUSTOMER")),
        *_opt(c, 0.6, (c.cap("Sales Org.|Sales Organization"), "SALES_ORG", c.org("SORG"))),
        (c.cap("Delivery Date|Planned Delivery|Ship Date"), "DELIVERY_DATE", c.ds(5, 40)),
        *_opt(
            c,
            0.6,
            (c.cap("Shipping Method|Ship Via|Shipping Condition"), "SHIPPING_METHOD", c.shipping_method()),
        ),
        *_opt(c, 0.6, ("Incoterms", "INCOTERMS", c.incoterms())),
        (c.cap("Payment Terms|Terms"), "PAYMENT_TERMS", c.payment_terms()),
        *_opt(c, 0.4, (c.cap("Quotation|Based on Quotation"), "QUOTATION_NUMBER", c.number("QUOTATION"))),
    ]
    parties = [
        (c.cap("Sold To|Customer|Sold-To Party"), "BUYER", buyer),
        (c.cap("Ship To|Ship-To Party|Delivery Address"), "SHIP_TO", c.party()),
    ]
    columns, row = _item_table(
        c,
        c.pick(
            (
                ("no", "material", "desc", "qty", "uom", "price", "amount"),
                ("no", "material", "desc", "qty", "price", "amount", "date"),
            )
        ),
    )
    return Doc(
        c.cap("Order Confirmation|Sales Order|SALES ORDER CONFIRMATION"),
        "VENDOR",
        vendor,
        parties,
        meta,
        columns,
        c.items(_n_items(c)),
        row,
        _money_totals(c, freight=c.p(0.4), currency=c.p(0.4)),
        [("note", "Please check this confirmation and inform us of any discrepancies within 3 days.")],
        _bank_footer(c, vendor, tax_field="VENDOR_TAX_ID"),
        c.pick((("tax", "phone"), ("contact", "email"), ("phone", "email"))),
    )


def _goods_receipt(c: Content, sub: str | None) -> Doc:
    buyer, vendor = c.party(), c.party()
    meta = [
        (c.cap("Material Document|Mat. Doc.|GR Number"), "DOCUMENT_NUMBER", c.number("GR")),
        (c.cap("Posting Date|GR Date|Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Fiscal Year|Year"), "FISCAL_YEAR", str(c.today.year) if c.p(0.3) else f"FY {c.today.year}"),
        (
            c.cap("Movement Type|Mvt Type"),
            "MOVEMENT_TYPE",
            c.pick(
                (
                    "101",
                    "101 GR goods receipt",
                    "103 GR into blocked stock",
                    "105 Release from blocked",
                    "101 Goods receipt for PO",
                )
            ),
        ),
        (c.cap("Purchase Order|PO Number|Order"), "PO_NUMBER", c.number("PO_REF")),
        (
            c.cap("Delivery Note|Vendor Delivery Note|Bill of Lading"),
            "DELIVERY_NOTE_NUMBER",
            c.number("DELIVERY"),
        ),
        (c.cap("Vendor|Vendor No.|Supplier No."), "VENDOR_NUMBER", c.number("VENDOR")),
        (c.cap("Plant|Receiving Plant"), "PLANT", c.org("PLANT")),
        (c.cap("Storage Location|Stor. Loc.|SLoc"), "STORAGE_LOCATION", c.org("SLOC")),
        *_opt(c, 0.4, ("Company Code", "COMPANY_CODE", c.org("CC"))),
    ]
    columns, row = _item_table(
        c,
        c.pick(
            (
                ("no", "material", "desc", "qty", "uom", "batch"),
                ("material", "desc", "qty", "uom", "batch"),
                ("no", "material", "desc", "qty", "uom"),
            )
        ),
    )
    body = [
        (
            "note",
            c.cap("Goods received in good condition unless noted.|Quantities checked against delivery note."),
        ),
        (
            "sign",
            [
                (
                    c.cap("Received by|Goods Recipient|Warehouse"),
                    _clean(c.fake.name()),
                    c.pick(
                        ("Warehouse Clerk", "Goods Receiving", "Lagerist", "Storekeeper", "Shift Supervisor")
                    ),
                )
            ],
        ),
    ]
    return Doc(
        c.cap("Goods Receipt|Goods Receipt Slip|GOODS RECEIPT NOTE|Material Document"),
        "BUYER",
        buyer,
        [(c.cap("Vendor|Supplier"), "VENDOR", vendor)],
        meta,
        columns,
        c.items(_n_items(c, 1, 10)),
        row,
        None,
        body,
        [],
        (),
    )


def _delivery_note(c: Content, sub: str | None) -> Doc:
    vendor, buyer = c.party(), c.party()
    packages = str(int(c.rng.integers(1, 40)))
    meta = [
        (c.cap("Delivery No.|Delivery Note No.|Outbound Delivery"), "DOCUMENT_NUMBER", c.number("DELIVERY")),
        (c.cap("Date|Delivery Date|Document Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Ship Date|Shipping Date|Goods Issue"), "SHIP_DATE", c.ds(0, 3)),
        (c.cap("Your PO|Customer PO|PO Number"), "PO_NUMBER", c.number("PO_REF")),
        *_opt(c, 0.6, (c.cap("Sales Order|Our Order"), "SO_NUMBER", c.number("SO"))),
        *_opt(c, 0.6, (c.cap("Customer No.|Customer"), "CUSTOMER_NUMBER", c.number("CUSTOMER"))),
        (c.cap("Carrier|Forwarder|Shipped Via"), "CARRIER_NAME", c.carrier()),
        *_opt(
            c, 0.7, (c.cap("Tracking No.|Tracking Number|Consignment No."), "TRACKING_NUMBER", c.tracking())
        ),
        *_opt(c, 0.5, (c.cap("Shipping Method|Mode of Transport"), "SHIPPING_METHOD", c.shipping_method())),
        *_opt(c, 0.7, ("Route", "ROUTE", c.route())),
        (c.cap("Gross Weight|Total Weight|Weight"), "GROSS_WEIGHT", c.weight()),
        *_opt(c, 0.5, (c.cap("Net Weight"), "NET_WEIGHT", c.weight())),
        (
            c.cap("Packages|No. of Packages|Number of Packages"),
            "NUMBER_OF_PACKAGES",
            packages if c.p(0.4) else f"{packages} {c.pick(('pallets', 'cartons', 'packages', 'boxes'))}",
        ),
        *_opt(c, 0.3, ("Incoterms", "INCOTERMS", c.incoterms())),
        *_opt(c, 0.25, (c.cap("Bill of Lading|B/L No."), "BILL_OF_LADING", c.bill_of_lading())),
        *_opt(c, 0.2, (c.cap("Container No.|Container"), "CONTAINER_NUMBER", c.container())),
    ]
    parties = [
        (c.cap("Ship To|Deliver To|Consignee"), "SHIP_TO", c.party()),
        (c.cap("Sold To|Customer"), "BUYER", buyer),
    ]
    columns, row = _item_table(
        c,
        c.pick(
            (
                ("no", "material", "desc", "qty", "uom", "batch"),
                ("no", "material", "desc", "qty", "uom", "serial"),
                ("material", "desc", "qty", "uom", "batch", "serial"),
            )
        ),
    )
    body = [
        (
            "sign",
            [
                (
                    c.cap("Received in good condition|Goods received by|Consignee signature"),
                    _clean(c.fake.name()),
                    c.pick(("Receiving Clerk", "Warehouse Manager", "Driver", "Logistics Coordinator")),
                )
            ],
        )
    ]
    return Doc(
        c.cap("Delivery Note|DELIVERY NOTE|Packing Slip|Dispatch Note"),
        "VENDOR",
        vendor,
        parties,
        meta,
        columns,
        c.items(_n_items(c, 1, 10)),
        row,
        None,
        body,
        [],
        c.pick((("phone",), ("phone", "email"), ())),
    )


def _memo(c: Content, sub: str | None, *, credit: bool) -> Doc:
    a, b = c.party(), c.party()
    reasons = (
        (
            "Price difference",
            "Returned goods",
            "Damaged in transit",
            "Quantity shortfall",
            "Volume rebate Q1",
            "Duplicate billing",
            "Overcharge",
        )
        if credit
        else (
            "Freight surcharge",
            "Price increase not invoiced",
            "Return of defective goods",
            "Short delivery",
            "Quality deduction",
            "Underbilling",
        )
    )
    meta = [
        (
            c.cap("Credit Memo No.|Credit Note No.|Credit Memo")
            if credit
            else c.cap("Debit Memo No.|Debit Note No.|Debit Memo"),
            "DOCUMENT_NUMBER",
            c.number("CREDIT" if credit else "DEBIT"),
        ),
        (c.cap("Date|Document Date|Issue Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Reference Invoice|Original Invoice|Invoice No."), "INVOICE_NUMBER", c.number("INVOICE")),
        (c.cap("Invoice Date|Original Invoice Date"), "INVOICE_DATE", c.ds(-90, -5)),
        (
            c.cap("Customer No.|Account No.") if credit else c.cap("Vendor No.|Supplier No."),
            "CUSTOMER_NUMBER" if credit else "VENDOR_NUMBER",
            c.number("CUSTOMER" if credit else "VENDOR"),
        ),
        *_opt(c, 0.4, (c.cap("PO Number|Purchase Order"), "PO_NUMBER", c.number("PO_REF"))),
        *_opt(c, 0.3, ("Currency", "CURRENCY", c.fmt.currency_text())),
    ]
    columns, row = _item_table(
        c,
        c.pick(
            (("no", "desc", "qty", "price", "amount"), ("material", "desc", "qty", "uom", "price", "amount"))
        ),
    )
    body = [
        (
            "kv",
            [
                (
                    c.cap("Reason|Reason for Credit|Reason Code")
                    if credit
                    else c.cap("Reason|Reason for Debit"),
                    "REASON",
                    c.pick(reasons),
                )
            ],
            1,
        ),
        (
            "note",
            "The amount will be offset against open items."
            if credit
            else "Please credit our account accordingly.",
        ),
    ]
    if credit:
        return Doc(
            c.cap("Credit Memo|CREDIT NOTE|Credit Note"),
            "VENDOR",
            a,
            [(c.cap("Customer|Bill To|Credit To"), "BILL_TO", b)],
            meta,
            columns,
            c.items(_n_items(c, 1, 5)),
            row,
            _money_totals(c),
            body,
            _bank_footer(c, a, tax_field="VENDOR_TAX_ID"),
            c.pick((("tax",), ("phone", "email"))),
        )
    return Doc(
        c.cap("Debit Memo|DEBIT NOTE|Debit Note"),
        "BUYER",
        a,
        [(c.cap("Vendor|Supplier|To"), "VENDOR", b)],
        meta,
        columns,
        c.items(_n_items(c, 1, 5)),
        row,
        _money_totals(c),
        body,
        [(c.cap("VAT ID|Tax ID"), "BUYER_TAX_ID", a.tax_id)],
        c.pick((("contact",), ("contact", "phone"), ())),
    )


def _payment_items(c: Content, n: int) -> list[dict[str, Any]]:
    items = []
    for _ in range(n):
        gross = int(np.exp(c.rng.uniform(np.log(5000), np.log(5_000_000))))
        disc = (gross * int(c.pick((0, 0, 200, 300))) + 5000) // 10000
        items.append(
            {
                "inv": c.number("INVOICE"),
                "date": c.ds(-90, -10),
                "ref": c.number("PO_REF") if c.p(0.5) else c.number("REF"),
                "gross": gross,
                "disc": disc,
                "amount": gross - disc,
            }
        )
    return items


def _payment_advice(c: Content, sub: str | None) -> Doc:
    payer, payee = c.party(), c.party()
    f = c.fmt
    meta = [
        (c.cap("Payment Document|Payment No.|Document No."), "DOCUMENT_NUMBER", c.number("PAYMENT")),
        (c.cap("Payment Date|Value Date"), "PAYMENT_DATE", c.ds()),
        (c.cap("Payment Method|Paid by"), "PAYMENT_METHOD", c.payment_method()),
        (c.cap("Payment Reference|Our Reference"), "PAYMENT_REFERENCE", c.number("REF")),
        (c.cap("Vendor No.|Your Account with us|Supplier No."), "VENDOR_NUMBER", c.number("VENDOR")),
        *_opt(c, 0.5, ("Company Code", "COMPANY_CODE", c.org("CC"))),
        *_opt(
            c,
            0.5,
            (c.cap("Fiscal Year"), "FISCAL_YEAR", str(c.today.year) if c.p(0.4) else f"FY {c.today.year}"),
        ),
        *_opt(c, 0.5, ("Currency", "CURRENCY", f.currency_text())),
    ]
    columns: list[Column] = [
        (c.cap("Invoice No.|Your Invoice|Document"), "INVOICE_NUMBER", "left", 1.6),
        (c.cap("Invoice Date|Date"), "INVOICE_DATE", "left", 1.3),
        (c.cap("Reference|Your Reference"), "REFERENCE_NUMBER", "left", 1.7),
        (c.cap("Gross Amount|Invoice Amount"), "LINE_AMOUNT", "right", 1.4),
        (c.cap("Discount|Cash Discount"), "DISCOUNT_AMOUNT", "right", 1.1),
        (c.cap("Amount Paid|Net Paid|Payment"), "AMOUNT_PAID", "right", 1.4),
    ]

    def row(it: dict[str, Any]) -> list[str]:
        return [
            it["inv"],
            it["date"],
            it["ref"],
            f.money(it["gross"], table=True),
            f.money(-it["disc"], table=True) if it["disc"] else "",
            f.money(it["amount"], table=True),
        ]

    def totals(items: list[dict[str, Any]]) -> list[KV]:
        return [
            (
                c.cap("Total Paid|Total Payment|Total"),
                "TOTAL_AMOUNT",
                f.money(sum(it["amount"] for it in items)),
            )
        ]

    body = [
        (
            "note",
            c.cap(
                "We have made the following payment to your account.|This payment settles the items listed above."
            ),
        ),
        (
            "kv",
            [
                (c.pick(("Paid to IBAN", "Beneficiary IBAN", "IBAN")), "IBAN", c.iban()),
                ("BIC", "BIC", c.bic()),
                (c.cap("Bank|Beneficiary Bank"), "BANK_NAME", c.bank()),
            ],
            3,
        ),
    ]
    return Doc(
        c.cap("Payment Advice|PAYMENT ADVICE|Payment Advice Note"),
        "BUYER",
        payer,
        [(c.cap("Payee|To|Beneficiary"), "VENDOR", payee)],
        meta,
        columns,
        _payment_items(c, _n_items(c, 1, 14)),
        row,
        totals,
        body,
        [],
        c.pick((("contact",), ("contact", "phone"), ())),
    )


def _remittance_advice(c: Content, sub: str | None) -> Doc:
    payer, payee = c.party(), c.party()
    f = c.fmt
    items = _payment_items(c, _n_items(c, 1, 10))
    total = sum(it["amount"] for it in items)
    meta = [
        (c.cap("Remittance No.|Remittance Advice No.|Advice No."), "DOCUMENT_NUMBER", c.number("REMITTANCE")),
        (c.cap("Date|Advice Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Our Customer No.|Account Ref."), "CUSTOMER_NUMBER", c.number("CUSTOMER")),
        *_opt(c, 0.5, (c.cap("Payment Reference|Reference"), "PAYMENT_REFERENCE", c.number("REF"))),
    ]
    columns: list[Column] = [
        (c.cap("Invoice|Invoice No."), "INVOICE_NUMBER", "left", 1.5),
        (c.cap("Date|Invoice Date"), "INVOICE_DATE", "left", 1.3),
        (c.cap("PO / Reference|Your Ref."), "REFERENCE_NUMBER", "left", 1.8),
        (c.cap("Amount|Amount Paid"), "AMOUNT_PAID", "right", 1.5),
    ]

    def row(it: dict[str, Any]) -> list[str]:
        return [it["inv"], it["date"], it["ref"], f.money(it["amount"], table=True)]

    def totals(rows: list[dict[str, Any]]) -> list[KV]:
        return [(c.cap("Total Remitted|Total"), "TOTAL_AMOUNT", f.money(sum(it["amount"] for it in rows)))]

    intro = [
        ("note", c.cap("Dear Sir or Madam,|To whom it may concern,|Dear Accounts Receivable team,")),
        (
            "para",
            [
                ("We have today remitted", None),
                (f.money(total), "AMOUNT_PAID"),
                ("by", None),
                (c.payment_method(), "PAYMENT_METHOD"),
                ("with value date", None),
                (c.ds(0, 2), "PAYMENT_DATE"),
                ("to your account", None),
                (c.iban(), "IBAN"),
                ("at", None),
                (c.bank(), "BANK_NAME"),
                ("in settlement of the following invoices", None),
            ],
        ),
    ]
    return Doc(
        c.cap("Remittance Advice|REMITTANCE ADVICE|Remittance Notice"),
        "BUYER",
        payer,
        [(c.cap("To|Payee|Supplier"), "VENDOR", payee)],
        meta,
        columns,
        items,
        row,
        totals,
        [("note", "Please contact us if any item is incorrect.")],
        [],
        c.pick((("phone", "email"), ("tax",), ())),
        intro,
    )


def _statement(c: Content, sub: str | None) -> Doc:
    vendor, buyer = c.party(), c.party()
    f = c.fmt
    start = c.date(-40, -25)
    end = start + dt.timedelta(days=int(c.rng.integers(27, 31)))
    opening = int(np.exp(c.rng.uniform(np.log(10000), np.log(10_000_000))))
    meta = [
        (c.cap("Statement No.|Statement Number"), "DOCUMENT_NUMBER", c.number("STATEMENT")),
        (c.cap("Statement Date|Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Customer No.|Account No.|Account"), "CUSTOMER_NUMBER", c.number("CUSTOMER")),
        (c.cap("Period From|From"), "PERIOD_START", f.date(start)),
        (c.cap("Period To|To"), "PERIOD_END", f.date(end)),
        (c.cap("Opening Balance|Balance Brought Forward"), "OPENING_BALANCE", f.money(opening)),
        *_opt(c, 0.5, ("Currency", "CURRENCY", f.currency_text())),
    ]
    items, balance = [], opening
    for _ in range(_n_items(c, 3, 14)):
        day = start + dt.timedelta(days=int(c.rng.integers(0, 28)))
        kind = c.pick(("inv", "inv", "pay", "cm"))
        amount = int(np.exp(c.rng.uniform(np.log(5000), np.log(3_000_000))))
        if kind == "inv":
            desc, ref, debit, credit = (
                c.pick(("Invoice", "Invoice goods", "Billing document")),
                c.number("INVOICE"),
                amount,
                0,
            )
        elif kind == "pay":
            desc, ref, debit, credit = (
                c.pick(("Payment received", "Payment, thank you", "Bank transfer received")),
                c.number("REF"),
                0,
                amount,
            )
        else:
            desc, ref, debit, credit = (
                c.pick(("Credit memo", "Credit note returns")),
                c.number("CREDIT"),
                0,
                amount // 3,
            )
        balance += debit - credit
        items.append(
            {"day": day, "desc": desc, "ref": ref, "debit": debit, "credit": credit, "balance": balance}
        )
    items.sort(key=lambda it: it["day"])
    running = opening
    for it in items:
        running += it["debit"] - it["credit"]
        it["balance"] = running
    columns: list[Column] = [
        (c.cap("Date|Posting Date"), "TRANSACTION_DATE", "left", 1.3),
        (c.cap("Reference|Document No.|Ref."), "REFERENCE_NUMBER", "left", 1.6),
        (c.cap("Description|Details|Text"), "ITEM_DESCRIPTION", "left", 2.2),
        (c.cap("Debit|Charges"), "LINE_AMOUNT", "right", 1.3),
        (c.cap("Credit|Payments"), "AMOUNT_PAID", "right", 1.3),
        (c.cap("Balance"), None, "right", 1.4),
    ]

    def row(it: dict[str, Any]) -> list[str]:
        return [
            f.date(it["day"]),
            it["ref"],
            it["desc"],
            f.money(it["debit"], table=True) if it["debit"] else "",
            f.money(it["credit"], table=True) if it["credit"] else "",
            f.money(it["balance"], table=True),
        ]

    due_date = c.ds(10, 30)

    def totals(rows: list[dict[str, Any]]) -> list[KV]:
        closing = rows[-1]["balance"] if rows else opening
        return [
            (c.cap("Closing Balance|Balance Carried Forward"), "CLOSING_BALANCE", f.money(closing)),
            (c.cap("Due Date|Payment Due"), "DUE_DATE", due_date),
            (c.cap("Balance Due|Amount Due|Please Pay"), "BALANCE_DUE", f.money(max(closing, 0))),
        ]

    return Doc(
        c.cap("Statement of Account|STATEMENT|Account Statement|Customer Statement"),
        "VENDOR",
        vendor,
        [(c.cap("Customer|To|Account"), "BUYER", buyer)],
        meta,
        columns,
        items,
        row,
        totals,
        [("note", "Please remit the balance due to the account below.")],
        _bank_footer(c, vendor),
        c.pick((("phone", "email"), ("tax",), ("contact",))),
    )


def _contract(c: Content, sub: str | None) -> Doc:
    buyer, vendor = c.party(), c.party()
    f = c.fmt
    start = c.date(0, 60)
    end = start + dt.timedelta(days=int(c.pick((365, 730, 1095, 1826))))
    kind = c.pick(
        (
            "Supply Agreement",
            "Framework Agreement",
            "Service Agreement",
            "Purchase Contract",
            "Master Supply Contract",
        )
    )
    meta = [
        (c.cap("Contract No.|Agreement No.|Contract Number"), "CONTRACT_NUMBER", c.number("CONTRACT")),
        (c.cap("Date|Contract Date|Dated"), "DOCUMENT_DATE", c.ds()),
        *_opt(c, 0.5, (c.cap("Document No.|Our Ref."), "DOCUMENT_NUMBER", c.number("LETTER"))),
    ]
    law = c.pick(
        (
            "the Federal Republic of Germany",
            "England and Wales",
            "the State of New York",
            "Germany",
            "Delaware",
            "Scotland",
        )
    )
    clauses: list[tuple[Any, ...]] = [
        ("heading", "1. Term"),
        (
            "para",
            [
                ("This Agreement commences on", None),
                (f.date(start), "CONTRACT_START"),
                ("and ends on", None),
                (f.date(end), "CONTRACT_END"),
                ("unless terminated earlier in accordance with its terms", None),
            ],
        ),
        ("heading", "2. Contract Value"),
        (
            "para",
            [
                ("The total contract value shall not exceed", None),
                (f.money(int(c.rng.integers(10**6, 10**9))), "CONTRACT_VALUE"),
                ("payable in", None),
                (f.currency_text(), "CURRENCY"),
                ("under payment terms", None),
                (c.payment_terms(), "PAYMENT_TERMS"),
            ],
        ),
        ("heading", "3. Delivery"),
        (
            "para",
            [
                ("Deliveries are made", None),
                (c.incoterms(), "INCOTERMS"),
                ("to the plant", None),
                (c.org("PLANT"), "PLANT"),
                (c.filler(2).rstrip("."), None),
            ],
        ),
        ("heading", "4. Termination"),
        (
            "para",
            [
                ("Either party may terminate this Agreement by giving", None),
                (
                    c.pick(("three months", "3 months", "90 days", "six (6) months", "30 days")),
                    "NOTICE_PERIOD",
                ),
                ("written notice to the other party", None),
            ],
        ),
        ("heading", "5. Governing Law"),
        ("para", [("This Agreement shall be governed by the laws of", None), (law, "GOVERNING_LAW")]),
    ]
    for n in range(6, 6 + int(c.rng.integers(0, 3))):
        clauses += [
            (
                "heading",
                f"{n}. {c.pick(('Confidentiality', 'Warranty', 'Liability', 'Force Majeure', 'Quality'))}",
            ),
            ("para", [(c.filler(3), None)]),
        ]
    titles = (
        "Managing Director",
        "CFO",
        "Head of Procurement",
        "Geschäftsführer",
        "Chief Operating Officer",
        "Sales Director",
        "Prokurist",
    )
    clauses.append(
        (
            "sign",
            [
                (c.cap("For the Buyer|Signed for the Customer"), _clean(c.fake.name()), c.pick(titles)),
                (c.cap("For the Supplier|Signed for the Supplier"), _clean(c.fake.name()), c.pick(titles)),
            ],
        )
    )
    parties = [
        (c.cap("Buyer|Customer|between"), "BUYER", buyer),
        (c.cap("Supplier|Vendor|and"), "VENDOR", vendor),
    ]
    doc = Doc(
        kind if c.p(0.6) else kind.upper(),
        "BUYER",
        buyer,
        parties,
        meta,
        body=clauses,
        issuer_extras=c.pick((("tax",), ())),
    )
    if c.p(0.4):  # price schedule
        doc.columns, doc.row = _item_table(c, ("material", "desc", "uom", "price"))
        doc.items = c.items(_n_items(c, 1, 4))
        doc.intro, doc.body = clauses[:-1] + [("heading", "Annex A: Price Schedule")], clauses[-1:]
    return doc


def _quotation(c: Content, sub: str | None) -> Doc:
    vendor, buyer = c.party(), c.party()
    meta = [
        (c.cap("Quotation No.|Quote No.|Offer No."), "DOCUMENT_NUMBER", c.number("QUOTATION")),
        (c.cap("Date|Quotation Date"), "DOCUMENT_DATE", c.ds()),
        (
            c.cap("Valid Until|Validity|Offer Valid Until"),
            "VALID_UNTIL",
            c.ds(14, 90) if c.p(0.7) else f"{c.pick((30, 60, 90))} days",
        ),
        *_opt(c, 0.8, (c.cap("Your RFQ|Your Inquiry|RFQ No."), "RFQ_NUMBER", c.number("RFQ"))),
        *_opt(c, 0.6, (c.cap("Customer No.|Customer"), "CUSTOMER_NUMBER", c.number("CUSTOMER"))),
        *_opt(c, 0.4, (c.cap("Sales Org.|Sales Office"), "SALES_ORG", c.org("SORG"))),
        (c.cap("Payment Terms|Terms"), "PAYMENT_TERMS", c.payment_terms()),
        *_opt(c, 0.6, ("Incoterms", "INCOTERMS", c.incoterms())),
        *_opt(c, 0.4, (c.cap("Delivery Date|Earliest Delivery"), "DELIVERY_DATE", c.ds(14, 60))),
    ]
    columns, row = _item_table(
        c,
        c.pick(
            (
                ("no", "material", "desc", "qty", "uom", "price", "amount"),
                ("no", "desc", "qty", "price", "amount"),
            )
        ),
    )
    return Doc(
        c.cap("Quotation|QUOTATION|Offer|Price Quotation"),
        "VENDOR",
        vendor,
        [(c.cap("Customer|To|Prepared For"), "BUYER", buyer)],
        meta,
        columns,
        c.items(_n_items(c)),
        row,
        _money_totals(c, tax=c.p(0.6), discount=c.p(0.3), currency=c.p(0.4)),
        [
            (
                "note",
                c.cap(
                    "We look forward to receiving your order.|Prices are subject to our general terms of sale."
                ),
            )
        ],
        _opt(c, 0.5, (c.cap("VAT ID|Tax ID"), "VENDOR_TAX_ID", vendor.tax_id)),
        c.pick((("contact", "phone", "email"), ("contact",), ("phone",))),
    )


def _rfq(c: Content, sub: str | None) -> Doc:
    buyer, vendor = c.party(), c.party()
    deadline = c.ds(7, 30) + (f" {c.pick(('12:00', '17:00', '10:00 CET', '23:59'))}" if c.p(0.5) else "")
    meta = [
        (c.cap("RFQ No.|RFQ Number|Request No."), "DOCUMENT_NUMBER", c.number("RFQ")),
        (c.cap("Date|RFQ Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Submission Deadline|Quotation Deadline|Reply By"), "SUBMISSION_DEADLINE", deadline),
        *_opt(c, 0.6, (c.cap("Vendor No.|Supplier No."), "VENDOR_NUMBER", c.number("VENDOR"))),
        *_opt(c, 0.7, (c.cap("Purch. Group|Purchasing Group"), "PURCHASING_GROUP", c.org("PGRP"))),
        *_opt(c, 0.7, (c.cap("Plant|Delivery Plant"), "PLANT", c.org("PLANT"))),
        (c.cap("Required Delivery|Delivery Date"), "DELIVERY_DATE", c.ds(30, 90)),
        *_opt(c, 0.5, ("Incoterms", "INCOTERMS", c.incoterms())),
    ]
    columns, row = _item_table(
        c,
        c.pick((("no", "material", "desc", "qty", "uom"), ("no", "material", "desc", "qty", "uom", "date"))),
    )
    if c.p(0.5):  # blank columns for the supplier to fill in
        columns = columns + [
            (c.cap("Your Price|Unit Price"), None, "right", 1.2),
            (c.cap("Lead Time|Delivery Time"), None, "left", 1.1),
        ]
        inner = row
        row = lambda it: inner(it) + ["", ""]
    body = [
        (
            "para",
            [
                ("Please submit your quotation no later than", None),
                (deadline, "SUBMISSION_DEADLINE"),
                ("quoting our RFQ number", None),
                (c.filler(1).rstrip("."), None),
            ],
        )
    ]
    return Doc(
        c.cap("Request for Quotation|RFQ|REQUEST FOR QUOTATION|Inquiry"),
        "BUYER",
        buyer,
        [(c.cap("Vendor|To|Supplier"), "VENDOR", vendor)],
        meta,
        columns,
        c.items(_n_items(c, 1, 10)),
        row,
        None,
        body,
        [(c.cap("VAT ID|Tax ID"), "BUYER_TAX_ID", buyer.tax_id)],
        c.pick((("contact", "phone"), ("contact",), ("tax", "contact"))),
    )


def _asn(c: Content, sub: str | None) -> Doc:
    vendor = c.party()
    packages = str(int(c.rng.integers(1, 60)))
    meta = [
        (c.cap("ASN No.|Shipment No.|Notification No."), "DOCUMENT_NUMBER", c.number("ASN")),
        (c.cap("Date|ASN Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Ship Date|Dispatch Date"), "SHIP_DATE", c.ds(0, 2)),
        (c.cap("Expected Delivery|ETA|Delivery Date"), "DELIVERY_DATE", c.ds(2, 30)),
        (c.cap("PO Number|Purchase Order|Customer PO"), "PO_NUMBER", c.number("PO_REF")),
        *_opt(c, 0.6, (c.cap("Delivery Note|Delivery No."), "DELIVERY_NOTE_NUMBER", c.number("DELIVERY"))),
        (c.cap("Carrier|Forwarder"), "CARRIER_NAME", c.carrier()),
        *_opt(c, 0.7, (c.cap("Tracking No.|Tracking Number"), "TRACKING_NUMBER", c.tracking())),
        *_opt(c, 0.8, (c.cap("Bill of Lading|B/L No.|BOL"), "BILL_OF_LADING", c.bill_of_lading())),
        *_opt(c, 0.8, (c.cap("Container No.|Container"), "CONTAINER_NUMBER", c.container())),
        (
            c.cap("Packages|Handling Units|No. of Packages"),
            "NUMBER_OF_PACKAGES",
            packages if c.p(0.4) else f"{packages} {c.pick(('pallets', 'cartons', 'HU'))}",
        ),
        (c.cap("Gross Weight|Weight"), "GROSS_WEIGHT", c.weight()),
        *_opt(c, 0.5, (c.cap("Net Weight"), "NET_WEIGHT", c.weight())),
        *_opt(c, 0.5, (c.cap("Transport Mode|Shipping Method"), "SHIPPING_METHOD", c.shipping_method())),
        *_opt(c, 0.3, ("Route", "ROUTE", c.route())),
    ]
    columns, row = _item_table(
        c,
        c.pick(
            (
                ("no", "material", "desc", "qty", "uom", "batch"),
                ("no", "material", "desc", "qty", "uom", "serial"),
                ("material", "desc", "qty", "uom", "batch"),
            )
        ),
    )
    return Doc(
        c.cap("Advance Shipping Notice|ASN|Advanced Shipment Notification|Dispatch Advice"),
        "VENDOR",
        vendor,
        [
            (c.cap("Ship To|Consignee|Deliver To"), "SHIP_TO", c.party()),
            (c.cap("Buyer|Customer|Sold To"), "BUYER", c.party()),
        ],
        meta,
        columns,
        c.items(_n_items(c, 1, 10)),
        row,
        None,
        [],
        [],
        c.pick((("phone",), ("email",), ())),
    )


def _other(c: Content, sub: str | None) -> Doc:
    sender, recipient = c.party(), c.party()
    f = c.fmt
    template = int(c.rng.integers(4))
    if template == 0:
        subject = c.pick(
            ("Change of bank details", "Notification of new bank account", "Updated payment details")
        )
        paras = [
            [
                (
                    "Please note that with immediate effect our bank account details have changed. Kindly use the following account for all future payments:",
                    None,
                )
            ],
            [
                ("Bank", None),
                (c.bank(), "BANK_NAME"),
                ("IBAN", None),
                (c.iban(), "IBAN"),
                ("BIC", None),
                (c.bic(), "BIC"),
            ],
        ]
    elif template == 1:
        subject = c.pick(("Cancellation of purchase order", "Order cancellation", "Cancellation notice"))
        paras = [
            [
                ("We hereby cancel our purchase order", None),
                (c.number("PO_REF"), "PO_NUMBER"),
                ("for material", None),
                (c.material(), "MATERIAL_NUMBER"),
                (c.items(1)[0]["desc"], "ITEM_DESCRIPTION"),
                ("due to changed requirements", None),
            ]
        ]
    elif template == 2:
        subject = c.pick(("Payment reminder", "Overdue invoice", "Reminder of outstanding payment"))
        paras = [
            [
                ("According to our records invoice", None),
                (c.number("INVOICE"), "INVOICE_NUMBER"),
                ("dated", None),
                (c.ds(-60, -40), "INVOICE_DATE"),
                ("for the amount of", None),
                (f.money(int(c.rng.integers(10000, 5_000_000))), "TOTAL_AMOUNT"),
                ("was due on", None),
                (c.ds(-20, -5), "DUE_DATE"),
                ("and remains unpaid", None),
            ]
        ]
    else:
        subject = c.pick(("Price adjustment", "Notice of price change", "Updated price list"))
        item = c.items(1)[0]
        paras = [
            [
                ("We would like to inform you that the price of material", None),
                (item["material"], "MATERIAL_NUMBER"),
                (item["desc"], "ITEM_DESCRIPTION"),
                ("will change to", None),
                (f.money(item["price"]), "UNIT_PRICE"),
                ("per", None),
                (item["uom"], "UNIT_OF_MEASURE"),
                ("effective", None),
                (c.ds(20, 60), "VALID_UNTIL"),
            ]
        ]
    paras.append([(c.filler(int(c.rng.integers(2, 5))), None)])
    meta = [
        (c.cap("Date|Dated"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Our Ref.|Reference|Ref."), "REFERENCE_NUMBER", c.number("REF")),
        *_opt(c, 0.5, (c.cap("Your Ref.|Document No."), "DOCUMENT_NUMBER", c.number("LETTER"))),
        *_opt(c, 0.4, (c.cap("Customer No.|Account No."), "CUSTOMER_NUMBER", c.number("CUSTOMER"))),
        (c.cap("Subject|Re|Regarding"), "SUBJECT", subject),
    ]
    body: list[tuple[Any, ...]] = [
        ("note", c.cap("Dear Sir or Madam,|Dear Customer,|Dear Business Partner,"))
    ]
    body += [("para", p) for p in paras]
    body += [
        ("note", c.cap("Kind regards,|Yours faithfully,|Sincerely,|Best regards,")),
        (
            "sign",
            [
                (
                    "",
                    _clean(c.fake.name()),
                    c.pick(
                        (
                            "Accounts Receivable",
                            "Credit Controller",
                            "Purchasing Manager",
                            "Treasury",
                            "Key Account Manager",
                        )
                    ),
                )
            ],
        ),
    ]
    return Doc(
        c.cap("Letter|Notice|Information|Memo"),
        "VENDOR",
        sender,
        [("", "BUYER", recipient)],
        meta,
        body=body,
        footer=_opt(c, 0.5, (c.cap("VAT ID|Tax ID"), "VENDOR_TAX_ID", sender.tax_id)),
        issuer_extras=c.pick((("phone", "email"), ("tax",), ("contact", "phone"))),
    )


BUILDERS: dict[str, Callable[[Content, str | None], Doc]] = {
    "INVOICE": _invoice,
    "PURCHASE_ORDER": _purchase_order,
    "SALES_ORDER": _sales_order,
    "GOODS_RECEIPT": _goods_receipt,
    "DELIVERY_NOTE": _delivery_note,
    "CREDIT_MEMO": functools.partial(_memo, credit=True),
    "DEBIT_MEMO": functools.partial(_memo, credit=False),
    "PAYMENT_ADVICE": _payment_advice,
    "REMITTANCE_ADVICE": _remittance_advice,
    "STATEMENT": _statement,
    "CONTRACT": _contract,
    "QUOTATION": _quotation,
    "RFQ": _rfq,
    "ASN": _asn,
    "OTHER": _other,
}


# -- fonts -----------------------------------------------------------------------------------
# Own keys (a "BD-" prefix) and weights: this generator's choice, separate from the invoices'.
_TTF_FAMILIES = {  # key -> (package, regular file, bold file)
    "BD-Sarabun": ("fontpkg_sarabun", "Sarabun-Regular.ttf", "Sarabun-Bold.ttf"),
    "BD-Kanit": ("fontpkg_kanit", "Kanit-Regular.ttf", "Kanit-SemiBold.ttf"),
    "BD-Prompt": ("fontpkg_prompt", "Prompt-Regular.ttf", "Prompt-SemiBold.ttf"),
}


def font_files() -> dict[str, str]:
    """TrueType fonts used besides the PDF standard fonts: {key: path}; families whose font
    package is not installed are left out (the standard fonts always work)."""
    files: dict[str, str] = {}
    for key, (package, regular, bold) in _TTF_FAMILIES.items():
        try:
            files[key], files[f"{key}-Bold"] = package_font(package, regular), package_font(package, bold)
        except FontNotFoundError:
            continue
    return files


# Photometric only: a geometric degradation would move text away from its boxes.
SCAN_DEGRADATION: dict[str, Any] = {
    "preset": "none",
    "gaussian_noise_p": 1.0,
    "gaussian_noise_sigma": [3.0, 9.0],
    "gaussian_blur_p": 0.4,
    "gaussian_blur_radius": [0.3, 0.6],
    "brightness_contrast_p": 0.6,
    "contrast": [0.7, 0.95],
    "brightness": [-0.04, 0.04],
    "background_p": 0.7,
    "background_darkness": [0.03, 0.12],
    "salt_pepper_p": 0.3,
    "salt_pepper_amount": [0.0002, 0.001],
    "jpeg_p": 0.3,
    "jpeg_quality": [45, 75],
}


# -- generator -------------------------------------------------------------------------------
class BusinessDocGenerator:
    """Business documents for :func:`ocrlab.synth.dataset.write_dataset` (seed 002 format).

    ``dpi`` defaults to 100: LayoutLMv3 resizes every page to 224x224 px, so a higher raster
    resolution buys nothing for training but costs render and JPEG time and disk (an A4 page at
    100 dpi is 827x1169 px). ``holdout_layouts`` keeps the last layout variant of every document
    type out of train/val (half of the test pages use it).
    """

    kind = "business-docs"

    def __init__(
        self,
        *,
        seed: int = 0,
        hard_ratio: float = 0.1,
        dpi: float = 100,
        image_format: str = "jpg",
        grayscale: bool = True,
        holdout_layouts: bool = False,
    ):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed={seed!r}: expected an integer >= 0")
        if (
            isinstance(hard_ratio, bool)
            or not isinstance(hard_ratio, (int, float))
            or not 0 <= hard_ratio <= 1
        ):
            raise ValueError(f"hard_ratio={hard_ratio!r}: expected a number in [0, 1]")
        if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 36 <= dpi <= 600:
            raise ValueError(f"dpi={dpi!r}: expected a number in 36..600")
        if image_format not in ("jpg", "png"):
            raise ValueError(f"image_format={image_format!r}: expected 'jpg' or 'png'")
        if not isinstance(grayscale, bool):
            raise ValueError(f"grayscale={grayscale!r}: expected a bool")  # noqa: TRY004 (ValueError by contract)
        if not isinstance(holdout_layouts, bool):
            raise ValueError(f"holdout_layouts={holdout_layouts!r}: expected a bool")  # noqa: TRY004
        self.seed = int(seed)
        self.hard_ratio = float(hard_ratio)
        self.dpi = float(dpi)
        self.image_format = image_format
        self.grayscale = grayscale
        self.holdout_layouts = holdout_layouts
        self._fonts = font_files()
        self._cache: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}  # the font book and the degrader are rebuilt in each worker
        return state

    def spec(self) -> dict[str, Any]:
        return {
            "generator": "ocrlab.synth.business_docs/1",
            "seed": self.seed,
            "hard_ratio": self.hard_ratio,
            "dpi": self.dpi,
            "image_format": self.image_format,
            "grayscale": self.grayscale,
            "holdout_layouts": self.holdout_layouts,
            "fonts": font_checksums(self._fonts),
        }

    def static_files(self) -> dict[str, bytes]:
        return {"label_map.json": (json.dumps(label_map(), indent=1) + "\n").encode("utf-8")}

    # draws
    def plan(self, index: int) -> dict[str, Any]:
        """Document type, PO subtype and split of sample ``index`` (cheap: nothing is drawn)."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise ValueError(f"index={index!r}: expected an integer >= 0")
        index = int(index)
        r, pos = divmod(index, ROUND)
        slots = DOC_TYPES + ("PURCHASE_ORDER",) * EXTRA_PO_PER_ROUND
        perm = np.random.default_rng([self.seed, 1, r]).permutation(ROUND)
        doc_type = slots[int(perm[pos])]
        subtype = None
        if doc_type == "PURCHASE_ORDER":
            per_round = 1 + EXTRA_PO_PER_ROUND
            k = r * per_round + sum(slots[int(p)] == "PURCHASE_ORDER" for p in perm[:pos])
            q, j = divmod(k, len(PO_SUBTYPES))
            subtype = PO_SUBTYPES[
                int(np.random.default_rng([self.seed, 2, q]).permutation(len(PO_SUBTYPES))[j])
            ]
        return {"doc_type": doc_type, "po_subtype": subtype, "split": split_of(index)}

    def _fontbook(self) -> FontBook:
        if "fontbook" not in self._cache:
            book = FontBook("pdf")
            for key, path in self._fonts.items():
                book.add(key, path)
            self._cache["fontbook"] = book
        return self._cache["fontbook"]

    def _style(self, rng: np.random.Generator, kinds: Sequence[str]) -> Style:
        # Embedded TrueType fonts cost twice the PDF time of the standard fonts: 1 page in 3.
        ttf = [k for k in self._fonts if not k.endswith("-Bold")]
        family = choice(rng, ttf) if ttf and rng.random() < 1 / 3 else choice(rng, list(STANDARD_FAMILIES))
        regular, bold = STANDARD_FAMILIES.get(family, (family, f"{family}-Bold"))
        size = float(rng.uniform(8.2, 10.2)) if family != "Courier" else float(rng.uniform(7.6, 9.0))
        leading = float(rng.uniform(1.2, 1.45))
        margin = float(rng.uniform(32, 60))
        if "small_font" in kinds:
            size = float(rng.uniform(5.8, 7.0))
        if "dense_layout" in kinds:
            leading, margin = float(rng.uniform(1.05, 1.15)), margin * 0.6
        return Style(
            regular,
            bold,
            round(size, 2),
            round(leading, 3),
            round(margin, 1),
            round(float(rng.uniform(0.0, 0.3)), 2),
            bool(rng.random() < 0.6),
            bool(rng.random() < 0.2),
            bool(rng.random() < 0.5),
            round(float(rng.uniform(14, 21)), 1),
        )

    def _variant(self, rng: np.random.Generator, split: str) -> int:
        if not self.holdout_layouts:
            return int(rng.integers(NUM_VARIANTS))
        held = NUM_VARIANTS - 1
        if split == "test" and rng.random() < 0.5:
            return held
        return int(rng.integers(held))

    def layout(self, index: int) -> tuple[DocumentCanvas, dict[str, Any]]:
        """Sample ``index`` laid out (not rendered) and its manifest record."""
        plan = self.plan(index)
        rng = np.random.default_rng([self.seed, index])
        locale = choice(rng, LOCALES)
        variant_index = self._variant(rng, plan["split"])
        variant = variants_of(plan["doc_type"])[variant_index]
        kinds: list[str] = []
        if rng.random() < self.hard_ratio:
            n = 1 if rng.random() < 0.7 else 2
            kinds = sorted(
                (str(k) for k in rng.choice(HARD_KINDS, size=n, replace=False)), key=HARD_KINDS.index
            )
        style = self._style(rng, kinds)
        logo = int(rng.integers(3))
        content = Content(rng, locale, dense=bool({"small_font", "dense_layout"} & set(kinds)))
        doc = BUILDERS[plan["doc_type"]](content, plan["po_subtype"])
        extras = [
            tuple(
                str(e)
                for e in rng.choice(
                    ("tax", "contact", "phone", "email"), size=int(rng.integers(0, 3)), replace=False
                )
            )
            for _ in doc.parties
        ]
        page = page_size_points("LETTER" if locale == "en_US" and rng.random() < 0.8 else "A4")
        for _attempt in range(4):
            canvas = DocumentCanvas(page, self._fontbook())
            items = _compose(Painter(canvas, style, variant), doc, logo, extras)
            if all(
                w.box[0] >= 0 and w.box[1] >= 0 and w.box[2] <= page[0] and w.box[3] <= page[1]
                for w in canvas.words
            ):
                break
            # too much for one page: smaller type, tighter lines, fewer items
            style = Style(
                **{
                    **style.__dict__,
                    "size": round(style.size * 0.88, 2),
                    "leading": max(1.05, round(style.leading * 0.93, 3)),
                }
            )
            doc.items = doc.items[: max(1, len(items) - 2)]
        else:
            raise RuntimeError(f"sample {index}: {plan['doc_type']} does not fit on one page")
        record = {
            "id": f"doc_{index:06d}",
            **plan,
            "locale": locale,
            "layout": variant_index,
            "layout_name": variant.name(),
            "hard": bool(kinds),
            "hard_kinds": kinds,
            "font": style.regular,
            "font_size": style.size,
            "items": len(items),
        }
        return canvas, record

    def sample(self, index: int) -> Sample:
        canvas, record = self.layout(index)
        rng = np.random.default_rng([self.seed, index, 1])  # image degradation draws
        rendered = render(canvas, self.dpi, grayscale=self.grayscale)
        image = rendered.images[0]
        px = rendered.scale  # pixels per point
        if "scan_noise" in record["hard_kinds"]:
            if "degrader" not in self._cache:
                self._cache["degrader"] = Degrader(DegradationConfig.from_dict(SCAN_DEGRADATION))
            image = self._cache["degrader"](image, rng)
        width, height = image.size
        sx, sy = 1000 / width, 1000 / height
        words, boxes, labels = [], [], []
        previous = None
        for w in canvas.words:  # boxes in points: scale straight to 0..1000 of the page
            x0, y0, x1, y1 = w.box
            x0, x1 = min(1000, max(0, round(x0 * px * sx))), min(1000, max(0, round(x1 * px * sx)))
            y0, y1 = min(1000, max(0, round(y0 * px * sy))), min(1000, max(0, round(y1 * px * sy)))
            words.append(w.text)
            boxes.append([x0, y0, x1, y1])
            if w.field is None:
                labels.append(0)
            else:
                labels.append(LABEL2ID[("I-" if w.field == previous else "B-") + w.field.split("#", 1)[0]])
            previous = w.field
        doc_id, split = record["id"], record["split"]
        image_name = f"{doc_id}.{self.image_format}"
        annotation = {
            "image_path": image_name,
            "doc_type": record["doc_type"],
            "po_subtype": record["po_subtype"],
            "words": words,
            "boxes": boxes,
            "token_labels": labels,
            "width": width,
            "height": height,
        }
        files = {
            f"{split}/images/{image_name}": encode_image(image, self.image_format),
            f"{split}/annotations/{doc_id}.json": (json.dumps(annotation, ensure_ascii=False) + "\n").encode(
                "utf-8"
            ),
        }
        return Sample(files, {**record, "words": len(words)})
