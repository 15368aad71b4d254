"""Synthetic financial documents (invoices, receipts, credit notes) with exact ground truth.

One sample = one document: page images (``images/<id>_p<n>.<ext>``), the PDF (``pdf/<id>.pdf``)
and the ground truth (``ground_truth/<id>.json``, schema :data:`GROUND_TRUTH_SCHEMA`, documented
in ``docs/synthetic_documents.md``). Content comes from ``faker`` in the document's locale;
amounts are ``Decimal`` rounded to the currency's minor unit, so the identities

    sum(line_items.amount) == subtotal
    subtotal - sum(discounts) + sum(taxes) + shipping == total
    |quantity x unit_price - amount| <= minor unit / 2

hold exactly. Latin and Japanese documents are drawn with reportlab and rasterized by pypdfium2;
Thai documents go through Pillow's RAQM path (reportlab cannot shape Thai). Both record word boxes
at draw time (:mod:`ocrlab.synth.render`). Hard samples (:data:`~ocrlab.synth.plan.HARD_KINDS`)
change the content (many items, long descriptions, discounts and several tax rates, missing
fields, uncommon currencies), the layout (small fonts, dense spacing, stamps) or the image (skew,
low contrast, scan noise, through the shared :mod:`ocrlab.synth.degrade`).
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from PIL import Image

from ocrlab.synth.dataset import Sample
from ocrlab.synth.degrade import DegradationConfig, Degrader
from ocrlab.synth.fonts import STANDARD_FAMILIES, FontNotFoundError, font_checksums, package_font
from ocrlab.synth.money import (
    CURRENCIES,
    NUMBER_STYLES,
    Currency,
    NumberStyle,
    format_amount,
    format_number,
    quantize,
)
from ocrlab.synth.plan import HARD_KINDS, SynthesisPlan
from ocrlab.synth.render import (
    DocumentCanvas,
    FontBook,
    WordBox,
    encode_image,
    page_size_points,
    render,
    union_box,
    winansi_covers,
)
from ocrlab.synth.sampling import choice, faker_for, weighted_choice

DOCUMENT_TYPES = ("invoice", "receipt", "credit_note")
LAYOUT_FAMILIES = ("classic", "modern", "stacked", "centered", "sidebar", "minimal", "receipt")


@dataclass(frozen=True)
class LocaleProfile:
    language: str  # key of CAPTIONS / ITEMS
    currency: str
    number_style: str
    date_format: str  # strftime; "{be}" is replaced by the Buddhist-era year (Thai)
    tax_rates: tuple[str, ...]  # percent, as printed
    tax_label: str
    script: str  # latin | cjk | thai: picks fonts and the rendering backend
    page_size: str
    tax_id_format: str  # '#' digit, '?' capital letter


LOCALES: dict[str, LocaleProfile] = {
    "en_US": LocaleProfile("en", "USD", "en", "%m/%d/%Y", ("0", "6.25", "8.875"), "Sales tax", "latin", "LETTER", "##-#######"),
    "en_GB": LocaleProfile("en", "GBP", "en", "%d/%m/%Y", ("20", "5", "0"), "VAT", "latin", "A4", "GB#########"),
    "de_DE": LocaleProfile("de", "EUR", "de", "%d.%m.%Y", ("19", "7"), "MwSt.", "latin", "A4", "DE#########"),
    "fr_FR": LocaleProfile("fr", "EUR", "fr", "%d/%m/%Y", ("20", "10", "5.5"), "TVA", "latin", "A4", "FR###########"),
    "ja_JP": LocaleProfile("ja", "JPY", "en", "%Y年%m月%d日", ("10", "8"), "消費税", "cjk", "A4", "T#############"),
    "en_IN": LocaleProfile("en", "INR", "in", "%d-%m-%Y", ("18", "12", "5"), "GST", "latin", "A4", "##?????####?#Z#"),
    "th_TH": LocaleProfile("th", "THB", "en", "%d/%m/{be}", ("7",), "ภาษีมูลค่าเพิ่ม", "thai", "A4", "#############"),
}

PLAN_NAMES: dict[str, tuple[str, ...]] = {
    "locales": tuple(LOCALES),
    "currencies": tuple(CURRENCIES),
    "document_types": DOCUMENT_TYPES,
    "layouts": LAYOUT_FAMILIES,
}

CAPTIONS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "INVOICE", "receipt": "RECEIPT", "credit_note": "CREDIT NOTE", "number": "No.",
        "issue_date": "Date", "due_date": "Due date", "bill_to": "Bill to", "from": "From",
        "description": "Description", "quantity": "Qty", "unit_price": "Unit price", "amount": "Amount",
        "subtotal": "Subtotal", "discount": "Discount", "shipping": "Shipping", "total": "Total",
        "terms": "Payment terms", "notes": "Notes", "phone": "Tel", "email": "Email", "tax_id": "Tax ID",
        "continued": "continued", "page": "Page", "net_days": "Net {days} days", "due_on_receipt": "Due on receipt",
        "paid": "PAID", "credit_ref": "Credit for invoice {ref}", "thanks": "Thank you for your business.",
    },
    "de": {
        "invoice": "RECHNUNG", "receipt": "QUITTUNG", "credit_note": "GUTSCHRIFT", "number": "Nr.",
        "issue_date": "Datum", "due_date": "Fällig am", "bill_to": "Rechnungsempfänger", "from": "Von",
        "description": "Beschreibung", "quantity": "Menge", "unit_price": "Einzelpreis", "amount": "Betrag",
        "subtotal": "Zwischensumme", "discount": "Rabatt", "shipping": "Versand", "total": "Gesamt",
        "terms": "Zahlungsbedingungen", "notes": "Hinweise", "phone": "Tel.", "email": "E-Mail", "tax_id": "USt-IdNr.",
        "continued": "Fortsetzung", "page": "Seite", "net_days": "Zahlbar innerhalb {days} Tagen",
        "due_on_receipt": "Sofort fällig", "paid": "BEZAHLT", "credit_ref": "Gutschrift zu Rechnung {ref}",
        "thanks": "Vielen Dank für Ihren Auftrag.",
    },
    "fr": {
        "invoice": "FACTURE", "receipt": "REÇU", "credit_note": "AVOIR", "number": "N°",
        "issue_date": "Date", "due_date": "Échéance", "bill_to": "Facturé à", "from": "De",
        "description": "Désignation", "quantity": "Qté", "unit_price": "Prix unitaire", "amount": "Montant",
        "subtotal": "Sous-total", "discount": "Remise", "shipping": "Livraison", "total": "Total",
        "terms": "Conditions de paiement", "notes": "Remarques", "phone": "Tél.", "email": "E-mail", "tax_id": "N° TVA",
        "continued": "suite", "page": "Page", "net_days": "Paiement à {days} jours",
        "due_on_receipt": "Payable à réception", "paid": "PAYÉ", "credit_ref": "Avoir sur facture {ref}",
        "thanks": "Merci pour votre confiance.",
    },
    "ja": {
        "invoice": "請求書", "receipt": "領収書", "credit_note": "返金伝票", "number": "番号",
        "issue_date": "発行日", "due_date": "支払期限", "bill_to": "請求先", "from": "発行元",
        "description": "品名", "quantity": "数量", "unit_price": "単価", "amount": "金額",
        "subtotal": "小計", "discount": "値引き", "shipping": "送料", "total": "合計",
        "terms": "支払条件", "notes": "備考", "phone": "電話", "email": "メール", "tax_id": "登録番号",
        "continued": "続き", "page": "ページ", "net_days": "{days}日以内にお支払いください",
        "due_on_receipt": "受領時払い", "paid": "支払済", "credit_ref": "請求書 {ref} の返金",
        "thanks": "ありがとうございました。",
    },
    "th": {
        "invoice": "ใบแจ้งหนี้", "receipt": "ใบเสร็จรับเงิน", "credit_note": "ใบลดหนี้", "number": "เลขที่",
        "issue_date": "วันที่", "due_date": "ครบกำหนด", "bill_to": "ลูกค้า", "from": "ผู้ขาย",
        "description": "รายการ", "quantity": "จำนวน", "unit_price": "ราคาต่อหน่วย", "amount": "จำนวนเงิน",
        "subtotal": "รวมเงิน", "discount": "ส่วนลด", "shipping": "ค่าขนส่ง", "total": "ยอดสุทธิ",
        "terms": "เงื่อนไขการชำระเงิน", "notes": "หมายเหตุ", "phone": "โทร", "email": "อีเมล",
        "tax_id": "เลขประจำตัวผู้เสียภาษี", "continued": "ต่อ", "page": "หน้า",
        "net_days": "ชำระภายใน {days} วัน", "due_on_receipt": "ชำระทันที", "paid": "ชำระแล้ว",
        "credit_ref": "ลดหนี้ตามใบแจ้งหนี้ {ref}", "thanks": "ขอบคุณที่ใช้บริการ",
    },
}

# (item, unit price range in USD-equivalent) per language; services get fractional quantities.
ITEMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        ("Office chair", "Laser printer toner", "A4 copy paper (box)", "USB-C docking station", "LED desk lamp",
         "Wireless keyboard", "Steel filing cabinet", "Network switch 24-port", "Safety gloves (pack)",
         "Stainless steel bolts M8", "Industrial cleaner 5 L", "Shipping cartons", "27-inch monitor",
         "Conference table", "Printed brochures", "Hydraulic pump", "Solar panel 400 W"),
        ("Consulting services", "Software licence (annual)", "On-site maintenance", "Website hosting",
         "Translation services", "Freight handling", "Cloud storage subscription", "Training workshop",
         "Legal advisory", "Equipment rental"),
    ),
    "de": (
        ("Bürostuhl", "Tonerkartusche", "Kopierpapier A4 (Karton)", "Schreibtischlampe", "Funktastatur",
         "Aktenschrank aus Stahl", "Netzwerk-Switch", "Schutzhandschuhe", "Edelstahlschrauben M8",
         "Industriereiniger 5 l", "Versandkartons", "Monitor 27 Zoll", "Hydraulikpumpe"),
        ("Beratungsleistung", "Softwarelizenz (jährlich)", "Wartung vor Ort", "Webhosting", "Übersetzung",
         "Schulung", "Gerätemiete"),
    ),
    "fr": (
        ("Chaise de bureau", "Cartouche de toner", "Papier A4 (carton)", "Lampe de bureau", "Clavier sans fil",
         "Armoire métallique", "Commutateur réseau", "Gants de sécurité", "Vis inox M8", "Nettoyant industriel 5 L",
         "Cartons d'expédition", "Écran 27 pouces", "Pompe hydraulique"),
        ("Prestation de conseil", "Licence logicielle (annuelle)", "Maintenance sur site", "Hébergement web",
         "Traduction", "Formation", "Location de matériel"),
    ),
    "ja": (
        ("事務用椅子", "トナーカートリッジ", "コピー用紙A4", "デスクライト", "ワイヤレスキーボード", "スチール書庫",
         "ネットワークスイッチ", "作業用手袋", "ステンレスボルトM8", "業務用洗剤5L", "段ボール箱", "27インチモニター"),
        ("コンサルティング費用", "ソフトウェア年間ライセンス", "保守作業費", "ウェブホスティング", "翻訳料", "研修費",
         "機器レンタル料"),
    ),
    "th": (
        ("เก้าอี้สำนักงาน", "ตลับหมึกเครื่องพิมพ์", "กระดาษถ่ายเอกสาร A4", "โคมไฟตั้งโต๊ะ", "คีย์บอร์ดไร้สาย",
         "ตู้เอกสารเหล็ก", "สวิตช์เครือข่าย", "ถุงมือนิรภัย", "น็อตสแตนเลส M8", "น้ำยาทำความสะอาด 5 ลิตร",
         "กล่องกระดาษ", "จอภาพ 27 นิ้ว"),
        ("ค่าที่ปรึกษา", "ค่าลิขสิทธิ์ซอฟต์แวร์รายปี", "ค่าบำรุงรักษา", "ค่าเช่าพื้นที่เว็บไซต์", "ค่าแปลเอกสาร",
         "ค่าฝึกอบรม", "ค่าเช่าอุปกรณ์"),
    ),
}
# Clauses appended for the long_descriptions hard kind (wrapping over several lines).
DETAILS: dict[str, tuple[str, ...]] = {
    "en": ("including delivery, installation and configuration at the customer site",
           "as per framework agreement, batch and serial numbers listed in the delivery note",
           "billed monthly in arrears, covering all working days of the period"),
    "de": ("inklusive Lieferung, Installation und Konfiguration beim Kunden",
           "gemäß Rahmenvertrag, Chargen- und Seriennummern laut Lieferschein"),
    "fr": ("y compris livraison, installation et configuration chez le client",
           "selon contrat-cadre, numéros de lot et de série indiqués sur le bon de livraison"),
    "ja": ("配送・設置・初期設定を含む", "基本契約に基づく、ロット番号および製造番号は納品書に記載"),
    "th": ("รวมค่าจัดส่ง ติดตั้ง และตั้งค่าระบบที่สถานที่ของลูกค้า", "ตามสัญญาหลัก หมายเลขล็อตและหมายเลขเครื่องระบุในใบส่งของ"),
}
# Rough USD value of one unit of each currency: prices look plausible in every currency.
_USD_PER_UNIT = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "JPY": 0.0067, "INR": 0.012, "THB": 0.028, "CHF": 1.12}


# -- content -------------------------------------------------------------------------------
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


# -- layout --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    logo: str  # left | right | center | none
    title: str  # left | right | center
    band: bool  # coloured header band
    parties: str  # side_by_side | stacked | sidebar
    meta: str  # header | below_parties
    table: str  # grid | horizontal | zebra | plain | boxed | receipt
    totals: str  # right | left | box
    page: str | None = None  # fixed page size (receipts), else the locale's


LAYOUTS: dict[str, Layout] = {
    "classic": Layout("left", "right", False, "side_by_side", "header", "grid", "right"),
    "modern": Layout("right", "left", True, "side_by_side", "below_parties", "zebra", "right"),
    "stacked": Layout("none", "left", False, "stacked", "header", "horizontal", "left"),
    "centered": Layout("center", "center", False, "side_by_side", "below_parties", "boxed", "box"),
    "sidebar": Layout("left", "left", False, "sidebar", "header", "horizontal", "right"),
    "minimal": Layout("none", "right", False, "stacked", "below_parties", "plain", "right"),
    "receipt": Layout("center", "center", False, "stacked", "below_parties", "receipt", "right", page="RECEIPT"),
}


@dataclass(frozen=True)
class TextStyle:
    regular: str
    bold: str
    size: float
    leading: float  # line height / size
    margin: float
    accent: tuple[float, float, float]


@dataclass
class _Region:
    block: str
    page: int
    box: tuple[float, float, float, float]


class _Drawer:
    """Lays one document out on a :class:`DocumentCanvas`, tracking block regions."""

    def __init__(self, canvas: DocumentCanvas, doc: DocumentContent, layout: Layout, style: TextStyle, rng: np.random.Generator):
        self.c = canvas
        self.doc = doc
        self.layout = layout
        self.st = style
        self.rng = rng
        self.caps = CAPTIONS[LOCALES[doc.locale].language]
        self.width, self.height = canvas.page_size
        self.regions: list[_Region] = []
        self.extras: list[tuple[int, tuple[float, float, float, float]]] = []  # rules/fills inside a block

    # helpers
    @property
    def line_h(self) -> float:
        return self.st.size * self.st.leading

    def text(self, x, y, text, *, field=None, bold=False, size=None, align="left", color=(0, 0, 0)):
        return self.c.text(x, y, text, self.st.bold if bold else self.st.regular, size or self.st.size,
                           field=field, align=align, color=color)

    def region(self, block: str, start_word: int, start_extra: int | None = None) -> None:
        """Record the box of everything drawn since ``start_word`` (and rules/fills since
        ``start_extra``, if given) as ``block``, one region per page it spans."""
        words = self.c.words[start_word:]
        by_page: dict[int, list[tuple[float, float, float, float]]] = {}
        for w in words:
            by_page.setdefault(w.page, []).append(w.box)
        for page, box in self.extras[start_extra:] if start_extra is not None else ():
            by_page.setdefault(page, []).append(box)
        pad = 3.0
        for page, boxes in sorted(by_page.items()):
            x0, y0, x1, y1 = union_box(boxes)
            self.regions.append(_Region(block, page, (max(0, x0 - pad), max(0, y0 - pad), min(self.width, x1 + pad), min(self.height, y1 + pad))))

    def party_block(self, who: str, party: Party, x: float, y: float, width: float) -> float:
        start = len(self.c.words)
        caption = self.caps["from"] if who == "vendor" else self.caps["bill_to"]
        y += self.line_h
        self.text(x, y, caption, bold=True, color=self.st.accent)
        y += self.line_h
        for line in self.c.fonts.wrap(party.name, self.st.bold, self.st.size, width):
            self.text(x, y, line, field=f"{who}.name", bold=True)
            y += self.line_h
        for addr in party.address:
            for line in self.c.fonts.wrap(addr, self.st.regular, self.st.size, width):
                self.text(x, y, line, field=f"{who}.address")
                y += self.line_h
        for key in ("phone", "email", "tax_id"):
            value = getattr(party, key)
            if value:
                cap = f"{self.caps[key]}:"
                self.text(x, y, cap)
                vx = x + self.c.fonts.width(cap + " ", self.st.regular, self.st.size)
                for i, line in enumerate(self.c.fonts.wrap(value, self.st.regular, self.st.size, max(20.0, width - (vx - x)))):
                    self.text(vx, y, line, field=f"{who}.{key}")
                    y += self.line_h
        self.region(who, start)
        return y

    def meta_block(self, x: float, y: float, width: float, align: str = "left") -> float:
        start = len(self.c.words)
        rows = [(self.caps["number"], self.doc.number, "number"), (self.caps["issue_date"], self.doc.date(self.doc.issue_date), "issue_date")]
        if self.doc.due_date:
            rows.append((self.caps["due_date"], self.doc.date(self.doc.due_date), "due_date"))
        label_w = max(self.c.fonts.width(f"{r[0]}:", self.st.bold, self.st.size) for r in rows) + 6
        value_w = max(self.c.fonts.width(r[1], self.st.regular, self.st.size) for r in rows)
        x0 = x + width - label_w - value_w if align == "right" else x
        for cap, value, key in rows:
            y += self.line_h
            self.text(x0, y, f"{cap}:", bold=True)
            self.text(x0 + label_w, y, value, field=key)
        self.region("meta", start)
        return y

    def logo(self, x: float, y: float, size: float) -> None:
        """A vendor mark: a shape with the vendor's initials (not a word of the ground truth)."""
        kind = int(self.rng.integers(3))
        if kind == 0:
            self.c.ellipse(x, y, x + size, y + size, stroke=None, fill=self.st.accent)
        elif kind == 1:
            self.c.rect(x, y, x + size, y + size, stroke=None, fill=self.st.accent)
        else:
            self.c.rect(x, y, x + size, y + size, stroke=self.st.accent, fill=None, width=2)

    def header(self, x: float, y: float, width: float) -> float:
        lay = self.layout
        title = self.caps[self.doc.document_type]
        title_size = self.st.size * 2.0
        start = len(self.c.words)
        if lay.band:
            self.c.rect(0, 0, self.width, y + title_size * 2.2, stroke=None, fill=self.st.accent)
        logo_size = title_size * 1.6
        if lay.logo != "none":
            lx = {"left": x, "right": x + width - logo_size, "center": x + (width - logo_size) / 2}[lay.logo]
            self.logo(lx, y, logo_size)
            if lay.logo == "center":
                y += logo_size + 4
        title_color = (1.0, 1.0, 1.0) if lay.band else self.st.accent
        tx = {"left": x + (logo_size + 8 if lay.logo == "left" else 0), "right": x + width, "center": x + width / 2}[lay.title]
        y_title = y + title_size
        self.text(tx, y_title, title, field="document_type", bold=True, size=title_size, align=lay.title, color=title_color)
        self.region("header", start)
        y = max(y_title + self.st.size, y + (logo_size if lay.logo in ("left", "right") else 0)) + (self.line_h if lay.band else 0)
        return y

    def table(self, x: float, y: float, width: float) -> float:
        doc, st = self.doc, self.st
        if self.layout.table == "receipt":
            return self.receipt_items(x, y, width)
        cols = [self.caps["description"], self.caps["quantity"], self.caps["unit_price"], self.caps["amount"]]
        num_w = [
            max(self.c.fonts.width(cols[k], st.bold, st.size), *(self.c.fonts.width(v, st.regular, st.size) for v in vals)) + 10
            for k, vals in (
                (1, [doc.qty(i.quantity) for i in doc.items]),
                (2, [doc.money(i.unit_price) for i in doc.items]),
                (3, [doc.money(i.amount) for i in doc.items]),
            )
        ]
        desc_w = width - sum(num_w)
        edges = [x, x + desc_w, x + desc_w + num_w[0], x + desc_w + num_w[0] + num_w[1], x + width]
        pad = 4.0
        style = self.layout.table
        bottom_limit = self.height - st.margin - self.line_h
        start_word, start_extra = len(self.c.words), len(self.extras)
        top = y

        def header_row(y: float) -> float:
            h = self.line_h + 2 * pad
            if style in ("zebra", "boxed", "grid"):
                fill = st.accent if style != "grid" else (0.88, 0.88, 0.88)
                self.c.rect(x, y, x + width, y + h, stroke=None, fill=fill)
            color = (1, 1, 1) if style in ("zebra", "boxed") else (0, 0, 0)
            base = y + pad + st.size
            for k, cap in enumerate(cols):
                if k == 0:
                    self.text(edges[0] + pad, base, cap, bold=True, color=color)
                else:
                    self.text(edges[k + 1] - pad, base, cap, bold=True, align="right", color=color)
            self.extras.append((self.c.page, (x, y, x + width, y + h)))
            if style in ("horizontal", "plain"):
                self.c.line(x, y + h, x + width, y + h, width=1.0)
            return y + h

        y = header_row(y)
        seg_top = top
        for n, item in enumerate(doc.items):
            lines = self.c.fonts.wrap(item.description, st.regular, st.size, desc_w - 2 * pad)
            h = len(lines) * self.line_h + 2 * pad - (self.line_h - st.size) * 0.5
            if y + h > bottom_limit:
                self._table_rules(style, edges, seg_top, y)
                self.c.new_page()
                y = st.margin
                self.text(x, y + st.size, f"{self.caps['continued']} ({self.caps['page']} {self.c.page + 1})", size=st.size * 0.85)
                y += self.line_h * 1.5
                seg_top = y
                y = header_row(y)
            if style == "zebra" and n % 2 == 1:
                self.c.rect(x, y, x + width, y + h, stroke=None, fill=(0.93, 0.93, 0.93))
            base = y + pad + st.size
            for k, line in enumerate(lines):
                self.text(edges[0] + pad, base + k * self.line_h, line, field=f"line_items.{n}.description")
            self.text(edges[2] - pad, base, doc.qty(item.quantity), field=f"line_items.{n}.quantity", align="right")
            self.text(edges[3] - pad, base, doc.money(item.unit_price), field=f"line_items.{n}.unit_price", align="right")
            self.text(edges[4] - pad, base, doc.money(item.amount), field=f"line_items.{n}.amount", align="right")
            y += h
            if style in ("grid", "horizontal"):
                self.c.line(x, y, x + width, y, width=0.4)
            self.extras.append((self.c.page, (x, y - h, x + width, y)))
        self._table_rules(style, edges, seg_top, y)
        self.region("table", start_word, start_extra)
        return y + self.line_h * 0.5

    def _table_rules(self, style: str, edges: list[float], top: float, bottom: float) -> None:
        if style == "grid":
            for e in edges:
                self.c.line(e, top, e, bottom, width=0.4)
            self.c.rect(edges[0], top, edges[-1], bottom, stroke=(0, 0, 0), fill=None, width=0.8)
        elif style == "boxed":
            self.c.rect(edges[0], top, edges[-1], bottom, stroke=self.st.accent, fill=None, width=1.0)

    def receipt_items(self, x: float, y: float, width: float) -> float:
        doc, st = self.doc, self.st
        start_word = len(self.c.words)
        self.c.line(x, y, x + width, y, width=0.5)
        y += self.line_h * 0.5
        for n, item in enumerate(doc.items):
            for line in self.c.fonts.wrap(item.description, st.regular, st.size, width):
                y += self.line_h
                self.text(x, y, line, field=f"line_items.{n}.description")
            y += self.line_h
            qx = x + 8
            q = self.text(qx, y, doc.qty(item.quantity), field=f"line_items.{n}.quantity")
            times = self.text(q[2] + 3, y, "x")
            self.text(times[2] + 3, y, doc.money(item.unit_price), field=f"line_items.{n}.unit_price")
            self.text(x + width, y, doc.money(item.amount), field=f"line_items.{n}.amount", align="right")
        y += self.line_h * 0.6
        self.c.line(x, y, x + width, y, width=0.5)
        self.region("table", start_word)
        return y

    def summary(self, x: float, y: float, width: float) -> float:
        doc, st = self.doc, self.st
        rows: list[tuple[str, str, str | None, str | None, bool]] = [(self.caps["subtotal"], doc.money(doc.subtotal), "subtotal", None, False)]
        for k, (desc, amount) in enumerate(doc.discounts):
            rows.append((desc, "-" + doc.money(amount), f"discounts.{k}.amount", None, False))
        tax_label = LOCALES[doc.locale].tax_label
        for k, (rate, amount) in enumerate(doc.taxes):
            rows.append((tax_label, doc.money(amount), f"taxes.{k}.amount", f"{rate}%", False))
        if doc.shipping is not None:
            rows.append((self.caps["shipping"], doc.money(doc.shipping), "shipping", None, False))
        rows.append((self.caps["total"], doc.money(doc.total), "total", None, True))
        label_w = max(self.c.fonts.width(r[0] + (" " + r[3] if r[3] else ""), st.bold, st.size) for r in rows) + 14
        value_w = max(self.c.fonts.width(r[1], st.bold, st.size) for r in rows) + 4
        block_w = min(width, label_w + value_w)
        needed = len(rows) * self.line_h + self.line_h
        if y + needed > self.height - st.margin:
            self.c.new_page()
            y = st.margin
        bx = x + width - block_w if self.layout.totals in ("right", "box") else x
        start_word, start_extra = len(self.c.words), len(self.extras)
        top = y
        for label, value, key, rate, bold in rows:
            y += self.line_h
            if bold:
                self.c.line(bx, y - self.line_h + 2, bx + block_w, y - self.line_h + 2, width=0.8)
                y += 2
            lab = self.text(bx, y, label, bold=bold)
            if rate:
                self.text(lab[2] + self.c.fonts.width(" ", st.regular, st.size), y, rate, field=key.replace(".amount", ".rate"))
            self.text(bx + block_w, y, value, field=key, bold=bold, align="right")
        if self.layout.totals == "box":
            self.c.rect(bx - 6, top - 2, bx + block_w + 6, y + self.line_h * 0.5, stroke=st.accent, fill=None, width=1.0)
            self.extras.append((self.c.page, (bx - 6, top - 2, bx + block_w + 6, y + self.line_h * 0.5)))
        self.region("summary", start_word, start_extra)
        return y + self.line_h

    def footer(self, x: float, y: float, width: float) -> float:
        doc, st = self.doc, self.st
        start = len(self.c.words)
        for cap, value, key in ((self.caps["terms"], doc.payment_terms, "payment_terms"), (self.caps["notes"], doc.notes, "notes")):
            if not value:
                continue
            lines = self.c.fonts.wrap(value, st.regular, st.size, width)
            if y + (len(lines) + 1) * self.line_h > self.height - st.margin:
                self.c.new_page()
                y = st.margin
            y += self.line_h
            self.text(x, y, f"{cap}:", bold=True)
            for line in lines:
                y += self.line_h
                self.text(x, y, line, field=key)
        if len(self.c.words) > start:
            self.region("footer", start)
        return y

    # whole document
    def draw(self) -> None:
        st, lay = self.st, self.layout
        m = st.margin
        x, width = m, self.width - 2 * m
        if lay.parties == "sidebar":
            side_w = width * 0.32
            self.c.rect(0, 0, side_w + m * 0.8, self.height, stroke=None, fill=(0.94, 0.94, 0.94))
            y_side = self.header(x, m, side_w)
            y_side = self.party_block("vendor", self.doc.vendor, x, y_side, side_w)
            y_side = self.party_block("client", self.doc.client, x, y_side + self.line_h * 0.5, side_w)
            self.meta_block(x, y_side + self.line_h * 0.5, side_w)
            mx = x + side_w + m
            mw = self.width - mx - m
            y = self.table(mx, m + self.line_h, mw)
            y = self.summary(mx, y, mw)
            self.footer(mx, y, mw)
            return
        y = self.header(x, m, width)
        if lay.meta == "header":
            self.meta_block(x, m + (self.st.size * 2.0 * 1.6 if lay.logo in ("left", "right") else 0) + self.line_h * 0.3, width, align="right")
            y += self.line_h * 2.5
        if lay.parties == "side_by_side":
            col = (width - 20) / 2
            y1 = self.party_block("vendor", self.doc.vendor, x, y, col)
            y2 = self.party_block("client", self.doc.client, x + col + 20, y, col)
            y = max(y1, y2)
        else:
            y = self.party_block("vendor", self.doc.vendor, x, y, width if lay.table == "receipt" else width * 0.6)
            if self.doc.client.name:
                y = self.party_block("client", self.doc.client, x, y + self.line_h * 0.3, width if lay.table == "receipt" else width * 0.6)
        if lay.meta == "below_parties":
            y = self.meta_block(x, y + self.line_h * 0.3, width)
        y += self.line_h
        y = self.table(x, y, width)
        y = self.summary(x, y, width)
        self.footer(x, y, width)


