"""OTSL <-> HTML table conversion (the table language PaddleOCR-VL reads and writes).

OTSL writes a table as a grid, one token per grid cell, row by row:

* ``<fcel>`` a cell with content (its text follows the tag), ``<ecel>`` an empty cell;
* ``<lcel>`` merged with the cell to its left (colspan), ``<ucel>`` merged with the cell above
  (rowspan), ``<xcel>`` merged both ways (inside a block spanning rows and columns);
* ``<nl>`` ends a row.

So ``<fcel>A<lcel><fcel>B<nl><ucel><xcel><ecel><nl>`` is a 2x3 grid whose cell ``A`` spans
two rows and two columns (docling's ``otsl_to_html`` reads the tokens the same way).

What a round trip keeps. OTSL has no header markup and no inline formatting, so HTML comes back
in one canonical form: ``<table>``, then ``<tr>`` rows of ``<td>`` cells (``colspan`` /
``rowspan`` attributes where > 1), no ``<thead>``/``<tbody>``/``<tfoot>``, ``<th>`` read as a
cell like ``<td>``, a cell's text taken with its inline tags dropped and whitespace runs folded
to one space. ``otsl_to_html(html_to_otsl(h))`` is ``h`` in that form (the grid, the spans and
the text are kept; header rows, inline tags and whitespace are not), and
``html_to_otsl(otsl_to_html(o)) == o`` for OTSL whose ``<fcel>`` cells have text (an
``<fcel>`` with none comes back as ``<ecel>``). TEDS compares trees, so
:mod:`ocrlab.metrics.tables` brings an HTML table to the same form before it compares it with
a table that came from OTSL.

Malformed input raises :class:`TableFormatError` (a ``ValueError``) naming the problem and its
row and column (0-based): ragged rows, a merge token with nothing to merge with (``<lcel>`` at a
row start, ``<ucel>`` in the first row), spans that are not rectangles, text after a token that
carries none, overlapping HTML spans. A missing ``<nl>`` at the very end is accepted (the end of
the input ends the row); text between ``<nl>`` and the next tag must be whitespace.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

FCEL, ECEL, LCEL, UCEL, XCEL, NL = "<fcel>", "<ecel>", "<lcel>", "<ucel>", "<xcel>", "<nl>"
CELL_TOKENS: tuple[str, ...] = (FCEL, ECEL, LCEL, UCEL, XCEL)
OTSL_TOKENS: tuple[str, ...] = CELL_TOKENS + (NL,)
_TOKEN_RE = re.compile("(" + "|".join(re.escape(t) for t in OTSL_TOKENS) + ")")
_MERGES = (LCEL, UCEL, XCEL)


class TableFormatError(ValueError):
    """A table that is not well-formed OTSL or HTML; the message says what and where."""


@dataclass(frozen=True)
class Cell:
    """One cell of a table: its top-left grid position, spans and text ('' = empty)."""

    row: int
    col: int
    rowspan: int = 1
    colspan: int = 1
    text: str = ""


@dataclass(frozen=True)
class Table:
    """A table as a grid of ``n_rows`` x ``n_cols`` covered exactly once by ``cells``."""

    n_rows: int
    n_cols: int
    cells: tuple[Cell, ...]


def _fold(text: str) -> str:
    return " ".join(text.split())


# -- OTSL -----------------------------------------------------------------------------------------
def _otsl_grid(otsl: str) -> list[list[tuple[str, str]]]:
    """Rows of ``(token, text)``; text only after ``<fcel>``."""
    parts = _TOKEN_RE.split(otsl)
    if len(parts) == 1:
        raise TableFormatError("no OTSL cell tokens (<fcel>, <ecel>, ...) in the input")
    if parts[0].strip():
        raise TableFormatError(f"text {_fold(parts[0])[:40]!r} before the first OTSL tag")
    rows: list[list[tuple[str, str]]] = []
    row: list[tuple[str, str]] = []
    for i in range(1, len(parts), 2):
        token, text = parts[i], _fold(parts[i + 1])
        if token == NL:
            if not row:
                raise TableFormatError(f"row {len(rows)} is empty (<nl> with no cell before it)")
            if text:
                raise TableFormatError(f"text {text[:40]!r} after <nl> at the end of row {len(rows)}")
            rows.append(row)
            row = []
            continue
        if text and token != FCEL:
            raise TableFormatError(
                f"row {len(rows)}, column {len(row)}: text {text[:40]!r} after {token} (only <fcel> carries text)"
            )
        row.append((token, text))
    if row:
        rows.append(row)
    if not rows:
        raise TableFormatError("no OTSL cell tokens (<fcel>, <ecel>, ...) in the input")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        counts = ", ".join(f"row {i}: {len(r)}" for i, r in enumerate(rows))
        raise TableFormatError(f"ragged rows: every row needs the same number of cells ({counts})")
    return rows


def parse_otsl(otsl: str) -> Table:
    """The :class:`Table` an OTSL string describes (see the module docstring for the checks)."""
    grid = _otsl_grid(otsl)
    n_rows, n_cols = len(grid), len(grid[0])
    covered = [[False] * n_cols for _ in range(n_rows)]
    cells = []
    for r in range(n_rows):
        for c in range(n_cols):
            token, text = grid[r][c]
            if token in _MERGES:
                if not covered[r][c]:
                    raise TableFormatError(_orphan(token, r, c))
                continue
            width = 1
            while c + width < n_cols and grid[r][c + width][0] == LCEL:
                width += 1
            height = 1
            while r + height < n_rows and grid[r + height][c][0] == UCEL:
                height += 1
            for rr in range(r, r + height):
                for cc in range(c, c + width):
                    want = LCEL if rr == r else UCEL if cc == c else XCEL
                    if (rr, cc) != (r, c) and grid[rr][cc][0] != want:
                        raise TableFormatError(
                            f"row {rr}, column {cc}: {grid[rr][cc][0]} inside the {height}x{width} span of the "
                            f"cell at row {r}, column {c} (expected {want}: spans must be rectangles)"
                        )
                    if covered[rr][cc]:
                        raise TableFormatError(f"row {rr}, column {cc}: covered by two spans")
                    covered[rr][cc] = True
            cells.append(Cell(r, c, height, width, text if token == FCEL else ""))
    return Table(n_rows, n_cols, tuple(cells))


def _orphan(token: str, r: int, c: int) -> str:
    if token == LCEL and c == 0:
        return f"row {r}, column 0: <lcel> at a row start has no cell to its left to merge with"
    if token == UCEL and r == 0:
        return f"row 0, column {c}: <ucel> in the first row has no cell above to merge with"
    if token == XCEL and (r == 0 or c == 0):
        return f"row {r}, column {c}: <xcel> needs a cell both above and to the left"
    return f"row {r}, column {c}: {token} does not continue the span of the cell it merges with"


def table_to_otsl(table: Table) -> str:
    tokens = [[""] * table.n_cols for _ in range(table.n_rows)]
    for cell in table.cells:
        if any(t in cell.text for t in OTSL_TOKENS):
            raise TableFormatError(
                f"row {cell.row}, column {cell.col}: cell text {cell.text[:40]!r} holds an OTSL tag"
            )
        for r in range(cell.row, cell.row + cell.rowspan):
            for c in range(cell.col, cell.col + cell.colspan):
                if (r, c) == (cell.row, cell.col):
                    tokens[r][c] = FCEL + cell.text if cell.text else ECEL
                else:
                    tokens[r][c] = LCEL if r == cell.row else UCEL if c == cell.col else XCEL
    return "".join("".join(row) + NL for row in tokens)


# -- HTML -----------------------------------------------------------------------------------------
def table_to_html(table: Table) -> str:
    """The canonical HTML of a table (see the module docstring)."""
    rows: list[list[str]] = [[] for _ in range(table.n_rows)]
    for cell in sorted(table.cells, key=lambda x: (x.row, x.col)):
        attrs = (f' colspan="{cell.colspan}"' if cell.colspan > 1 else "") + (
            f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else ""
        )
        rows[cell.row].append(f"<td{attrs}>{html_lib.escape(cell.text, quote=False)}</td>")
    return "<table>" + "".join("<tr>" + "".join(r) + "</tr>" for r in rows) + "</table>"


def _span(cell, name: str, r: int, index: int) -> int:
    value = cell.get(name, "1").strip() or "1"
    try:
        n = int(value)
    except ValueError:
        raise TableFormatError(f"row {r}, cell {index}: {name}={value!r} is not an integer") from None
    if n < 1:
        raise TableFormatError(f"row {r}, cell {index}: {name}={n} (spans must be >= 1)")
    return n


def find_table(markup: str):
    """The first ``<table>`` element of an HTML string (lxml), or :class:`TableFormatError`."""
    from lxml import etree
    from lxml import html as lxml_html

    if not markup or not markup.strip():
        raise TableFormatError("empty input: no <table>")
    try:
        root = lxml_html.fromstring(markup, parser=lxml_html.HTMLParser(remove_comments=True))
    except (etree.ParserError, ValueError) as error:
        raise TableFormatError(f"unparseable HTML ({error})") from error
    if root.tag == "table":
        return root
    found = root.find(".//table")
    if found is None:
        raise TableFormatError("no <table> element in the HTML")
    return found


def parse_html_table(markup: str) -> Table:
    """The grid of the first ``<table>`` in ``markup`` (rows of ``thead``/``tbody``/``tfoot``
    in document order; ``td`` and ``th`` cells; spans laid out as browsers do)."""
    table = find_table(markup)
    rows = table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
    if not rows:
        raise TableFormatError("the <table> has no <tr> rows")
    taken: dict[tuple[int, int], tuple[int, int]] = {}
    cells: list[Cell] = []
    for r, tr in enumerate(rows):
        c = 0
        for index, td in enumerate(tr.xpath("./td | ./th")):
            if td.find(".//table") is not None:
                raise TableFormatError(f"row {r}, cell {index}: nested tables are not supported")
            colspan, rowspan = _span(td, "colspan", r, index), _span(td, "rowspan", r, index)
            while (r, c) in taken:
                c += 1
            if r + rowspan > len(rows):
                raise TableFormatError(
                    f"row {r}, cell {index}: rowspan={rowspan} runs past the last row ({len(rows)} rows)"
                )
            for rr in range(r, r + rowspan):
                for cc in range(c, c + colspan):
                    if (rr, cc) in taken:
                        other = taken[(rr, cc)]
                        raise TableFormatError(
                            f"row {r}, cell {index}: its span overlaps the cell at row {other[0]}, column {other[1]}"
                        )
                    taken[(rr, cc)] = (r, c)
            cells.append(Cell(r, c, rowspan, colspan, _fold(td.text_content())))
            c += colspan
    n_rows = len(rows)
    n_cols = max(c for _, c in taken) + 1
    for r in range(n_rows):
        width = sum(1 for c in range(n_cols) if (r, c) in taken)
        if width != n_cols:
            raise TableFormatError(f"ragged rows: row {r} covers {width} of the table's {n_cols} columns")
    return Table(n_rows, n_cols, tuple(cells))


# -- the two converters ---------------------------------------------------------------------------
def html_to_otsl(html: str) -> str:
    """OTSL of the first ``<table>`` in ``html``: one token per grid cell, ``<nl>`` after each
    row, text after each ``<fcel>``. Raises :class:`TableFormatError` on malformed tables."""
    return table_to_otsl(parse_html_table(html))


def otsl_to_html(otsl: str) -> str:
    """Canonical HTML of an OTSL table: ``<table><tr><td colspan=.. rowspan=..>text</td>...``.
    Raises :class:`TableFormatError` on malformed OTSL."""
    return table_to_html(parse_otsl(otsl))


def canonical_html(html: str) -> str:
    """An HTML table in the form :func:`otsl_to_html` writes (``otsl_to_html(html_to_otsl(h))``
    without the OTSL text restriction)."""
    return table_to_html(parse_html_table(html))


def looks_like_otsl(text: str) -> bool:
    """True when ``text`` holds OTSL cell tokens and no ``<table`` tag."""
    return any(t in text for t in CELL_TOKENS) and "<table" not in text.lower()
