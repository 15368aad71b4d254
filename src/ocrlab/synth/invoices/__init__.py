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
at draw time (:mod:`ocrlab.synth.canvas`). Hard samples (:data:`~ocrlab.synth.invoices.schema.HARD_KINDS`)
change the content (many items, long descriptions, discounts and several tax rates, missing
fields, uncommon currencies), the layout (small fonts, dense spacing, stamps) or the image (skew,
low contrast, scan noise, through the shared :mod:`ocrlab.synth.degrade`).

Modules: :mod:`~ocrlab.synth.invoices.schema` (ground-truth schema, field names, hard kinds;
light, for metrics and mining), :mod:`~ocrlab.synth.invoices.locales` (per-locale data),
:mod:`~ocrlab.synth.invoices.content` (what a document says), :mod:`~ocrlab.synth.invoices.layout`
(where it goes on the page), :mod:`~ocrlab.synth.invoices.fonts`,
:mod:`~ocrlab.synth.invoices.generator` (:class:`InvoiceGenerator`). The names below are
importable from the package; each loads its module on first use, so importing the schema does
not import the renderer.
"""

from __future__ import annotations

from ocrlab.synth.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ("CONTENT_FIELDS", "DOCUMENT_TYPES", "FIELD_GROUPS", "FIELD_STRESSORS", "GROUND_TRUTH_SCHEMA", "HARD_KINDS",
         "LAYOUT_FAMILIES", "LINE_ITEM_FIELDS", "PARTY_FIELDS", "PLAN_NAMES", "REGION_BLOCKS", "SCHEMA_VERSION"),
        "schema",
    ),
    **dict.fromkeys(("CAPTIONS", "DETAILS", "ITEMS", "LOCALES", "LocaleProfile"), "locales"),
    **dict.fromkeys(("DocumentContent", "LineItem", "Party", "make_content", "table_html"), "content"),
    **dict.fromkeys(("LAYOUTS", "Layout", "TextStyle"), "layout"),
    **dict.fromkeys(("FontUnavailableError", "THAI_FAMILIES", "font_files", "japanese_font"), "fonts"),
    "InvoiceGenerator": "generator",
    "CURRENCIES": "ocrlab.synth.money",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