# -- fonts -----------------------------------------------------------------------------------
_TTF_FAMILIES = {  # family -> (package, regular file, bold file)
    "Sarabun": ("fontpkg_sarabun", "Sarabun-Regular.ttf", "Sarabun-SemiBold.ttf"),
    "Kanit": ("fontpkg_kanit", "Kanit-Light.ttf", "Kanit-Medium.ttf"),
    "Prompt": ("fontpkg_prompt", "Prompt-Light.ttf", "Prompt-Medium.ttf"),
}
JAPANESE_FONT_FILES = ("ipaexg.ttf", "fonts-japanese-gothic.ttf")


class FontUnavailableError(FontNotFoundError):
    """A font the generator needs (e.g. a Japanese font for ja_JP) is not installed."""


@functools.lru_cache(maxsize=1)
def japanese_font() -> str:
    """A TrueType Japanese font (reportlab embeds only TrueType outlines): IPAexGothic."""
    from ocrlab.synth.fonts import system_font_dirs

    for root in system_font_dirs():
        if root.is_dir():
            for name in JAPANESE_FONT_FILES:
                hits = sorted(root.rglob(name))
                if hits:
                    return str(hits[0].resolve())
    raise FontUnavailableError(
        "ja_JP documents need a Japanese TrueType font (IPAexGothic, ipaexg.ttf); install Debian's "
        "fonts-ipaexfont-gothic (scripts/setup.sh does) or leave ja_JP out with --locales"
    )


