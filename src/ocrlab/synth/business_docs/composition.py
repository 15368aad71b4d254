"""Lays a business document out on one page: :func:`compose` places the letterhead, parties,
key-value blocks, item table, body and footer per the document's layout variant, drawing them
with a :class:`~ocrlab.synth.business_docs.painter.Painter`.

It sits apart from :mod:`~ocrlab.synth.business_docs.layout` because the painter needs that
module's types (:class:`~ocrlab.synth.business_docs.layout.Doc`, ``Style``, ``Variant``) and this
function needs the painter: kept together they would import each other.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ocrlab.synth.business_docs.layout import Doc
from ocrlab.synth.business_docs.painter import Painter


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
