"""What a business document shows (:class:`Doc`), its layout variants and styles: the plain data
that the document builders fill in and that :mod:`~ocrlab.synth.business_docs.composition` lays
out with a :class:`~ocrlab.synth.business_docs.painter.Painter`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocrlab.synth.business_docs.content import Party
from ocrlab.synth.business_docs.schema import DOC_TYPES, NUM_VARIANTS

# -- layout ----------------------------------------------------------------------------------
KV = tuple[str, "str | None", str]  # caption, field (None: unlabelled), value
Column = tuple[str, "str | None", str, float]  # caption, field, align, width weight

ROLE_FIELDS: dict[str, tuple[str | None, ...]] = {  # name, address, tax id, contact, phone, email
    "VENDOR": tuple(f"VENDOR_{k}" for k in ("NAME", "ADDRESS", "TAX_ID", "CONTACT", "PHONE", "EMAIL")),
    "BUYER": ("BUYER_NAME", "BUYER_ADDRESS", "BUYER_TAX_ID", "BUYER_CONTACT", None, None),
    "BILL_TO": ("BUYER_NAME", "BILL_TO_ADDRESS", "BUYER_TAX_ID", "BUYER_CONTACT", None, None),
    "SHIP_TO": ("SHIP_TO_NAME", "SHIP_TO_ADDRESS", None, None, None, None),
}
GRAYS = {"fill_header": (0.86, 0.86, 0.86), "fill_row": (0.94, 0.94, 0.94), "rule": (0.35, 0.35, 0.35)}


@dataclass(frozen=True)
class Variant:
    """One layout variant of a document type."""

    header: str  # left | right | center: where the issuer's name and address go
    arrangement: str  # side (parties left, meta right) | stacked | meta_first
    kv_mode: str  # inline ("Caption: value") | above (caption over value)
    table: str  # grid | rules | plain | zebra
    boxed: bool  # frames around the meta and totals blocks

    def name(self) -> str:
        return f"{self.header}-{self.arrangement}-{self.kv_mode}-{self.table}" + (
            "-boxed" if self.boxed else ""
        )


def variants_of(doc_type: str) -> tuple[Variant, ...]:
    """The :data:`NUM_VARIANTS` layout variants of ``doc_type`` (the last one is the one
    ``holdout_layouts`` keeps for test)."""
    t = DOC_TYPES.index(doc_type)
    headers, arrangements = ("left", "right", "center"), ("side", "stacked", "meta_first")
    modes, tables = ("inline", "above"), ("grid", "rules", "plain", "zebra")
    return tuple(
        Variant(
            headers[(v + t) % 3],
            arrangements[(v + 2 * t) % 3],
            modes[(v + t // 3) % 2],
            tables[(v + t) % 4],
            bool((v + t) % 2),
        )
        for v in range(NUM_VARIANTS)
    )


@dataclass
class Style:
    regular: str
    bold: str
    size: float
    leading: float
    margin: float
    caption_gray: float
    caption_colon: bool
    caption_upper: bool
    caption_bold: bool
    title_size: float


@dataclass
class Doc:
    """What one document shows; :func:`compose` lays it out."""

    title: str
    issuer_role: str  # VENDOR or BUYER: the party in the letterhead
    issuer: Party
    parties: list[tuple[str, str, Party]] = field(default_factory=list)  # (heading, role, party)
    meta: list[KV] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    row: Callable[[dict[str, Any]], list[str]] | None = None
    totals: Callable[[list[dict[str, Any]]], list[KV]] | None = None
    body: list[tuple[Any, ...]] = field(
        default_factory=list
    )  # ("kv", items, ncols) | ("para", segments) | ("note", text) | ("sign", parts) | ("heading", text)
    footer: list[KV] = field(default_factory=list)
    issuer_extras: tuple[str, ...] = ("phone", "email")
    intro: list[tuple[Any, ...]] = field(default_factory=list)  # blocks drawn before the table