# Thai pages are drawn by FreeType through Pillow, which has no glyph cache: Kanit and Prompt
# rasterize ~4x slower than these (0.8 vs 0.2 ms a text run), so Thai documents use Sarabun plus
# the Debian tlwg families that cover the Thai charset (scripts/setup.sh installs them).
THAI_FAMILIES = ("Sarabun", "Garuda", "Loma", "Norasi", "Kinnari", "Waree", "Umpush")
_BOLD_STYLES = ("SemiBold", "Bold")


def font_files(locales: Sequence[str]) -> dict[str, dict[str, str]]:
    """Font files per backend for the given locales: {"pdf"|"raster": {key: path}}.

    Keys are a family name (regular weight) and ``<family>-Bold``."""
    pdf: dict[str, str] = {}
    raster: dict[str, str] = {}
    if any(LOCALES[loc].script == "latin" for loc in locales):
        for family, (package, regular, bold) in _TTF_FAMILIES.items():
            pdf[family] = package_font(package, regular)
            pdf[f"{family}-Bold"] = package_font(package, bold)
    if "ja_JP" in locales:
        pdf["IPAexGothic"] = japanese_font()
    if any(LOCALES[loc].script == "thai" for loc in locales):
        from ocrlab.synth.fonts import discover_fonts

        records = discover_fonts()
        for family in THAI_FAMILIES:
            styles = {r.style: r.path for r in records if r.family == family}
            bold = next((styles[b] for b in _BOLD_STYLES if b in styles), None)
            if "Regular" in styles and bold:
                raster[family] = styles["Regular"]
                raster[f"{family}-Bold"] = bold
        if not raster:
            raise FontUnavailableError(f"th_TH documents need one of the Thai font families {list(THAI_FAMILIES)}")
    return {"pdf": pdf, "raster": raster}


