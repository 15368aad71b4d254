"""TEDS and TEDS-S: tree-edit-distance similarity of tables, as PubTabNet defines it.

The definition is PubTabNet's ``src/metric.py`` (``TEDS.evaluate``, Zhong et al. 2020):

* parse both tables with lxml's HTML parser, each as a tree of its elements: every node keeps
  its tag; a ``td`` node also keeps its ``colspan``, ``rowspan`` and content, the cell's tokens
  (the characters of its text plus ``<b>``/``</b>``-style tokens for inline tags); nodes under a
  ``td`` are not tree nodes;
* tree edit distance by APTED (``apted``), insert and delete cost 1, rename cost 1 if tag,
  colspan or rowspan differ, else for ``td`` the normalized Levenshtein distance of the two
  contents (``rapidfuzz``, the same distance as the reference's ``distance.levenshtein``), else 0;
* ``TEDS = 1 - distance / n_nodes`` with ``n_nodes`` the larger number of elements below the
  ``<table>`` of either side (``len(table.xpath(".//*"))``: cell-inline tags count here);
* TEDS-S: the same with every cell's content empty (structure only).

The tests check these numbers against the reference code on PubTabNet-style tables to 1e-9.
Where ours deliberately differs:

* ``<th>`` cells are scored like ``<td>`` (PubTabNet's HTML has none; the reference would skip
  a ``th``'s text and count its inline tags as nodes). Our ground truth writes header cells as
  ``th``, and a header read wrong is an error.
* the first ``<table>`` anywhere in the input is used, a bare ``<table>...</table>`` too (the
  reference needs ``<html><body><table>`` and scores anything else 0).
* OTSL input (PaddleOCR-VL's table output, :mod:`ocrlab.text.otsl`) is converted to HTML first.
  OTSL has no header rows or inline markup, so when one side came from OTSL the HTML side is
  brought to the same canonical form (:func:`ocrlab.text.otsl.canonical_html`: no
  ``thead``/``tbody``, ``th`` as ``td``, text only) and only grid, spans and text are compared.
* an unparseable or empty prediction scores 0 (as in the reference); an unparseable ground
  truth raises ``ValueError`` instead of scoring 0, since it is a bug in the data, not a model
  error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from apted import APTED, Config
from apted.helpers import Tree
from rapidfuzz.distance import Levenshtein

from ocrlab.text.otsl import TableFormatError, canonical_html, find_table, looks_like_otsl, otsl_to_html


class TableTree(Tree):
    """A node of the table tree: tag, and for ``td`` its spans and content tokens."""

    def __init__(self, tag: str, colspan: int | None = None, rowspan: int | None = None,
                 content: list[str] | None = None, *children: TableTree):
        self.tag = tag
        self.colspan = colspan
        self.rowspan = rowspan
        self.content = content
        self.children = list(children)


class TEDSConfig(Config):
    """The reference's costs: unit insert/delete; rename by tag, spans and cell content."""

    def rename(self, node1: TableTree, node2: TableTree) -> float:
        if node1.tag != node2.tag or node1.colspan != node2.colspan or node1.rowspan != node2.rowspan:
            return 1.0
        if node1.tag == "td" and (node1.content or node2.content):
            return Levenshtein.distance(node1.content, node2.content) / max(len(node1.content), len(node2.content))
        return 0.0


def _cell_tokens(node: Any) -> list[str]:
    """The reference's ``tokenize`` of a cell without its own ``<td>``/``</td>``."""
    tokens: list[str] = []

    def visit(el: Any) -> None:
        tokens.append(f"<{el.tag}>")
        if el.text is not None:
            tokens.extend(el.text)
        for child in el:
            visit(child)
        if el.tag != "unk":
            tokens.append(f"</{el.tag}>")
        if el.tag != "td" and el.tail is not None:
            tokens.extend(el.tail)

    visit(node)
    return tokens[1:-1]


def table_tree(node: Any, structure_only: bool = False) -> TableTree:
    """The APTED tree of an lxml table element (the reference's ``load_html_tree``)."""
    if node.tag == "td":
        cell = [] if structure_only else _cell_tokens(node)
        return TableTree("td", int(node.attrib.get("colspan", "1")), int(node.attrib.get("rowspan", "1")), cell)
    return TableTree(str(node.tag), None, None, None, *(table_tree(child, structure_only) for child in node))


def _element(markup: str, ignore_nodes: Sequence[str] | None) -> Any:
    from lxml import etree

    table = find_table(markup)
    if ignore_nodes:
        etree.strip_tags(table, *ignore_nodes)
    for th in table.iter("th"):
        th.tag = "td"
    return table


def _as_html(text: str) -> tuple[str, bool]:
    """(HTML, came_from_otsl)."""
    if looks_like_otsl(text):
        return otsl_to_html(text), True
    return text, False


def _same(a: TableTree, b: TableTree) -> bool:
    return (a.tag, a.colspan, a.rowspan, a.content, len(a.children)) == (
        b.tag, b.colspan, b.rowspan, b.content, len(b.children)) and all(map(_same, a.children, b.children))


def tree_edit_distance(pred_table: Any, true_table: Any, structure_only: bool = False) -> tuple[float, int]:
    """``(APTED distance, n_nodes)`` of two lxml ``<table>`` elements, the reference's numbers
    (identical trees skip APTED: ~1 s for a 30-row table)."""
    n_nodes = max(len(pred_table.xpath(".//*")), len(true_table.xpath(".//*")))
    pred_tree, true_tree = table_tree(pred_table, structure_only), table_tree(true_table, structure_only)
    if _same(pred_tree, true_tree):
        return 0.0, n_nodes
    return float(APTED(pred_tree, true_tree, TEDSConfig()).compute_edit_distance()), n_nodes


def teds(pred: str, true: str, *, structure_only: bool = False, ignore_nodes: Sequence[str] | None = None) -> float:
    """TEDS in [0, 1] (1 = identical); ``structure_only=True`` gives TEDS-S.

    ``pred``/``true``: an HTML table or OTSL. An empty or unparseable prediction scores 0;
    a ground truth that does not parse raises ``ValueError``. ``ignore_nodes``: tags stripped
    (children kept) before comparing, as the reference's option.
    """
    try:
        if not true or not true.strip():
            raise TableFormatError("empty input")
        true_html, true_otsl = _as_html(true)
        _element(true_html, None)
    except TableFormatError as error:
        raise ValueError(f"ground-truth table does not parse: {error}") from error
    if not pred or not pred.strip():
        return 0.0
    if pred.strip() == true.strip():
        return 1.0
    try:
        pred_html, pred_otsl = _as_html(pred)
    except TableFormatError:
        return 0.0
    if pred_otsl != true_otsl:  # compare on the common canonical form
        try:
            true_html = canonical_html(true_html)
        except TableFormatError as error:
            raise ValueError(f"ground-truth table cannot be compared with OTSL: {error}") from error
    try:
        if pred_otsl != true_otsl:
            pred_html = canonical_html(pred_html)
        pred_el = _element(pred_html, ignore_nodes)
    except TableFormatError:
        return 0.0
    distance, n_nodes = tree_edit_distance(pred_el, _element(true_html, ignore_nodes), structure_only)
    if n_nodes == 0:  # two empty <table>s (the reference divides by zero)
        return 1.0 if distance == 0 else 0.0
    return 1.0 - distance / n_nodes


def teds_struct(pred: str, true: str, *, ignore_nodes: Sequence[str] | None = None) -> float:
    """TEDS-S: :func:`teds` on structure only (cell contents ignored)."""
    return teds(pred, true, structure_only=True, ignore_nodes=ignore_nodes)
