"""The document types of the business-document generator: one builder per type,
:data:`BUILDERS` maps each of :data:`~ocrlab.synth.business_docs.schema.DOC_TYPES` to its builder.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ocrlab.synth.business_docs.content import Content
from ocrlab.synth.business_docs.documents.finance import (
    _memo,
    _payment_advice,
    _remittance_advice,
    _statement,
)
from ocrlab.synth.business_docs.documents.letters import _contract, _other
from ocrlab.synth.business_docs.documents.logistics import _asn, _delivery_note, _goods_receipt
from ocrlab.synth.business_docs.documents.trade import (
    _invoice,
    _purchase_order,
    _quotation,
    _rfq,
    _sales_order,
)
from ocrlab.synth.business_docs.layout import Doc

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