# -- generator -------------------------------------------------------------------------------
class InvoiceGenerator:
    """Financial documents for :func:`ocrlab.synth.dataset.write_dataset`.

    ``locales``/``currencies`` restrict the draw (default: all, each locale with its own
    currency; a currency list mixes currencies into every locale). ``plan`` is a
    :class:`SynthesisPlan` (see :mod:`ocrlab.synth.plan`). ``grayscale`` pages are smaller and
    4x faster to rasterize; ``dpi`` sets the raster resolution; ``image_format`` ``jpg`` (default,
    ~5 ms a page to encode) or ``png`` (lossless, ~25-60 ms).
    """

    kind = "invoices"

    def __init__(
        self,
        *,
        seed: int = 0,
        hard_ratio: float = 0.1,
        locales: Sequence[str] | None = None,
        currencies: Sequence[str] | None = None,
        document_types: Sequence[str] | None = None,
        plan: SynthesisPlan | None = None,
        dpi: float = 150,
        image_format: str = "jpg",
        grayscale: bool = True,
        jpeg_quality: int = 90,
    ):
        def check(names, allowed, what):
            if names is None:
                return list(allowed)
            names = list(names)
            unknown = [n for n in names if n not in allowed]
            if unknown or not names:
                raise ValueError(f"unknown {what} {unknown or names}; allowed values: {list(allowed)}")
            return names

        if isinstance(hard_ratio, bool) or not isinstance(hard_ratio, (int, float)) or not 0 <= hard_ratio <= 1:
            raise ValueError(f"hard_ratio={hard_ratio!r}: expected a number in [0, 1]")
        if not 36 <= dpi <= 600:
            raise ValueError(f"dpi={dpi}: expected 36..600")
        if image_format not in ("jpg", "png"):
            raise ValueError(f"image_format={image_format!r}: expected 'jpg' or 'png'")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality={jpeg_quality}: expected 1..100")
        self.seed = int(seed)
        self.locales = check(locales, LOCALES, "locale(s)")
        self.currencies = None if currencies is None else check(currencies, CURRENCIES, "currency(ies)")
        self.document_types = check(document_types, DOCUMENT_TYPES, "document type(s)")
        self.plan = plan or SynthesisPlan()
        self.hard_ratio = float(self.plan.hard_ratio if self.plan.hard_ratio is not None else hard_ratio)
        self.dpi = float(dpi)
        self.image_format = image_format
        self.grayscale = bool(grayscale)
        self.jpeg_quality = int(jpeg_quality)
        self._fonts = font_files(self.locales)
        self._cache: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}  # font books and degraders are rebuilt in each worker
        return state

    def spec(self) -> dict[str, Any]:
        return {
            "generator": "ocrlab.synth.invoices/1",
            "seed": self.seed,
            "hard_ratio": self.hard_ratio,
            "locales": self.locales,
            "currencies": self.currencies,
            "document_types": self.document_types,
            "plan": self.plan.to_dict(),
            "dpi": self.dpi,
            "image_format": self.image_format,
            "grayscale": self.grayscale,
            "jpeg_quality": self.jpeg_quality,
            "fonts": {backend: font_checksums(files) for backend, files in self._fonts.items()},
        }

    def static_files(self) -> dict[str, bytes]:
        return {}

    # draws
    def _weights(self, section: str, names: Sequence[str]) -> dict[str, float]:
        plan_weights = getattr(self.plan, section)
        if plan_weights is None:
            return {n: 1.0 for n in names}
        weights = {n: plan_weights.get(n, 0.0) for n in names}
        if not any(weights.values()):
            raise ValueError(f"plan {section} gives weight 0 to every allowed value {list(names)}")
        return weights

    def draw_attributes(self, rng: np.random.Generator) -> dict[str, Any]:
        """Document type, locale, currency, layout and hard kinds of one document."""
        doc_type = weighted_choice(rng, self._weights("document_types", self.document_types))
        locale = weighted_choice(rng, self._weights("locales", self.locales))
        hard = bool(rng.random() < self.hard_ratio)
        kinds: list[str] = []
        if hard:
            weights = self.plan.hard_kind_weights()
            n = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
            pool = dict(weights)
            for _ in range(min(n, len(pool))):
                k = weighted_choice(rng, pool)
                kinds.append(k)
                pool.pop(k)
            kinds.sort(key=HARD_KINDS.index)
        if self.currencies is not None or self.plan.currencies is not None:
            currency = weighted_choice(rng, self._weights("currencies", self.currencies or list(CURRENCIES)))
        elif "uncommon_currency" in kinds:
            currency = choice(rng, [c for c in CURRENCIES if c != LOCALES[locale].currency])
        else:
            currency = LOCALES[locale].currency
        allowed_layouts = ("receipt", "classic", "minimal") if doc_type == "receipt" else LAYOUT_FAMILIES[:-1]
        lw = self._weights("layouts", LAYOUT_FAMILIES)
        lw = {k: lw.get(k, 0.0) for k in allowed_layouts}
        if doc_type == "receipt" and self.plan.layouts is None:
            lw["receipt"] = 4.0  # most receipts are till rolls
        if not any(lw.values()):
            lw = {k: 1.0 for k in allowed_layouts}
        layout = weighted_choice(rng, lw)
        return {"document_type": doc_type, "locale": locale, "currency": currency, "layout": layout, "hard": hard, "hard_kinds": kinds}

    def _fontbook(self, backend: str) -> FontBook:
        key = f"fontbook-{backend}"
        if key not in self._cache:
            book = FontBook(backend, raster_dpi=self.dpi)  # type: ignore[arg-type]
            for name, path in self._fonts[backend].items():
                book.add(name, path)
            self._cache[key] = book
        return self._cache[key]

    def _style(self, rng: np.random.Generator, attrs: dict[str, Any], content: DocumentContent) -> TextStyle:
        script = LOCALES[attrs["locale"]].script
        kinds = attrs["hard_kinds"]
        if script == "cjk":
            regular = bold = "IPAexGothic"
        elif script == "thai":
            family = choice(rng, [k for k in self._fonts["raster"] if not k.endswith("-Bold")])
            regular, bold = family, f"{family}-Bold"
        else:
            families = list(_TTF_FAMILIES)
            if script == "latin" and winansi_covers(content.money(Decimal("1234.5"))):
                families += ["Helvetica", "Times"] + (["Courier"] if attrs["layout"] == "receipt" else [])
            family = choice(rng, families)
            regular, bold = STANDARD_FAMILIES.get(family, (family, f"{family}-Bold"))
        size = float(rng.uniform(8.5, 10.5))
        if attrs["layout"] == "receipt":
            size = float(rng.uniform(7.5, 9.0))
        if "small_font" in kinds:
            size = float(rng.uniform(5.5, 7.0))
        leading = float(rng.uniform(1.25, 1.45))
        margin = float(rng.uniform(36, 60)) if attrs["layout"] != "receipt" else float(rng.uniform(12, 18))
        if "dense_layout" in kinds:
            leading, margin = float(rng.uniform(1.05, 1.15)), margin * 0.5
        hue = rng.uniform(0, 0.5, size=3)
        return TextStyle(regular, bold, round(size, 2), round(leading, 3), round(margin, 1), tuple(float(v) for v in hue))  # type: ignore[arg-type]

    def sample(self, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, index])
        attrs = self.draw_attributes(rng)
        doc_id = f"{attrs['document_type']}_{index:06d}"
        content = make_content(rng, doc_id, attrs["document_type"], attrs["locale"], attrs["currency"], attrs["hard_kinds"])
        backend = "raster" if LOCALES[attrs["locale"]].script == "thai" else "pdf"
        fonts = self._fontbook(backend)
        style = self._style(rng, attrs, content)
        layout = LAYOUTS[attrs["layout"]]
        page = page_size_points(layout.page or LOCALES[attrs["locale"]].page_size)
        canvas = DocumentCanvas(page, fonts)
        drawer = _Drawer(canvas, content, layout, style, rng)
        drawer.draw()
        if "stamp" in attrs["hard_kinds"]:
            target = next((r for r in reversed(drawer.regions) if r.block in ("summary", "table")), drawer.regions[-1])
            cx = (target.box[0] + target.box[2]) / 2 + float(rng.uniform(-30, 30))
            cy = (target.box[1] + target.box[3]) / 2
            caption = CAPTIONS[LOCALES[attrs["locale"]].language]["paid"]
            canvas.stamp(cx, cy, caption, style.bold, style.size * 2.6, angle=float(rng.uniform(-25, 25)), page=target.page)
        rendered = render(canvas, self.dpi, grayscale=self.grayscale)
        images = rendered.images
        words = rendered.words
        s = rendered.scale
        regions = [(r.block, r.page, tuple(round(v * s, 2) for v in r.box)) for r in drawer.regions]
        images, words, regions = self._degrade(rng, attrs["hard_kinds"], images, words, regions)

        files: dict[str, bytes] = {}
        pages = []
        for n, image in enumerate(images, start=1):
            rel = f"images/{doc_id}_p{n}.{self.image_format}"
            files[rel] = encode_image(image, self.image_format, quality=self.jpeg_quality)
            pages.append({"image": rel, "width": image.width, "height": image.height})
        files[f"pdf/{doc_id}.pdf"] = rendered.pdf
        gt = {
            "schema_version": 1,
            "id": doc_id,
            **content.ground_truth(),
            "table_html": table_html(content),
            "hard": attrs["hard"],
            "hard_kinds": attrs["hard_kinds"],
            "rendering": {
                "layout": attrs["layout"], "backend": backend, "font": style.regular, "font_size": style.size,
                "page_size_pt": [round(v, 2) for v in page], "dpi": self.dpi, "grayscale": self.grayscale,
            },
            "pages": pages,
            "pdf": f"pdf/{doc_id}.pdf",
            "regions": [{"block": b, "page": p, "box": list(box)} for b, p, box in regions],
            "words": [w.to_dict() for w in words],
        }
        # Compact: the C encoder is ~10x faster than indent= (which falls back to Python).
        files[f"ground_truth/{doc_id}.json"] = (json.dumps(gt, ensure_ascii=False) + "\n").encode("utf-8")
        record = {
            "id": doc_id, "document_type": attrs["document_type"], "locale": attrs["locale"],
            "currency": attrs["currency"], "layout": attrs["layout"], "pages": len(images),
            "hard_kinds": attrs["hard_kinds"],
        }
        return Sample(files, record)

    def _degrade(self, rng, kinds, images, words, regions):
        """Image-level hard kinds; geometric ones move the boxes with the pixels."""
        if "skew" in kinds:
            angle = float(rng.uniform(1.0, 4.0)) * (1 if rng.random() < 0.5 else -1)
            rotated = []
            for image in images:
                fill = 255 if image.mode == "L" else (255, 255, 255)
                rotated.append(image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=fill))
            sizes = [im.size for im in images]
            words = [WordBox(w.text, _rotate_box(w.box, angle, sizes[w.page]), w.page, w.field) for w in words]
            regions = [(b, p, _rotate_box(box, angle, sizes[p])) for b, p, box in regions]
            images = rotated
        for kind in ("low_contrast", "scan_noise"):
            if kind in kinds:
                key = f"degrader-{kind}"
                if key not in self._cache:
                    self._cache[key] = Degrader(DegradationConfig.from_dict(_DEGRADATIONS[kind]))
                images = [self._cache[key](image, rng) for image in images]
        return images, words, regions


