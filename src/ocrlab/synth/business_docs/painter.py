"""Draws the blocks of a business document top-down on a canvas, tagging every value's words
with its field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ocrlab.synth.business_docs.content import Party
from ocrlab.synth.business_docs.layout import GRAYS, KV, ROLE_FIELDS, Column, Doc, Style, Variant
from ocrlab.synth.canvas import DocumentCanvas


class Painter:
    """Draws blocks top-down on a :class:`DocumentCanvas`; each value gets its own tag
    ``FIELD#n`` so that its words become one B-/I- run."""

    def __init__(self, canvas: DocumentCanvas, style: Style, variant: Variant):
        self.c = canvas
        self.s = style
        self.v = variant
        w, h = canvas.page_size
        self.left, self.right = style.margin, w - style.margin
        self.top, self.bottom = style.margin * 0.75, h - style.margin * 0.75
        self.y = self.top
        self._n = 0

    @property
    def lh(self) -> float:
        return self.s.size * self.s.leading

    def tag(self, field_name: str | None) -> str | None:
        if field_name is None:
            return None
        self._n += 1
        return f"{field_name}#{self._n}"

    def caption(self, text: str) -> str:
        if not text:
            return ""
        text = text.upper() if self.s.caption_upper else text
        return text + ":" if self.s.caption_colon and not text.endswith((":", "#", ".")) else text

    def measure(self, draw: Callable[[], Any]) -> float:
        """Height ``draw`` takes from the current ``y``, drawn on a scratch canvas."""
        canvas, y = self.c, self.y
        self.c = DocumentCanvas(canvas.page_size, canvas.fonts)
        try:
            draw()
            return self.y - y
        finally:
            self.c, self.y = canvas, y

    # primitives
    def lines(
        self,
        x: float,
        y: float,
        width: float,
        text: str,
        tag: str | None,
        *,
        bold: bool = False,
        size: float | None = None,
        align: str = "left",
        gray: float = 0.0,
        wrap: bool = True,
    ) -> float:
        """Draw ``text`` (``\\n`` separates lines) wrapped to ``width``; returns the y below it."""
        font = self.s.bold if bold else self.s.regular
        size = size or self.s.size
        ascent = self.c.fonts.ascent(font, size)
        lh = size * self.s.leading
        ax = x + width if align == "right" else x + width / 2 if align == "center" else x
        for part in text.split("\n"):
            if not part:
                continue
            # + 0.01: a run measured to be exactly ``width`` wide must not break (float rounding)
            for line in self.c.fonts.wrap(part, font, size, max(width, 1.0) + 0.01) if wrap else [part]:
                if line.strip():
                    self.c.text(
                        ax,
                        y + ascent,
                        line.strip(),
                        font,
                        size,
                        field=tag,
                        align=align,
                        color=(gray, gray, gray),
                    )
                y += lh
        return y

    def cap(
        self, x: float, y: float, width: float, text: str, *, align: str = "left", size: float | None = None
    ) -> float:
        return self.lines(
            x,
            y,
            width,
            self.caption(text),
            None,
            bold=self.s.caption_bold,
            size=size,
            align=align,
            gray=self.s.caption_gray,
        )

    # blocks
    def kv(self, x: float, y: float, width: float, items: Sequence[KV], mode: str | None = None) -> float:
        mode = mode or self.v.kv_mode
        font = self.s.bold if self.s.caption_bold else self.s.regular
        gap = self.s.size * 0.8
        widest = max((self.c.fonts.width(self.caption(c), font, self.s.size) for c, _, _ in items), default=0)
        if mode == "inline" and widest + gap > width * 0.5:
            mode = "above"  # a narrow column: captions over the values rather than broken captions
        if mode == "inline":
            capw = widest + gap
            for caption, field_name, value in items:
                y_cap = self.cap(x, y, capw - gap, caption)
                y_val = self.lines(x + capw, y, width - capw, value, self.tag(field_name))
                y = max(y_cap, y_val)
            return y
        small = self.s.size * 0.82
        for caption, field_name, value in items:
            y = self.cap(x, y, width, caption, size=small)
            y = self.lines(x, y, width, value, self.tag(field_name)) + self.lh * 0.3
        return y

    def kv_grid(
        self, x: float, y: float, width: float, items: Sequence[KV], ncols: int, mode: str | None = None
    ) -> float:
        colw = width / ncols
        for start in range(0, len(items), ncols):
            y = max(
                self.kv(x + i * colw, y, colw - 6, [item], mode)
                for i, item in enumerate(items[start : start + ncols])
            )
        return y

    def party(
        self, x: float, y: float, width: float, heading: str, role: str, p: Party, extras: Sequence[str] = ()
    ) -> float:
        name_f, addr_f, tax_f, contact_f, phone_f, email_f = ROLE_FIELDS[role]
        if heading:
            y = self.cap(x, y, width, heading)
        y = self.lines(x, y, width, p.name, self.tag(name_f), bold=True)
        y = self.lines(x, y, width, "\n".join(p.address), self.tag(addr_f))
        rows = []
        for key, f, caption, value in (
            ("tax", tax_f, "VAT Reg. No.|Tax ID|VAT ID", p.tax_id),
            ("contact", contact_f, "Contact|Attn.|Contact person", p.contact),
            ("phone", phone_f, "Phone|Tel.|Telephone", p.phone),
            ("email", email_f, "Email|E-mail", p.email),
        ):
            if key in extras and f is not None:
                rows.append((caption.split("|")[len(p.name) % len(caption.split("|"))], f, value))
        return self.kv(x, y, width, rows, "inline") if rows else y

    def header(self, doc: Doc, logo: int) -> None:
        s, v, p = self.s, self.v, doc.issuer
        name_f, addr_f, *_ = ROLE_FIELDS[doc.issuer_role]
        width = (self.right - self.left) * (0.55 if v.header != "center" else 1.0)
        x = self.left if v.header != "right" else self.right - width
        align = {"left": "left", "right": "right", "center": "center"}[v.header]
        y = self.top
        if logo:
            lx = x if v.header == "left" else x + width - 34 if v.header == "right" else x + width / 2 - 17
            if logo == 1:
                self.c.ellipse(lx, y, lx + 34, y + 34, stroke=None, fill=(0.45, 0.45, 0.45))
            else:
                self.c.rect(lx, y, lx + 34, y + 22, stroke=None, fill=(0.3, 0.3, 0.3))
                self.c.rect(lx + 8, y + 6, lx + 26, y + 16, stroke=None, fill=(1, 1, 1))
            y += 40
        y = self.lines(x, y, width, p.name, self.tag(name_f), bold=True, size=s.size * 1.5, align=align)
        address = ", ".join(p.address) if len(p.name) % 2 else "\n".join(p.address)
        y = self.lines(x, y, width, address, self.tag(addr_f), size=s.size * 0.92, align=align)
        fields = dict(zip(("tax", "contact", "phone", "email"), ROLE_FIELDS[doc.issuer_role][2:]))
        values = {"tax": p.tax_id, "contact": p.contact, "phone": p.phone, "email": p.email}
        captions = {"tax": "VAT ID", "contact": "Contact", "phone": "Tel.", "email": "Email"}
        for key in doc.issuer_extras:
            if fields[key] is None:
                continue
            line_w = (
                self.c.fonts.width(f"{self.caption(captions[key])} {values[key]}", s.regular, s.size * 0.9)
                + 4
            )
            if align == "left":
                cx = x
            elif align == "right":
                cx = x + width - line_w
            else:
                cx = x + (width - line_w) / 2
            capw = self.c.fonts.width(self.caption(captions[key]) + " ", s.regular, s.size * 0.9)
            self.lines(
                cx,
                y,
                capw,
                self.caption(captions[key]),
                None,
                size=s.size * 0.9,
                gray=s.caption_gray,
                wrap=False,
            )
            y = self.lines(
                cx + capw,
                y,
                max(line_w - capw, width - capw),
                values[key],
                self.tag(fields[key]),
                size=s.size * 0.9,
            )
        if v.header == "center":
            y = self.lines(
                self.left,
                y + self.lh * 0.6,
                self.right - self.left,
                doc.title,
                None,
                bold=True,
                size=s.title_size,
                align="center",
            )
        else:
            tx = self.left if v.header == "right" else self.left + width + 10
            tw = self.right - self.left - width - 10
            ty = self.lines(
                tx,
                self.top + 4,
                tw,
                doc.title,
                None,
                bold=True,
                size=s.title_size,
                align="right" if v.header == "left" else "left",
            )
            y = max(y, ty)
        self.y = y + self.lh * 0.6
        if not v.boxed:
            self.c.line(
                self.left,
                self.y - self.lh * 0.3,
                self.right,
                self.y - self.lh * 0.3,
                width=0.8,
                color=GRAYS["rule"],
            )
            self.y += self.lh * 0.2

    def table(self, columns: Sequence[Column], rows: Sequence[Sequence[str]], limit: float) -> int:
        """Draw the item table from ``self.y`` with as many rows as fit above ``limit``."""
        s, style = self.s, self.v.table
        x0, width = self.left, self.right - self.left
        pad, size, hsize = 2.5, s.size * 0.95, s.size * 0.9
        total = sum(c[3] for c in columns)
        widths = [width * c[3] / total for c in columns]
        # every column at least as wide as its longest word (no words broken into pieces); the
        # room comes from columns with slack (the description)
        fonts = self.c.fonts
        need = [
            max(
                [fonts.width(w, s.bold, hsize) for w in c[0].split()]
                + [fonts.width(w, s.regular, size) for row in rows for w in row[i].split()]
            )
            + 2 * pad
            + 0.5
            for i, c in enumerate(columns)
        ]
        grown = [max(w, n) for w, n in zip(widths, need)]
        excess = sum(grown) - width
        slack = [g - n for g, n in zip(grown, need)]
        if excess > 0 and sum(slack) >= excess:
            widths = [g - excess * sl / sum(slack) for g, sl in zip(grown, slack)]
        edges = [x0]
        for w in widths:
            edges.append(edges[-1] + w)
        lh = size * s.leading
        top = y = self.y
        wraps = [
            self.c.fonts.wrap(c[0], s.bold, hsize, edges[i + 1] - edges[i] - 2 * pad)
            for i, c in enumerate(columns)
        ]
        head_h = max(len(w) for w in wraps) * hsize * s.leading + 2 * pad
        if style == "zebra":
            self.c.rect(x0, y, x0 + width, y + head_h, stroke=None, fill=GRAYS["fill_header"])
        for i, c in enumerate(columns):
            align = c[2]
            self.lines(
                edges[i] + pad,
                y + pad,
                edges[i + 1] - edges[i] - 2 * pad,
                c[0],
                None,
                bold=True,
                size=hsize,
                align=align,
            )
        y += head_h
        if style in ("grid", "rules"):
            self.c.line(x0, y, x0 + width, y, width=0.8)
        drawn = 0
        for r, row in enumerate(rows):
            cells = [
                self.c.fonts.wrap(v, s.regular, size, edges[i + 1] - edges[i] - 2 * pad) if v else []
                for i, v in enumerate(row)
            ]
            row_h = max(1, max(len(c) for c in cells)) * lh + 2 * pad
            if y + row_h > limit and drawn:
                break
            if style == "zebra" and r % 2:
                self.c.rect(x0, y, x0 + width, y + row_h, stroke=None, fill=GRAYS["fill_row"])
            for i, (c, value) in enumerate(zip(columns, row)):
                if value:
                    self.lines(
                        edges[i] + pad,
                        y + pad,
                        edges[i + 1] - edges[i] - 2 * pad,
                        value,
                        self.tag(c[1]),
                        size=size,
                        align=c[2],
                    )
            y += row_h
            drawn += 1
            if style == "grid":
                self.c.line(x0, y, x0 + width, y, width=0.4)
        if style == "grid":
            self.c.rect(x0, top, x0 + width, y, width=0.8)
            for e in edges[1:-1]:
                self.c.line(e, top, e, y, width=0.4)
        elif style == "rules":
            self.c.line(x0, y, x0 + width, y, width=0.8)
        self.y = y + self.lh * 0.6
        return drawn

    def totals(self, items: Sequence[KV]) -> None:
        width = (self.right - self.left) * 0.45
        x = self.right - width
        y0 = y = self.y
        for n, (caption, field_name, value) in enumerate(items):
            last = n == len(items) - 1
            if last and not self.v.boxed:
                self.c.line(x, y, self.right, y, width=0.6)
                y += 2
            self.lines(
                x + 3,
                y,
                width * 0.55,
                self.caption(caption),
                None,
                bold=last or self.s.caption_bold,
                gray=0 if last else self.s.caption_gray,
            )
            y = self.lines(
                x + width * 0.45, y, width * 0.55 - 3, value, self.tag(field_name), bold=last, align="right"
            )
        if self.v.boxed:
            self.c.rect(x - 2, y0 - 3, self.right, y + 1, width=0.7)
        self.y = y + self.lh * 0.7

    def paragraph(self, segments: Sequence[tuple[str, str | None]], *, size: float | None = None) -> None:
        """Running text with values inline (each segment's words tagged with its field)."""
        size = size or self.s.size
        font = self.s.regular
        ascent, space = self.c.fonts.ascent(font, size), self.c.fonts.width(" ", font, size)
        lh = size * self.s.leading
        x, y = self.left, self.y
        for text, field_name in segments:
            tag = self.tag(field_name)
            for word in text.split():
                w = self.c.fonts.width(word, font, size)
                if x > self.left and x + w > self.right:
                    x, y = self.left, y + lh
                self.c.text(x, y + ascent, word, font, size, field=tag)
                x += w + space
        self.y = y + lh * 1.5

    def signatures(self, parts: Sequence[tuple[str, str, str]]) -> None:
        width = (self.right - self.left) / max(2, len(parts))
        y0 = self.y
        for i, (heading, name, title) in enumerate(parts):
            x = self.left + i * width
            y = (self.cap(x, y0, width - 20, heading) if heading else y0) + self.lh * 2.2
            self.c.line(x, y, x + width - 30, y, width=0.6)
            y = self.lines(x, y + 3, width - 20, name, self.tag("SIGNATORY_NAME"))
            y = self.lines(x, y, width - 20, title, self.tag("SIGNATORY_TITLE"))
            self.y = max(self.y, y)
        self.y += self.lh * 0.6

    def full_width(self, text: str, **style: Any) -> float:
        """Unlabelled ``text`` across the page from ``self.y``; returns the y below it."""
        return self.lines(self.left, self.y, self.right - self.left, text, None, **style)

    def block(self, block: tuple[Any, ...]) -> None:
        kind = block[0]
        if kind == "kv":
            self.y = (
                self.kv_grid(self.left, self.y, self.right - self.left, block[1], block[2]) + self.lh * 0.5
            )
        elif kind == "para":
            self.paragraph(block[1])
        elif kind == "heading":
            self.y = self.full_width(block[1], bold=True, size=self.s.size * 1.1) + self.lh * 0.2
        elif kind == "note":
            self.y = (
                self.full_width(block[1], size=self.s.size * 0.9, gray=self.s.caption_gray) + self.lh * 0.5
            )
        elif kind == "sign":
            self.signatures(block[1])
        else:
            raise ValueError(f"unknown block kind {kind!r}")

    def footer(self, items: Sequence[KV]) -> None:
        """Small print at the bottom of the page (bank details etc.), drawn from ``self.y``."""
        self.c.line(self.left, self.y, self.right, self.y, width=0.5, color=GRAYS["rule"])
        self.y += 4
        size = self.s.size * 0.85
        saved = self.s.size
        self.s.size = size
        try:
            self.y = self.kv_grid(
                self.left,
                self.y,
                self.right - self.left,
                items,
                3 if len(items) > 2 else len(items),
                "inline",
            )
        finally:
            self.s.size = saved
