"""OTSL <-> HTML table conversion (ocrlab.text.otsl)."""

from __future__ import annotations

import pytest

from ocrlab.text.otsl import (
    Cell,
    Table,
    TableFormatError,
    canonical_html,
    find_table,
    html_to_otsl,
    looks_like_otsl,
    otsl_to_html,
    parse_html_table,
    parse_otsl,
    table_to_html,
    table_to_otsl,
)

# (OTSL, its canonical HTML): plain, colspan, rowspan, both, an empty cell
CASES = [
    ("<fcel>A<fcel>B<nl><fcel>1<fcel>2<nl>",
     "<table><tr><td>A</td><td>B</td></tr><tr><td>1</td><td>2</td></tr></table>"),
    ("<fcel>Head<lcel><lcel><nl><fcel>a<fcel>b<fcel>c<nl>",
     '<table><tr><td colspan="3">Head</td></tr><tr><td>a</td><td>b</td><td>c</td></tr></table>'),
    ("<fcel>Tall<fcel>x<nl><ucel><fcel>y<nl><ucel><ecel><nl>",
     '<table><tr><td rowspan="3">Tall</td><td>x</td></tr><tr><td>y</td></tr><tr><td></td></tr></table>'),
    ("<fcel>Big<lcel><fcel>r<nl><ucel><xcel><fcel>s<nl><fcel>t<fcel>u<fcel>v<nl>",
     ('<table><tr><td colspan="2" rowspan="2">Big</td><td>r</td></tr><tr><td>s</td></tr>'
      "<tr><td>t</td><td>u</td><td>v</td></tr></table>")),
    ("<ecel><fcel>a &lt; b<nl><fcel>x<lcel><nl>",
     '<table><tr><td></td><td>a &amp;lt; b</td></tr><tr><td colspan="2">x</td></tr></table>'),
]


@pytest.mark.parametrize(("otsl", "html"), CASES)
def test_otsl_html_round_trip(otsl, html):
    assert otsl_to_html(otsl) == html
    assert html_to_otsl(html) == otsl
    assert html_to_otsl(otsl_to_html(otsl)) == otsl


def test_spans_parse_to_cells():
    table = parse_otsl(CASES[3][0])
    assert (table.n_rows, table.n_cols) == (3, 3)
    assert table.cells[0] == Cell(0, 0, rowspan=2, colspan=2, text="Big")
    assert table_to_otsl(table) == CASES[3][0]
    assert table_to_html(table) == CASES[3][1]
    assert table_to_otsl(Table(1, 2, (Cell(0, 0, 1, 2, "w"),))) == "<fcel>w<lcel><nl>"


def test_html_header_markup_and_inline_tags_are_not_kept():
    html = ("<html><body><p>intro</p><table><thead><tr><th>Desc <b>bold</b></th><th rowspan='2'>Qty</th></tr>"
            "</thead><tbody><tr><td>  two\n words </td></tr></tbody></table></body></html>")
    otsl = html_to_otsl(html)
    assert otsl == "<fcel>Desc bold<fcel>Qty<nl><fcel>two words<ucel><nl>"
    assert canonical_html(html) == otsl_to_html(otsl) == (
        '<table><tr><td>Desc bold</td><td rowspan="2">Qty</td></tr><tr><td>two words</td></tr></table>')
    assert parse_html_table(html).n_cols == 2
    assert find_table(html).tag == "table"


def test_otsl_text_is_unescaped_in_otsl_and_escaped_in_html():
    html = "<table><tr><td>R&amp;D &lt;5&gt;</td></tr></table>"
    assert html_to_otsl(html) == "<fcel>R&D <5><nl>"
    assert otsl_to_html("<fcel>R&D <5><nl>") == html


def test_whitespace_between_tokens_and_a_missing_last_nl_are_accepted():
    assert otsl_to_html("<fcel> A <fcel>B<nl>\n<fcel>1<fcel>2") == otsl_to_html("<fcel>A<fcel>B<nl><fcel>1<fcel>2<nl>")
    assert html_to_otsl(otsl_to_html("<fcel><fcel>x<nl>")) == "<ecel><fcel>x<nl>"  # fcel without text: ecel


@pytest.mark.parametrize(("otsl", "message"), [
    ("<fcel>a<fcel>b<nl><fcel>c<nl>", "ragged rows"),
    ("<lcel><fcel>a<nl>", "<lcel> at a row start"),
    ("<ucel><nl>", "<ucel> in the first row"),
    ("<fcel>a<nl><xcel><nl>", "<xcel> needs a cell both above and to the left"),
    ("<fcel>a<fcel>b<nl><ucel><xcel><nl>", "<xcel> does not continue"),
    ("<fcel>a<lcel><lcel><nl><ucel><xcel><fcel>b<nl>", "spans must be rectangles"),
    ("<fcel>a<lcel>b<nl>", "only <fcel> carries text"),
    ("oops<fcel>a<nl>", "before the first OTSL tag"),
    ("<fcel>a<nl>junk<nl>", "after <nl>"),
    ("<nl>", "empty"),
    ("plain text", "no OTSL cell tokens"),
])
def test_malformed_otsl_names_the_problem(otsl, message):
    with pytest.raises(TableFormatError, match=message) as info:
        otsl_to_html(otsl)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("html", "message"), [
    ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "ragged rows: row 1 covers 1"),
    ("<table><tr><td rowspan='3'>a</td></tr><tr><td>b</td></tr></table>", "runs past the last row"),
    ("<table><tr><td>a</td><td rowspan='2'>b</td></tr><tr><td colspan='2'>c</td></tr></table>", "overlaps"),
    ("<table><tr><td colspan='x'>a</td></tr></table>", "not an integer"),
    ("<table><tr><td colspan='0'>a</td></tr></table>", "spans must be >= 1"),
    ("<table><tr><td><table><tr><td>a</td></tr></table></td></tr></table>", "nested tables"),
    ("<table></table>", "no <tr> rows"),
    ("<p>no table</p>", "no <table>"),
    ("   ", "empty input"),
    ("<table><tr><td>&lt;fcel&gt;</td></tr></table>", "holds an OTSL tag"),
])
def test_malformed_html_names_the_problem(html, message):
    with pytest.raises(TableFormatError, match=message):
        html_to_otsl(html)


def test_looks_like_otsl():
    assert looks_like_otsl("<fcel>a<nl>")
    assert not looks_like_otsl("<table><tr><td>&lt;fcel&gt;</td></tr></table>")
    assert not looks_like_otsl('{"line_items": []}')


def test_generated_table_html_converts(tmp_path):
    """The generator's table_html (thead with th, tbody) goes to OTSL and back to its grid."""
    truth = ("<table><thead><tr><th>Beschreibung</th><th>Menge</th></tr></thead><tbody>"
             "<tr><td>Kopierpapier A4 (Karton)</td><td>15</td></tr></tbody></table>")
    otsl = html_to_otsl(truth)
    assert otsl == "<fcel>Beschreibung<fcel>Menge<nl><fcel>Kopierpapier A4 (Karton)<fcel>15<nl>"
    assert otsl_to_html(otsl) == canonical_html(truth)