_DEGRADATIONS: dict[str, dict[str, Any]] = {
    # Photometric only: geometry (rotation, perspective) would move text away from its boxes.
    "low_contrast": {"preset": "none", "brightness_contrast_p": 1.0, "contrast": [0.3, 0.55],
                     "brightness": [0.05, 0.2], "background_p": 1.0, "background_darkness": [0.08, 0.2]},
    "scan_noise": {"preset": "none", "gaussian_blur_p": 0.6, "gaussian_blur_radius": [0.4, 0.9],
                   "gaussian_noise_p": 1.0, "gaussian_noise_sigma": [4.0, 12.0], "salt_pepper_p": 0.7,
                   "salt_pepper_amount": [0.0005, 0.003], "downscale_p": 0.4, "downscale_factor": [0.6, 0.9],
                   "jpeg_p": 0.5, "jpeg_quality": [25, 60]},
}


def _rotate_box(box, angle: float, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Axis-aligned box of ``box`` after PIL's ``rotate(angle)`` about the image centre."""
    w, h = size
    cx, cy = w / 2, h / 2
    rad = math.radians(angle)
    cos, sin = math.cos(rad), math.sin(rad)
    xs, ys = [], []
    for x, y in ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])):
        dx, dy = x - cx, y - cy
        # PIL rotates counter-clockwise on screen (y down): x' = cx + dx cos + dy sin, y' = cy - dx sin + dy cos
        xs.append(cx + dx * cos + dy * sin)
        ys.append(cy - dx * sin + dy * cos)
    return (round(max(0.0, min(xs)), 2), round(max(0.0, min(ys)), 2), round(min(float(w), max(xs)), 2), round(min(float(h), max(ys)), 2))


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


