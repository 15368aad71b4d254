"""Invoices, purchase orders, sales orders, quotations and requests for quotation."""

from __future__ import annotations

from typing import Any

from ocrlab.synth.business_docs.content import Content, Party
from ocrlab.synth.business_docs.documents.common import (
    bank_footer,
    item_table,
    money_totals,
    n_items,
    optional,
    table_doc,
)
from ocrlab.synth.business_docs.layout import Doc
from ocrlab.synth.business_docs.schema import PO_SUBTYPE_INFO


def _invoice(c: Content, sub: str | None) -> Doc:
    vendor, buyer = c.party(), c.party()
    meta = [
        (c.cap("Invoice No.|Invoice Number|Invoice #"), "DOCUMENT_NUMBER", c.number("INVOICE")),
        (c.cap("Invoice Date|Date|Billing Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Due Date|Payment Due|Due"), "DUE_DATE", c.ds(14, 60)),
        (c.cap("PO Number|Your Order|Purchase Order|Customer PO"), "PO_NUMBER", c.number("PO_REF")),
        (c.cap("Customer No.|Customer ID|Account No."), "CUSTOMER_NUMBER", c.number("CUSTOMER")),
        *optional(
            c, 0.4, (c.cap("Delivery Note|Delivery No."), "DELIVERY_NOTE_NUMBER", c.number("DELIVERY"))
        ),
        *optional(c, 0.4, (c.cap("Sales Order|Our Order"), "SO_NUMBER", c.number("SO"))),
        (c.cap("Payment Terms|Terms"), "PAYMENT_TERMS", c.payment_terms()),
        *optional(c, 0.3, ("Incoterms", "INCOTERMS", c.incoterms())),
        *optional(c, 0.3, (c.cap("Payment Method|Pay by"), "PAYMENT_METHOD", c.payment_method())),
        *optional(c, 0.3, (c.cap("Payment Reference|Reference"), "PAYMENT_REFERENCE", c.number("REF"))),
    ]
    parties = [(c.cap("Bill To|Invoice To|Customer|Sold To"), "BILL_TO", buyer)]
    if c.p(0.5):
        parties.append((c.cap("Ship To|Delivery Address|Deliver To"), "SHIP_TO", c.party()))
    return table_doc(
        c,
        "VENDOR",
        vendor,
        meta,
        (
            ("no", "material", "desc", "qty", "uom", "price", "amount"),
            ("no", "desc", "qty", "uom", "price", "amount"),
            ("material", "desc", "qty", "price", "amount"),
        ),
        "INVOICE|Invoice|Tax Invoice|Commercial Invoice",
        parties=parties,
        totals=lambda: money_totals(
            c, discount=c.p(0.3), freight=c.p(0.35), currency=c.p(0.4), paid=c.p(0.25)
        ),
        body=lambda: [
            (
                "note",
                c.cap(
                    "Thank you for your business.|Please pay within the agreed terms quoting the invoice number.|Goods remain our property until paid in full."
                ),
            )
        ],
        footer=lambda: bank_footer(c, vendor, tax_field="VENDOR_TAX_ID"),
        extras=(("tax", "phone", "email"), ("phone", "email"), ("tax",), ("contact", "phone")),
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
        *optional(c, 0.6, (c.cap("Purch. Org.|Purchasing Org."), "PURCHASING_ORG", c.org("PORG"))),
        *optional(
            c, 0.7, (c.cap("Purch. Group|Purchasing Group|Buyer Group"), "PURCHASING_GROUP", c.org("PGRP"))
        ),
        *optional(c, 0.5, (c.cap("Company Code|Co. Code"), "COMPANY_CODE", c.org("CC"))),
        (c.cap("Plant|Receiving Plant"), "PLANT", c.org("PLANT")),
        *optional(c, 0.6, (c.cap("Storage Location|Stor. Loc."), "STORAGE_LOCATION", c.org("SLOC"))),
        (c.cap("Delivery Date|Requested Delivery|Deliver By"), "DELIVERY_DATE", c.ds(7, 60)),
        *optional(c, 0.8, (c.cap("Payment Terms|Terms of Payment"), "PAYMENT_TERMS", c.payment_terms())),
        *optional(
            c,
            0.6 if "import" not in traits else 1.0,
            (c.cap("Incoterms|Delivery Terms"), "INCOTERMS", c.incoterms()),
        ),
        *optional(c, 0.5, ("Currency", "CURRENCY", c.fmt.currency_text())),
        *optional(c, 0.3, (c.cap("Quotation|Your Quotation"), "QUOTATION_NUMBER", c.number("QUOTATION"))),
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
    columns, row = item_table(c, keys)
    items = c.items(n_items(c, 1, 10), service=service)
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
                    c.signer(
                        "Authorized by|Approved by|Buyer",
                        (
                            "Purchasing Manager",
                            "Head of Procurement",
                            "Senior Buyer",
                            "Einkaufsleiter",
                            "Category Manager",
                        ),
                    )
                ],
            )
        )
    totals = money_totals(c, tax=c.p(0.5)) if "no_price" not in traits else None
    return table_doc(
        c,
        "BUYER",
        buyer,
        meta,
        (columns, row),
        lambda: title if c.p(0.7) else title.upper(),
        parties=parties,
        items=items,
        totals=lambda: totals,
        body=body,
        footer=lambda: (
            [(c.cap("VAT Reg. No.|Tax ID|VAT ID"), "BUYER_TAX_ID", buyer.tax_id)]
            + optional(c, 0.5, ("Company Code", "COMPANY_CODE", c.org("CC")))
        ),
        extras=(("contact", "phone"), ("contact", "email"), ("tax",), ()),
    )


