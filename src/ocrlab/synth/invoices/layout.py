"""Page layouts of the financial documents: the layout families and the drawer that places a
document's blocks (header, parties, meta, line-items table, summary, footer) on a canvas,
recording each block's region."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ocrlab.synth.canvas import DocumentCanvas, union_box
from ocrlab.synth.invoices.content import DocumentContent, Party
from ocrlab.synth.invoices.locales import CAPTIONS, LOCALES


@dataclass(frozen=True)
class Layout:
    logo: str  # left | right | center | none
    title: str  # left | right | center
    band: bool  # coloured header band
    parties: str  # side_by_side | stacked | sidebar
    meta: str  # header | below_parties
    table: str  # grid | horizontal | zebra | plain | boxed | receipt
    totals: str  # right | left | box
    page: str | None = None  # fixed page size (receipts), else the locale's


LAYOUTS: dict[str, Layout] = {
    "classic": Layout("left", "right", False, "side_by_side", "header", "grid", "right"),
    "modern": Layout("right", "left", True, "side_by_side", "below_parties", "zebra", "right"),
    "stacked": Layout("none", "left", False, "stacked", "header", "horizontal", "left"),
    "centered": Layout("center", "center", False, "side_by_side", "below_parties", "boxed", "box"),
    "sidebar": Layout("left", "left", False, "sidebar", "header", "horizontal", "right"),
    "minimal": Layout("none", "right", False, "stacked", "below_parties", "plain", "right"),
    "receipt": Layout("center", "center", False, "stacked", "below_parties", "receipt", "right", page="RECEIPT"),
}


@dataclass(frozen=True)
class TextStyle:
    regular: str
    bold: str
    size: float
    leading: float  # line height / size
    margin: float
    accent: tuple[float, float, float]


@dataclass
class _Region:
    block: str
    page: int
    box: tuple[float, float, float, float]


class _Drawer:
    """Lays one document out on a :class:`DocumentCanvas`, tracking block regions."""

    def __init__(self, canvas: DocumentCanvas, doc: DocumentContent, layout: Layout, style: TextStyle, rng: np.random.Generator):
        self.c = canvas
        self.doc = doc
        self.layout = layout
        self.st = style
        self.rng = rng
        self.caps = CAPTIONS[LOCALES[doc.locale].language]
        self.width, self.height = canvas.page_size
        self.regions: list[_Region] = []
        self.extras: list[tuple[int, tuple[float, float, float, float]]] = []  # rules/fills inside a block

    # helpers
    @property
    def line_h(self) -> float:
        return self.st.size * self.st.leading

    def text(self, x, y, text, *, field=None, bold=False, size=None, align="left", color=(0, 0, 0)):
        return self.c.text(x, y, text, self.st.bold if bold else self.st.regular, size or self.st.size,
                           field=field, align=align, color=color)

    def region(self, block: str, start_word: int, start_extra: int | None = None) -> None:
        """Record the box of everything drawn since ``start_word`` (and rules/fills since
        ``start_extra``, if given) as ``block``, one region per page it spans."""
        words = self.c.words[start_word:]
        by_page: dict[int, list[tuple[float, float, float, float]]] = {}
        for w in words:
            by_page.setdefault(w.page, []).append(w.box)
        for page, box in self.extras[start_extra:] if start_extra is not None else ():
            by_page.setdefault(page, []).append(box)
        pad = 3.0
        for page, boxes in sorted(by_page.items()):
            x0, y0, x1, y1 = union_box(boxes)
            self.regions.append(_Region(block, page, (max(0, x0 - pad), max(0, y0 - pad), min(self.width, x1 + pad), min(self.height, y1 + pad))))

    def party_block(self, who: str, party: Party, x: float, y: float, width: float) -> float:
        start = len(self.c.words)
        caption = self.caps["from"] if who == "vendor" else self.caps["bill_to"]
        y += self.line_h
        self.text(x, y, caption, bold=True, color=self.st.accent)
        y += self.line_h
        for line in self.c.fonts.wrap(party.name, self.st.bold, self.st.size, width):
            self.text(x, y, line, field=f"{who}.name", bold=True)
            y += self.line_h
        for addr in party.address:
            for line in self.c.fonts.wrap(addr, self.st.regular, self.st.size, width):
                self.text(x, y, line, field=f"{who}.address")
                y += self.line_h
        for key in ("phone", "email", "tax_id"):
            value = getattr(party, key)
            if value:
                cap = f"{self.caps[key]}:"
                self.text(x, y, cap)
                vx = x + self.c.fonts.width(cap + " ", self.st.regular, self.st.size)
                for i, line in enumerate(self.c.fonts.wrap(value, self.st.regular, self.st.size, max(20.0, width - (vx - x)))):
                    self.text(vx, y, line, field=f"{who}.{key}")
                    y += self.line_h
        self.region(who, start)
        return y

    def meta_block(self, x: float, y: float, width: float, align: str = "left") -> float:
        start = len(self.c.words)
        rows = [(self.caps["number"], self.doc.number, "number"), (self.caps["issue_date"], self.doc.date(self.doc.issue_date), "issue_date")]
        if self.doc.due_date:
            rows.append((self.caps["due_date"], self.doc.date(self.doc.due_date), "due_date"))
        label_w = max(self.c.fonts.width(f"{r[0]}:", self.st.bold, self.st.size) for r in rows) + 6
        value_w = max(self.c.fonts.width(r[1], self.st.regular, self.st.size) for r in rows)
        x0 = x + width - label_w - value_w if align == "right" else x
        for cap, value, key in rows:
            y += self.line_h
            self.text(x0, y, f"{cap}:", bold=True)
            self.text(x0 + label_w, y, value, field=key)
        self.region("meta", start)
        return y

    def logo(self, x: float, y: float, size: float) -> None:
        """A vendor mark: a shape with the vendor's initials (not a word of the ground truth)."""
        kind = int(self.rng.integers(3))
        if kind == 0:
            self.c.ellipse(x, y, x + size, y + size, stroke=None, fill=self.st.accent)
        elif kind == 1:
            self.c.rect(x, y, x + size, y + size, stroke=None, fill=self.st.accent)
        else:
            self.c.rect(x, y, x + size, y + size, stroke=self.st.accent, fill=None, width=2)

    def header(self, x: float, y: float, width: float) -> float:
        lay = self.layout
        title = self.caps[self.doc.document_type]
        title_size = self.st.size * 2.0
        start = len(self.c.words)
        if lay.band:
            self.c.rect(0, 0, self.width, y + title_size * 2.2, stroke=None, fill=self.st.accent)
        logo_size = title_size * 1.6
        if lay.logo != "none":
            lx = {"left": x, "right": x + width - logo_size, "center": x + (width - logo_size) / 2}[lay.logo]
            self.logo(lx, y, logo_size)
            if lay.logo == "center":
                y += logo_size + 4
        title_color = (1.0, 1.0, 1.0) if lay.band else self.st.accent
        tx = {"left": x + (logo_size + 8 if lay.logo == "left" else 0), "right": x + width, "center": x + width / 2}[lay.title]
        y_title = y + title_size
        self.text(tx, y_title, title, field="document_type", bold=True, size=title_size, align=lay.title, color=title_color)
        self.region("header", start)
        y = max(y_title + self.st.size, y + (logo_size if lay.logo in ("left", "right") else 0)) + (self.line_h if lay.band else 0)
        return y

    def table(self, x: float, y: float, width: float) -> float:
        doc, st = self.doc, self.st
        if self.layout.table == "receipt":
            return self.receipt_items(x, y, width)
        cols = [self.caps["description"], self.caps["quantity"], self.caps["unit_price"], self.caps["amount"]]
        num_w = [
            max(self.c.fonts.width(cols[k], st.bold, st.size), *(self.c.fonts.width(v, st.regular, st.size) for v in vals)) + 10
            for k, vals in (
                (1, [doc.qty(i.quantity) for i in doc.items]),
                (2, [doc.money(i.unit_price) for i in doc.items]),
                (3, [doc.money(i.amount) for i in doc.items]),
            )
        ]
        desc_w = width - sum(num_w)
        edges = [x, x + desc_w, x + desc_w + num_w[0], x + desc_w + num_w[0] + num_w[1], x + width]
        pad = 4.0
        style = self.layout.table
        bottom_limit = self.height - st.margin - self.line_h
        start_word, start_extra = len(self.c.words), len(self.extras)
        top = y

        def header_row(y: float) -> float:
            h = self.line_h + 2 * pad
            if style in ("zebra", "boxed", "grid"):
                fill = st.accent if style != "grid" else (0.88, 0.88, 0.88)
                self.c.rect(x, y, x + width, y + h, stroke=None, fill=fill)
            color = (1, 1, 1) if style in ("zebra", "boxed") else (0, 0, 0)
            base = y + pad + st.size
            for k, cap in enumerate(cols):
                if k == 0:
                    self.text(edges[0] + pad, base, cap, bold=True, color=color)
                else:
                    self.text(edges[k + 1] - pad, base, cap, bold=True, align="right", color=color)
            self.extras.append((self.c.page, (x, y, x + width, y + h)))
            if style in ("horizontal", "plain"):
                self.c.line(x, y + h, x + width, y + h, width=1.0)
            return y + h

        y = header_row(y)
        seg_top = top
        for n, item in enumerate(doc.items):
            lines = self.c.fonts.wrap(item.description, st.regular, st.size, desc_w - 2 * pad)
            h = len(lines) * self.line_h + 2 * pad - (self.line_h - st.size) * 0.5
            if y + h > bottom_limit:
                self._table_rules(style, edges, seg_top, y)
                self.c.new_page()
                y = st.margin
                self.text(x, y + st.size, f"{self.caps['continued']} ({self.caps['page']} {self.c.page + 1})", size=st.size * 0.85)
                y += self.line_h * 1.5
                seg_top = y
                y = header_row(y)
            if style == "zebra" and n % 2 == 1:
                self.c.rect(x, y, x + width, y + h, stroke=None, fill=(0.93, 0.93, 0.93))
            base = y + pad + st.size
            for k, line in enumerate(lines):
                self.text(edges[0] + pad, base + k * self.line_h, line, field=f"line_items.{n}.description")
            self.text(edges[2] - pad, base, doc.qty(item.quantity), field=f"line_items.{n}.quantity", align="right")
            self.text(edges[3] - pad, base, doc.money(item.unit_price), field=f"line_items.{n}.unit_price", align="right")
            self.text(edges[4] - pad, base, doc.money(item.amount), field=f"line_items.{n}.amount", align="right")
            y += h
            if style in ("grid", "horizontal"):
                self.c.line(x, y, x + width, y, width=0.4)
            self.extras.append((self.c.page, (x, y - h, x + width, y)))
        self._table_rules(style, edges, seg_top, y)
        self.region("table", start_word, start_extra)
        return y + self.line_h * 0.5

    def _table_rules(self, style: str, edges: list[float], top: float, bottom: float) -> None:
        if style == "grid":
            for e in edges:
                self.c.line(e, top, e, bottom, width=0.4)
            self.c.rect(edges[0], top, edges[-1], bottom, stroke=(0, 0, 0), fill=None, width=0.8)
        elif style == "boxed":
            self.c.rect(edges[0], top, edges[-1], bottom, stroke=self.st.accent, fill=None, width=1.0)

    def receipt_items(self, x: float, y: float, width: float) -> float:
        doc, st = self.doc, self.st
        start_word = len(self.c.words)
        self.c.line(x, y, x + width, y, width=0.5)
        y += self.line_h * 0.5
        for n, item in enumerate(doc.items):
            for line in self.c.fonts.wrap(item.description, st.regular, st.size, width):
                y += self.line_h
                self.text(x, y, line, field=f"line_items.{n}.description")
            y += self.line_h
            qx = x + 8
            q = self.text(qx, y, doc.qty(item.quantity), field=f"line_items.{n}.quantity")
            times = self.text(q[2] + 3, y, "x")
            self.text(times[2] + 3, y, doc.money(item.unit_price), field=f"line_items.{n}.unit_price")
            self.text(x + width, y, doc.money(item.amount), field=f"line_items.{n}.amount", align="right")
        y += self.line_h * 0.6
        self.c.line(x, y, x + width, y, width=0.5)
        self.region("table", start_word)
        return y

    def summary(self, x: float, y: float, width: float) -> float:
        doc, st = self.doc, self.st
        rows: list[tuple[str, str, str | None, str | None, bool]] = [(self.caps["subtotal"], doc.money(doc.subtotal), "subtotal", None, False)]
        for k, (desc, amount) in enumerate(doc.discounts):
            rows.append((desc, "-" + doc.money(amount), f"discounts.{k}.amount", None, False))
        tax_label = LOCALES[doc.locale].tax_label
        for k, (rate, amount) in enumerate(doc.taxes):
            rows.append((tax_label, doc.money(amount), f"taxes.{k}.amount", f"{rate}%", False))
        if doc.shipping is not None:
            rows.append((self.caps["shipping"], doc.money(doc.shipping), "shipping", None, False))
        rows.append((self.caps["total"], doc.money(doc.total), "total", None, True))
        label_w = max(self.c.fonts.width(r[0] + (" " + r[3] if r[3] else ""), st.bold, st.size) for r in rows) + 14
        value_w = max(self.c.fonts.width(r[1], st.bold, st.size) for r in rows) + 4
        block_w = min(width, label_w + value_w)
        needed = len(rows) * self.line_h + self.line_h
        if y + needed > self.height - st.margin:
            self.c.new_page()
            y = st.margin
        bx = x + width - block_w if self.layout.totals in ("right", "box") else x
        start_word, start_extra = len(self.c.words), len(self.extras)
        top = y
        for label, value, key, rate, bold in rows:
            y += self.line_h
            if bold:
                self.c.line(bx, y - self.line_h + 2, bx + block_w, y - self.line_h + 2, width=0.8)
                y += 2
            lab = self.text(bx, y, label, bold=bold)
            if rate:
                self.text(lab[2] + self.c.fonts.width(" ", st.regular, st.size), y, rate, field=key.replace(".amount", ".rate"))
            self.text(bx + block_w, y, value, field=key, bold=bold, align="right")
        if self.layout.totals == "box":
            self.c.rect(bx - 6, top - 2, bx + block_w + 6, y + self.line_h * 0.5, stroke=st.accent, fill=None, width=1.0)
            self.extras.append((self.c.page, (bx - 6, top - 2, bx + block_w + 6, y + self.line_h * 0.5)))
        self.region("summary", start_word, start_extra)
        return y + self.line_h

    def footer(self, x: float, y: float, width: float) -> float:
        doc, st = self.doc, self.st
        start = len(self.c.words)
        for cap, value, key in ((self.caps["terms"], doc.payment_terms, "payment_terms"), (self.caps["notes"], doc.notes, "notes")):
            if not value:
                continue
            lines = self.c.fonts.wrap(value, st.regular, st.size, width)
            if y + (len(lines) + 1) * self.line_h > self.height - st.margin:
                self.c.new_page()
                y = st.margin
            y += self.line_h
            self.text(x, y, f"{cap}:", bold=True)
            for line in lines:
                y += self.line_h
                self.text(x, y, line, field=key)
        if len(self.c.words) > start:
            self.region("footer", start)
        return y

    # whole document
    def draw(self) -> None:
        st, lay = self.st, self.layout
        m = st.margin
        x, width = m, self.width - 2 * m
        if lay.parties == "sidebar":
            side_w = width * 0.32
            self.c.rect(0, 0, side_w + m * 0.8, self.height, stroke=None, fill=(0.94, 0.94, 0.94))
            y_side = self.header(x, m, side_w)
            y_side = self.party_block("vendor", self.doc.vendor, x, y_side, side_w)
            y_side = self.party_block("client", self.doc.client, x, y_side + self.line_h * 0.5, side_w)
            self.meta_block(x, y_side + self.line_h * 0.5, side_w)
            mx = x + side_w + m
            mw = self.width - mx - m
            y = self.table(mx, m + self.line_h, mw)
            y = self.summary(mx, y, mw)
            self.footer(mx, y, mw)
            return
        y = self.header(x, m, width)
        if lay.meta == "header":
            self.meta_block(x, m + (self.st.size * 2.0 * 1.6 if lay.logo in ("left", "right") else 0) + self.line_h * 0.3, width, align="right")
            y += self.line_h * 2.5
        if lay.parties == "side_by_side":
            col = (width - 20) / 2
            y1 = self.party_block("vendor", self.doc.vendor, x, y, col)
            y2 = self.party_block("client", self.doc.client, x + col + 20, y, col)
            y = max(y1, y2)
        else:
            y = self.party_block("vendor", self.doc.vendor, x, y, width if lay.table == "receipt" else width * 0.6)
            if self.doc.client.name:
                y = self.party_block("client", self.doc.client, x, y + self.line_h * 0.3, width if lay.table == "receipt" else width * 0.6)
        if lay.meta == "below_parties":
            y = self.meta_block(x, y + self.line_h * 0.3, width)
        y += self.line_h
        y = self.table(x, y, width)
        y = self.summary(x, y, width)
        self.footer(x, y, width)