# The ground truth's JSON Schema (draft 2020-12). Kept in code, not written beside the data:
# a schema file holding "line_items" would look like a document to naive readers.
_MONEY = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}
_PARTY = {
    "type": "object",
    "required": ["name", "address", "phone", "email", "tax_id"],
    "additionalProperties": False,
    "properties": {k: {"type": ["string", "null"]} for k in ("name", "address", "phone", "email", "tax_id")},
}
_BOX = {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 4, "maxItems": 4}
GROUND_TRUTH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ocrlab financial document ground truth",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version", "id", "document_type", "number", "issue_date", "due_date", "currency", "locale", "vendor",
        "client", "line_items", "subtotal", "discounts", "taxes", "shipping", "total", "payment_terms", "notes",
        "table_html", "hard", "hard_kinds", "rendering", "pages", "pdf", "regions", "words",
    ],
    "properties": {
        "schema_version": {"const": 1},
        "id": {"type": "string"},
        "document_type": {"enum": list(DOCUMENT_TYPES)},
        "number": {"type": "string"},
        "issue_date": {"type": "string", "format": "date"},
        "due_date": {"type": ["string", "null"], "format": "date"},
        "currency": {"enum": list(CURRENCIES)},
        "locale": {"enum": list(LOCALES)},
        "vendor": _PARTY,
        "client": _PARTY,
        "line_items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["description", "quantity", "unit_price", "amount", "tax_rate"],
                "properties": {"description": {"type": "string", "minLength": 1}, "quantity": _MONEY,
                               "unit_price": _MONEY, "amount": _MONEY, "tax_rate": {"type": "string"}},
            },
        },
        "subtotal": _MONEY,
        "discounts": {"type": "array", "items": {"type": "object", "required": ["description", "amount"],
                                                  "properties": {"description": {"type": "string"}, "amount": _MONEY}}},
        "taxes": {"type": "array", "items": {"type": "object", "required": ["rate", "amount"],
                                              "properties": {"rate": {"type": "string"}, "amount": _MONEY}}},
        "shipping": {"anyOf": [_MONEY, {"type": "null"}]},
        "total": _MONEY,
        "payment_terms": {"type": ["string", "null"]},
        "notes": {"type": ["string", "null"]},
        "table_html": {"type": "string", "pattern": "^<table>.*</table>$"},
        "hard": {"type": "boolean"},
        "hard_kinds": {"type": "array", "items": {"enum": list(HARD_KINDS)}, "uniqueItems": True},
        "rendering": {"type": "object", "required": ["layout", "backend", "font", "font_size", "page_size_pt", "dpi"],
                      "properties": {"layout": {"enum": list(LAYOUT_FAMILIES)}, "backend": {"enum": ["pdf", "raster"]}}},
        "pages": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["image", "width", "height"]}},
        "pdf": {"type": "string"},
        "regions": {"type": "array", "items": {"type": "object", "required": ["block", "page", "box"],
                                                "properties": {"block": {"enum": ["header", "vendor", "client", "meta", "table", "summary", "footer"]},
                                                               "page": {"type": "integer", "minimum": 0}, "box": _BOX}}},
        "words": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["text", "box", "page", "field"], "additionalProperties": False,
            "properties": {"text": {"type": "string", "minLength": 1}, "box": _BOX, "page": {"type": "integer", "minimum": 0},
                           "field": {"type": ["string", "null"]}}}},
    },
}