def _sales_order(c: Content, sub: str | None) -> Doc:
    vendor, buyer = c.party(), c.party()
    meta = [
        (c.cap("Order No.|Sales Order|Order Confirmation No."), "DOCUMENT_NUMBER", c.number("SO")),
        (c.cap("Order Date|Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Your PO|Customer PO|Your Order No."), "PO_NUMBER", c.number("PO_REF")),
        (c.cap("Customer No.|Sold-To No.|Customer"), "CUSTOMER_NUMBER", c.number("CUSTOMER")),
        *optional(c, 0.6, (c.cap("Sales Org.|Sales Organization"), "SALES_ORG", c.org("SORG"))),
        (c.cap("Delivery Date|Planned Delivery|Ship Date"), "DELIVERY_DATE", c.ds(5, 40)),
        *optional(
            c,
            0.6,
            (c.cap("Shipping Method|Ship Via|Shipping Condition"), "SHIPPING_METHOD", c.shipping_method()),
        ),
        *optional(c, 0.6, ("Incoterms", "INCOTERMS", c.incoterms())),
        (c.cap("Payment Terms|Terms"), "PAYMENT_TERMS", c.payment_terms()),
        *optional(c, 0.4, (c.cap("Quotation|Based on Quotation"), "QUOTATION_NUMBER", c.number("QUOTATION"))),
    ]
    parties = [
        (c.cap("Sold To|Customer|Sold-To Party"), "BUYER", buyer),
        (c.cap("Ship To|Ship-To Party|Delivery Address"), "SHIP_TO", c.party()),
    ]
    return table_doc(
        c,
        "VENDOR",
        vendor,
        meta,
        (
            ("no", "material", "desc", "qty", "uom", "price", "amount"),
            ("no", "material", "desc", "qty", "price", "amount", "date"),
        ),
        "Order Confirmation|Sales Order|SALES ORDER CONFIRMATION",
        parties=parties,
        totals=lambda: money_totals(c, freight=c.p(0.4), currency=c.p(0.4)),
        body=[("note", "Please check this confirmation and inform us of any discrepancies within 3 days.")],
        footer=lambda: bank_footer(c, vendor, tax_field="VENDOR_TAX_ID"),
        extras=(("tax", "phone"), ("contact", "email"), ("phone", "email")),
    )


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
        *optional(c, 0.8, (c.cap("Your RFQ|Your Inquiry|RFQ No."), "RFQ_NUMBER", c.number("RFQ"))),
        *optional(c, 0.6, (c.cap("Customer No.|Customer"), "CUSTOMER_NUMBER", c.number("CUSTOMER"))),
        *optional(c, 0.4, (c.cap("Sales Org.|Sales Office"), "SALES_ORG", c.org("SORG"))),
        (c.cap("Payment Terms|Terms"), "PAYMENT_TERMS", c.payment_terms()),
        *optional(c, 0.6, ("Incoterms", "INCOTERMS", c.incoterms())),
        *optional(c, 0.4, (c.cap("Delivery Date|Earliest Delivery"), "DELIVERY_DATE", c.ds(14, 60))),
    ]
    return table_doc(
        c,
        "VENDOR",
        vendor,
        meta,
        (
            ("no", "material", "desc", "qty", "uom", "price", "amount"),
            ("no", "desc", "qty", "price", "amount"),
        ),
        "Quotation|QUOTATION|Offer|Price Quotation",
        parties=lambda: [(c.cap("Customer|To|Prepared For"), "BUYER", buyer)],
        totals=lambda: money_totals(c, tax=c.p(0.6), discount=c.p(0.3), currency=c.p(0.4)),
        body=lambda: [
            (
                "note",
                c.cap(
                    "We look forward to receiving your order.|Prices are subject to our general terms of sale."
                ),
            )
        ],
        footer=lambda: optional(c, 0.5, (c.cap("VAT ID|Tax ID"), "VENDOR_TAX_ID", vendor.tax_id)),
        extras=(("contact", "phone", "email"), ("contact",), ("phone",)),
    )


def _rfq(c: Content, sub: str | None) -> Doc:
    buyer, vendor = c.party(), c.party()
    deadline = c.ds(7, 30) + (f" {c.pick(('12:00', '17:00', '10:00 CET', '23:59'))}" if c.p(0.5) else "")
    meta = [
        (c.cap("RFQ No.|RFQ Number|Request No."), "DOCUMENT_NUMBER", c.number("RFQ")),
        (c.cap("Date|RFQ Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Submission Deadline|Quotation Deadline|Reply By"), "SUBMISSION_DEADLINE", deadline),
        *optional(c, 0.6, (c.cap("Vendor No.|Supplier No."), "VENDOR_NUMBER", c.number("VENDOR"))),
        *optional(c, 0.7, (c.cap("Purch. Group|Purchasing Group"), "PURCHASING_GROUP", c.org("PGRP"))),
        *optional(c, 0.7, (c.cap("Plant|Delivery Plant"), "PLANT", c.org("PLANT"))),
        (c.cap("Required Delivery|Delivery Date"), "DELIVERY_DATE", c.ds(30, 90)),
        *optional(c, 0.5, ("Incoterms", "INCOTERMS", c.incoterms())),
    ]
    columns, row = item_table(
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
    return table_doc(
        c,
        "BUYER",
        buyer,
        meta,
        (columns, row),
        "Request for Quotation|RFQ|REQUEST FOR QUOTATION|Inquiry",
        parties=lambda: [(c.cap("Vendor|To|Supplier"), "VENDOR", vendor)],
        items=(1, 10),
        body=body,
        footer=lambda: [(c.cap("VAT ID|Tax ID"), "BUYER_TAX_ID", buyer.tax_id)],
        extras=(("contact", "phone"), ("contact",), ("tax", "contact")),
    )
