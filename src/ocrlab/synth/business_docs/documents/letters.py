"""Contracts and letters (bank-detail changes, cancellations, reminders, price changes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ocrlab.synth.business_docs.content import Content
from ocrlab.synth.business_docs.documents.common import (
    item_table,
    n_items,
    optional,
)
from ocrlab.synth.business_docs.layout import Doc


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
        *optional(c, 0.5, (c.cap("Document No.|Our Ref."), "DOCUMENT_NUMBER", c.number("LETTER"))),
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
                c.signer("For the Buyer|Signed for the Customer", titles),
                c.signer("For the Supplier|Signed for the Supplier", titles),
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
        doc.columns, doc.row = item_table(c, ("material", "desc", "uom", "price"))
        doc.items = c.items(n_items(c, 1, 4))
        doc.intro, doc.body = clauses[:-1] + [("heading", "Annex A: Price Schedule")], clauses[-1:]
    return doc


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
        *optional(c, 0.5, (c.cap("Your Ref.|Document No."), "DOCUMENT_NUMBER", c.number("LETTER"))),
        *optional(c, 0.4, (c.cap("Customer No.|Account No."), "CUSTOMER_NUMBER", c.number("CUSTOMER"))),
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
                c.signer(
                    "",
                    (
                        "Accounts Receivable",
                        "Credit Controller",
                        "Purchasing Manager",
                        "Treasury",
                        "Key Account Manager",
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
        footer=optional(c, 0.5, (c.cap("VAT ID|Tax ID"), "VENDOR_TAX_ID", sender.tax_id)),
        issuer_extras=c.pick((("phone", "email"), ("tax",), ("contact", "phone"))),
    )
