"""Building blocks the document types share: item tables, money totals, bank details."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ocrlab.synth.business_docs.content import Content, Party
from ocrlab.synth.business_docs.layout import KV, Column, Doc

# -- document types --------------------------------------------------------------------------
COLUMNS: dict[str, tuple[str, str | None, str, float]] = {  # key -> (captions, field, align, weight)
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


def item_table(c: Content, keys: Sequence[str]) -> tuple[list[Column], Callable[[dict[str, Any]], list[str]]]:
    f = c.fmt
    columns = []
    for key in keys:
        captions, field_name, align, weight = COLUMNS[key]
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


def money_totals(
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


def bank_footer(c: Content, party: Party, *, tax_field: str | None = None) -> list[KV]:
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


def optional(c: Content, probability: float, *rows: KV) -> list[KV]:
    return list(rows) if c.p(probability) else []


def n_items(c: Content, lo: int = 2, hi: int = 12) -> int:
    if c.dense:
        lo, hi = hi, int(hi * 2.5)
    return int(c.rng.integers(lo, hi + 1))


def table_doc(
    c: Content,
    issuer_role: str,
    issuer: Party,
    meta: list[KV],
    table: Sequence[Sequence[str]] | tuple[list[Column], Callable[[dict[str, Any]], list[str]]],
    title: str | Callable[[], str],
    *,
    parties: Any = (),
    items: Any = (2, 12),
    totals: Callable[[], Any] | None = None,
    body: Any = (),
    footer: Any = (),
    extras: Sequence[tuple[str, ...]] | None = None,
    intro: list[tuple[Any, ...]] | None = None,
) -> Doc:
    """The one place a document with an item table is assembled, drawing in page order.

    ``table``: item-table key variants (one is drawn) or a built ``(columns, row)``; ``title``:
    ``|``-separated captions or a thunk; ``items``: an ``n_items`` range, the items or a thunk;
    ``parties``/``body``/``footer``: a value or a thunk; ``totals``: a thunk giving the totals
    function (or None); ``extras``: the issuer-extras choices (None: none)."""

    def now(x: Any) -> Any:
        return list(x() if callable(x) else x)

    columns, row = table if callable(table[-1]) else item_table(c, c.pick(table))
    return Doc(
        c.cap(title) if isinstance(title, str) else title(),
        issuer_role,
        issuer,
        now(parties),
        meta,
        columns,
        c.items(n_items(c, *items)) if isinstance(items, tuple) else now(items),
        row,
        totals() if totals else None,
        now(body),
        now(footer),
        c.pick(extras) if extras is not None else (),
        intro or [],
    )
