"""The financial-document ground truth: its JSON Schema, field names and hard kinds.

One module with no heavy imports: the generator writes what it defines, the synthesis plan
(:mod:`ocrlab.synth.plan`) takes its field names and hard kinds from here, and so do metrics
and hard-sample mining, so a field has one name in the ground truth, the metric breakdown and
the plan.
"""

from __future__ import annotations

from typing import Any

from ocrlab.synth.invoices.locales import LOCALES
from ocrlab.synth.money import CURRENCIES

SCHEMA_VERSION = 1
DOCUMENT_TYPES: tuple[str, ...] = ("invoice", "receipt", "credit_note")
LAYOUT_FAMILIES: tuple[str, ...] = ("classic", "modern", "stacked", "centered", "sidebar", "minimal", "receipt")
REGION_BLOCKS: tuple[str, ...] = ("header", "vendor", "client", "meta", "table", "summary", "footer")

# The document's content in the ground truth, in order (what a model reads off the page).
CONTENT_FIELDS: tuple[str, ...] = (
    "document_type", "number", "issue_date", "due_date", "currency", "locale", "vendor", "client", "line_items",
    "subtotal", "discounts", "taxes", "shipping", "total", "payment_terms", "notes",
)
PARTY_FIELDS: tuple[str, ...] = ("name", "address", "phone", "email", "tax_id")
LINE_ITEM_FIELDS: tuple[str, ...] = ("description", "quantity", "unit_price", "amount", "tax_rate")

# The field groups of the metric breakdown and of a synthesis plan's ``fields`` section:
# group -> the content fields it covers. A plan key ``group.sub`` (``line_items.description``)
# counts for its group.
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "vendor": ("vendor",),
    "client": ("client",),
    "dates": ("issue_date", "due_date"),
    "number": ("number",),
    "line_items": ("line_items",),
    "amounts": ("subtotal", "shipping"),
    "taxes": ("taxes",),
    "discounts": ("discounts",),
    "total": ("total",),
}

HARD_KINDS: tuple[str, ...] = (
    "many_line_items",  # 25-40 items: tables that run to a second page
    "long_descriptions",  # descriptions that wrap over several lines
    "small_font",  # 5.5-7 pt body text
    "dense_layout",  # tight margins and line spacing
    "skew",  # page rotated 1-4 degrees (boxes follow)
    "low_contrast",  # faded toner, grey paper
    "scan_noise",  # blur, noise, specks, JPEG artefacts
    "stamp",  # a translucent rubber stamp over the text
    "uncommon_currency",  # a currency/number style other than the locale's own
    "discounts_multi_tax",  # discounts plus two or three tax rates
    "missing_optional_fields",  # no phone/email/tax id/due date/terms/notes
)

# Field group -> the hard kinds that make it hard to read (what a plan's field weight raises).
FIELD_STRESSORS: dict[str, tuple[str, ...]] = {
    "vendor": ("missing_optional_fields", "dense_layout", "small_font"),
    "client": ("missing_optional_fields", "dense_layout", "small_font"),
    "dates": ("missing_optional_fields", "scan_noise", "low_contrast"),
    "number": ("scan_noise", "stamp", "low_contrast"),
    "line_items": ("many_line_items", "long_descriptions", "dense_layout"),
    "amounts": ("uncommon_currency", "small_font", "scan_noise"),
    "taxes": ("discounts_multi_tax", "uncommon_currency"),
    "discounts": ("discounts_multi_tax",),
    "total": ("stamp", "uncommon_currency", "skew"),
}

# The names a synthesis plan may weight in its ``locales``/``currencies``/``document_types``/
# ``layouts`` sections.
PLAN_NAMES: dict[str, tuple[str, ...]] = {
    "locales": tuple(LOCALES),
    "currencies": tuple(CURRENCIES),
    "document_types": DOCUMENT_TYPES,
    "layouts": LAYOUT_FAMILIES,
}

# The ground truth's JSON Schema (draft 2020-12). Kept in code, not written beside the data:
# a schema file holding "line_items" would look like a document to naive readers.
_MONEY = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}
_PARTY = {
    "type": "object",
    "required": list(PARTY_FIELDS),
    "additionalProperties": False,
    "properties": {k: {"type": ["string", "null"]} for k in PARTY_FIELDS},
}
_BOX = {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 4, "maxItems": 4}
GROUND_TRUTH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ocrlab financial document ground truth",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version", "id", *CONTENT_FIELDS,
        "table_html", "hard", "hard_kinds", "rendering", "pages", "pdf", "regions", "words",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
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
                "required": list(LINE_ITEM_FIELDS),
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
                                                "properties": {"block": {"enum": list(REGION_BLOCKS)},
                                                               "page": {"type": "integer", "minimum": 0}, "box": _BOX}}},
        "words": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["text", "box", "page", "field"], "additionalProperties": False,
            "properties": {"text": {"type": "string", "minLength": 1}, "box": _BOX, "page": {"type": "integer", "minimum": 0},
                           "field": {"type": ["string", "null"]}}}},
    },
}


def _plan_subfields() -> dict[str, tuple[str, ...]]:
    """Field group -> the sub-field keys a plan may name under it (``vendor.name``,
    ``line_items.amount``, ``dates.issue_date``), read off :data:`GROUND_TRUTH_SCHEMA`: a group
    over one content field of its own name takes that field's properties (of its items, for a
    list); a group over several fields takes the fields, then their properties."""
    out: dict[str, tuple[str, ...]] = {}
    for group, fields in FIELD_GROUPS.items():
        keys: list[str] = []
        for name in fields:
            prefix = group if name == group else f"{group}.{name}"
            if name != group:
                keys.append(prefix)
            node = GROUND_TRUTH_SCHEMA["properties"][name]
            node = node.get("items", node) if isinstance(node.get("items"), dict) else node
            keys += [f"{prefix}.{key}" for key in node.get("properties", {})]
        out[group] = tuple(keys)
    return out


# Field group -> the ``group.sub`` keys of a synthesis plan's ``fields`` section (the group alone
# is a key too). The key paths of the ground truth and of the metrics' errors, list indices left
# out (``ocrlab.families.paddleocr_vl.mining.plan_field_key`` maps an error's path onto them).
PLAN_SUBFIELDS: dict[str, tuple[str, ...]] = _plan_subfields()
