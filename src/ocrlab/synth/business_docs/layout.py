"""What a business document shows (:class:`Doc`), its layout variants and styles, and
:func:`compose`, which lays a document out on one page with a :class:`~ocrlab.synth.business_docs.painter.Painter`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocrlab.synth.business_docs.content import Party
from ocrlab.synth.business_docs.schema import DOC_TYPES, NUM_VARIANTS

if TYPE_CHECKING:
    from ocrlab.synth.business_docs.painter import Painter


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


def compose(p: Painter, doc: Doc, logo: int, party_extras: Sequence[tuple[str, ...]]) -> list[dict[str, Any]]:
    """Lay ``doc`` out on one page; returns the items that fit in the table."""
    v, width = p.v, p.right - p.left
    p.header(doc, logo)
    parties = doc.parties
    if v.arrangement == "side" and doc.meta:
        lw = width * 0.55 if parties else 0
        y = p.y
        for (heading, role, party), extras in zip(parties, party_extras):
            y = p.party(p.left, y, lw - 10, heading, role, party, extras) + p.lh * 0.5
        mx, mw = p.left + lw, width - lw
        y_meta = p.kv(mx + 4, p.y + 3, mw - 8, doc.meta)
        if v.boxed:
            p.c.rect(mx, p.y, p.right, y_meta + 2, width=0.7)
        p.y = max(y, y_meta + p.lh * 0.5)
    else:
        if v.arrangement == "meta_first" and doc.meta:
            ncols = 4 if v.kv_mode == "above" else 2
            y = p.kv_grid(p.left + 3, p.y + 3, width - 6, doc.meta, ncols)
            if v.boxed:
                p.c.rect(p.left, p.y, p.right, y + 2, width=0.7)
            p.y = y + p.lh * 0.6
        if parties:
            colw = width / max(2, len(parties))
            y = p.y
            for i, ((heading, role, party), extras) in enumerate(zip(parties, party_extras)):
                y = max(y, p.party(p.left + i * colw, p.y, colw - 12, heading, role, party, extras))
            p.y = y + p.lh * 0.6
        if v.arrangement != "meta_first" and doc.meta:
            ncols = 3 if v.kv_mode == "above" else 2
            y = p.kv_grid(p.left + 3, p.y + 3, width - 6, doc.meta, ncols)
            if v.boxed:
                p.c.rect(p.left, p.y, p.right, y + 2, width=0.7)
            p.y = y + p.lh * 0.6

    for block in doc.intro:
        p.block(block)
    footer_h = p.measure(lambda: p.footer(doc.footer)) if doc.footer else 0.0
    items = doc.items
    if doc.columns and doc.row is not None:
        totals = doc.totals(items) if doc.totals else []
        tail = p.measure(lambda: [p.totals(totals) if totals else None] + [p.block(b) for b in doc.body])
        drawn = p.table(doc.columns, [doc.row(it) for it in items], p.bottom - footer_h - tail - p.lh)
        items = items[:drawn]
        if doc.totals:
            p.totals(doc.totals(items))
    for block in doc.body:
        if p.y + p.measure(functools.partial(p.block, block)) <= p.bottom - footer_h:
            p.block(block)
    if doc.footer:
        p.y = max(p.y, p.bottom - footer_h)
        p.footer(doc.footer)
    return items
