"""Goods receipts, delivery notes and advance shipping notices."""

from __future__ import annotations

from ocrlab.synth.business_docs.content import Content
from ocrlab.synth.business_docs.documents.common import item_table, optional, table_doc
from ocrlab.synth.business_docs.layout import Doc


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
        *optional(c, 0.4, ("Company Code", "COMPANY_CODE", c.org("CC"))),
    ]
    columns, row = item_table(
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
                c.signer(
                    "Received by|Goods Recipient|Warehouse",
                    ("Warehouse Clerk", "Goods Receiving", "Lagerist", "Storekeeper", "Shift Supervisor"),
                )
            ],
        ),
    ]
    return table_doc(
        c,
        "BUYER",
        buyer,
        meta,
        (columns, row),
        "Goods Receipt|Goods Receipt Slip|GOODS RECEIPT NOTE|Material Document",
        parties=lambda: [(c.cap("Vendor|Supplier"), "VENDOR", vendor)],
        items=(1, 10),
        body=body,
    )


def _delivery_note(c: Content, sub: str | None) -> Doc:
    vendor, buyer = c.party(), c.party()
    packages = str(int(c.rng.integers(1, 40)))
    meta = [
        (c.cap("Delivery No.|Delivery Note No.|Outbound Delivery"), "DOCUMENT_NUMBER", c.number("DELIVERY")),
        (c.cap("Date|Delivery Date|Document Date"), "DOCUMENT_DATE", c.ds()),
        (c.cap("Ship Date|Shipping Date|Goods Issue"), "SHIP_DATE", c.ds(0, 3)),
        (c.cap("Your PO|Customer PO|PO Number"), "PO_NUMBER", c.number("PO_REF")),
        *optional(c, 0.6, (c.cap("Sales Order|Our Order"), "SO_NUMBER", c.number("SO"))),
        *optional(c, 0.6, (c.cap("Customer No.|Customer"), "CUSTOMER_NUMBER", c.number("CUSTOMER"))),
        (c.cap("Carrier|Forwarder|Shipped Via"), "CARRIER_NAME", c.carrier()),
        *optional(
            c, 0.7, (c.cap("Tracking No.|Tracking Number|Consignment No."), "TRACKING_NUMBER", c.tracking())
        ),
        *optional(
            c, 0.5, (c.cap("Shipping Method|Mode of Transport"), "SHIPPING_METHOD", c.shipping_method())
        ),
        *optional(c, 0.7, ("Route", "ROUTE", c.route())),
        (c.cap("Gross Weight|Total Weight|Weight"), "GROSS_WEIGHT", c.weight()),
        *optional(c, 0.5, (c.cap("Net Weight"), "NET_WEIGHT", c.weight())),
        (
            c.cap("Packages|No. of Packages|Number of Packages"),
            "NUMBER_OF_PACKAGES",
            packages if c.p(0.4) else f"{packages} {c.pick(('pallets', 'cartons', 'packages', 'boxes'))}",
        ),
        *optional(c, 0.3, ("Incoterms", "INCOTERMS", c.incoterms())),
        *optional(c, 0.25, (c.cap("Bill of Lading|B/L No."), "BILL_OF_LADING", c.bill_of_lading())),
        *optional(c, 0.2, (c.cap("Container No.|Container"), "CONTAINER_NUMBER", c.container())),
    ]
    parties = [
        (c.cap("Ship To|Deliver To|Consignee"), "SHIP_TO", c.party()),
        (c.cap("Sold To|Customer"), "BUYER", buyer),
    ]
    columns, row = item_table(
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
                c.signer(
                    "Received in good condition|Goods received by|Consignee signature",
                    ("Receiving Clerk", "Warehouse Manager", "Driver", "Logistics Coordinator"),
                )
            ],
        )
    ]
    return table_doc(
        c,
        "VENDOR",
        vendor,
        meta,
        (columns, row),
        "Delivery Note|DELIVERY NOTE|Packing Slip|Dispatch Note",
        parties=parties,
        items=(1, 10),
        body=body,
        extras=(("phone",), ("phone", "email"), ()),
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
        *optional(
            c, 0.6, (c.cap("Delivery Note|Delivery No."), "DELIVERY_NOTE_NUMBER", c.number("DELIVERY"))
        ),
        (c.cap("Carrier|Forwarder"), "CARRIER_NAME", c.carrier()),
        *optional(c, 0.7, (c.cap("Tracking No.|Tracking Number"), "TRACKING_NUMBER", c.tracking())),
        *optional(c, 0.8, (c.cap("Bill of Lading|B/L No.|BOL"), "BILL_OF_LADING", c.bill_of_lading())),
        *optional(c, 0.8, (c.cap("Container No.|Container"), "CONTAINER_NUMBER", c.container())),
        (
            c.cap("Packages|Handling Units|No. of Packages"),
            "NUMBER_OF_PACKAGES",
            packages if c.p(0.4) else f"{packages} {c.pick(('pallets', 'cartons', 'HU'))}",
        ),
        (c.cap("Gross Weight|Weight"), "GROSS_WEIGHT", c.weight()),
        *optional(c, 0.5, (c.cap("Net Weight"), "NET_WEIGHT", c.weight())),
        *optional(c, 0.5, (c.cap("Transport Mode|Shipping Method"), "SHIPPING_METHOD", c.shipping_method())),
        *optional(c, 0.3, ("Route", "ROUTE", c.route())),
    ]
    return table_doc(
        c,
        "VENDOR",
        vendor,
        meta,
        (
            ("no", "material", "desc", "qty", "uom", "batch"),
            ("no", "material", "desc", "qty", "uom", "serial"),
            ("material", "desc", "qty", "uom", "batch"),
        ),
        "Advance Shipping Notice|ASN|Advanced Shipment Notification|Dispatch Advice",
        parties=lambda: [
            (c.cap("Ship To|Consignee|Deliver To"), "SHIP_TO", c.party()),
            (c.cap("Buyer|Customer|Sold To"), "BUYER", c.party()),
        ],
        items=(1, 10),
        extras=(("phone",), ("email",), ()),
    )
