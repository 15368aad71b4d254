"""Credit and debit memos, payment and remittance advices, statements of account."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from ocrlab.synth.business_docs.content import Content
from ocrlab.synth.business_docs.documents.common import (
    bank_footer,
    item_table,
    money_totals,
    n_items,
    optional,
    table_doc,
)
from ocrlab.synth.business_docs.layout import KV, Column, Doc


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
        *optional(c, 0.4, (c.cap("PO Number|Purchase Order"), "PO_NUMBER", c.number("PO_REF"))),
        *optional(c, 0.3, ("Currency", "CURRENCY", c.fmt.currency_text())),
    ]
    columns, row = item_table(
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
    # Credit memos come from the vendor to its customer, debit memos from the buyer to its vendor.
    # (Each draw in the order of the page: title, party heading, items, totals, footer, extras.)
    issuer_role, other_role = ("VENDOR", "BILL_TO") if credit else ("BUYER", "VENDOR")
    return table_doc(
        c,
        issuer_role,
        a,
        meta,
        (columns, row),
        "Credit Memo|CREDIT NOTE|Credit Note" if credit else "Debit Memo|DEBIT NOTE|Debit Note",
        parties=lambda: [
            (c.cap("Customer|Bill To|Credit To" if credit else "Vendor|Supplier|To"), other_role, b)
        ],
        items=(1, 5),
        totals=lambda: money_totals(c),
        body=body,
        footer=lambda: (
            bank_footer(c, a, tax_field="VENDOR_TAX_ID")
            if credit
            else [(c.cap("VAT ID|Tax ID"), "BUYER_TAX_ID", a.tax_id)]
        ),
        extras=(("tax",), ("phone", "email")) if credit else (("contact",), ("contact", "phone"), ()),
    )


def payment_items(c: Content, n: int) -> list[dict[str, Any]]:
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
        *optional(c, 0.5, ("Company Code", "COMPANY_CODE", c.org("CC"))),
        *optional(
            c,
            0.5,
            (c.cap("Fiscal Year"), "FISCAL_YEAR", str(c.today.year) if c.p(0.4) else f"FY {c.today.year}"),
        ),
        *optional(c, 0.5, ("Currency", "CURRENCY", f.currency_text())),
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
    return table_doc(
        c,
        "BUYER",
        payer,
        meta,
        (columns, row),
        "Payment Advice|PAYMENT ADVICE|Payment Advice Note",
        parties=lambda: [(c.cap("Payee|To|Beneficiary"), "VENDOR", payee)],
        items=lambda: payment_items(c, n_items(c, 1, 14)),
        totals=lambda: totals,
        body=body,
        extras=(("contact",), ("contact", "phone"), ()),
    )


def _remittance_advice(c: Content, sub: str | None) -> Doc:
    payer, payee = c.party(), c.party()
    f = c.fmt
    items = payment_items(c, n_items(c, 1, 10))
    total = sum(it["amount"] for it in items)
    meta = [
        (c.cap("Remittance No.|Remittance Advice No.|Advice No."), "DOCUMENT_NUMBER", c.number("REMITTANCE")),
        (c.cap("Date|Advice Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Our Customer No.|Account Ref."), "CUSTOMER_NUMBER", c.number("CUSTOMER")),
        *optional(c, 0.5, (c.cap("Payment Reference|Reference"), "PAYMENT_REFERENCE", c.number("REF"))),
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
    return table_doc(
        c,
        "BUYER",
        payer,
        meta,
        (columns, row),
        "Remittance Advice|REMITTANCE ADVICE|Remittance Notice",
        parties=lambda: [(c.cap("To|Payee|Supplier"), "VENDOR", payee)],
        items=items,
        totals=lambda: totals,
        body=[("note", "Please contact us if any item is incorrect.")],
        extras=(("phone", "email"), ("tax",), ()),
        intro=intro,
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
        *optional(c, 0.5, ("Currency", "CURRENCY", f.currency_text())),
    ]
    items, balance = [], opening
    for _ in range(n_items(c, 3, 14)):
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

    return table_doc(
        c,
        "VENDOR",
        vendor,
        meta,
        (columns, row),
        "Statement of Account|STATEMENT|Account Statement|Customer Statement",
        parties=lambda: [(c.cap("Customer|To|Account"), "BUYER", buyer)],
        items=items,
        totals=lambda: totals,
        body=[("note", "Please remit the balance due to the account below.")],
        footer=lambda: bank_footer(c, vendor),
        extras=(("phone", "email"), ("tax",), ("contact",)),
    )
