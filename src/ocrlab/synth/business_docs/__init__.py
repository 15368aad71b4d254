"""Business documents (SAP-style procurement, sales, logistics and finance papers) for
LayoutLMv3 token classification, in the business-document annotation format.

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

Modules: :mod:`~ocrlab.synth.business_docs.schema` (document types, PO subtypes, fields, BIO
labels, splits; light), :mod:`~ocrlab.synth.business_docs.formats` and
:mod:`~ocrlab.synth.business_docs.content` (what a document says),
:mod:`~ocrlab.synth.business_docs.documents` (one builder per document type),
:mod:`~ocrlab.synth.business_docs.layout`, :mod:`~ocrlab.synth.business_docs.painter` and
:mod:`~ocrlab.synth.business_docs.composition` (where it goes on the page),
:mod:`~ocrlab.synth.business_docs.generator` (:class:`BusinessDocGenerator`).
The names below are importable from the package; each loads its module on first use.
"""

from __future__ import annotations

from ocrlab.synth.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "ANNOTATION_KEYS",
            "DOC_TYPES",
            "EXTRA_PO_PER_ROUND",
            "FIELDS",
            "HARD_KINDS",
            "LABEL2ID",
            "LABELS",
            "LOCALES",
            "NUM_VARIANTS",
            "PO_SUBTYPES",
            "PO_SUBTYPE_INFO",
            "ROUND",
            "SPLITS",
            "label_map",
            "split_of",
        ),
        "schema",
    ),
    **dict.fromkeys(("Content", "Party"), "content"),
    **dict.fromkeys(("Doc", "Style", "Variant", "variants_of"), "layout"),
    "Painter": "painter",
    "compose": "composition",
    "BUILDERS": "documents",
    **dict.fromkeys(("SCAN_DEGRADATION", "BusinessDocGenerator", "font_files"), "generator"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
