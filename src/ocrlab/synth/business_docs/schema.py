"""The business-document label space: document types, PO subtypes, fields, BIO labels, splits.

Plain data and two pure functions, no heavy imports: what a LayoutLMv3 model's label map and
metrics import.
"""

from __future__ import annotations

from typing import Any

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
