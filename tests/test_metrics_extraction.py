"""Extraction metrics: TEDS (ocrlab.metrics.tables) and JSON scoring (ocrlab.families.paddleocr_vl.extraction).

Parity: TEDS against PubTabNet's ``src/metric.py`` (transcribed below: PubTabNet is not on PyPI)
and against the APTED distance of ``table-recognition-metric`` (its PyPI packaging); Donut's
``JSONParseEvaluator`` transcribed from ``donut/util.py`` (donut-python 1.0.9, whose import needs
``datasets``/``timm``), checked against the installed source when donut-python is importable.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import inspect
import json
import random
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, List, Union  # noqa: UP035 (the Donut transcription's annotations)

import pytest
from rapidfuzz.distance import Levenshtein

from ocrlab.families.paddleocr_vl.extraction import (
    CONTENT_FIELDS,
    ExtractionScorer,
    aggregate,
    donut_flatten,
    donut_normalize,
    donut_tree,
    f1_counts,
    f1_score,
    line_items_table,
    score_answer,
    task_answer,
    tree_accuracy,
    tree_edit_distance,
)
from ocrlab.families.paddleocr_vl.field_matching import (
    FIELD_KINDS,
    compare_fields,
    field_group,
    flatten,
    normalize_date,
    parse_number,
    subfield,
    values_match,
)
from ocrlab.families.paddleocr_vl.json_output import parse_json_output
from ocrlab.families.paddleocr_vl.numeric_consistency import NUMERIC_CHECKS, validate_numbers
from ocrlab.metrics.tables import TableTree, TEDSConfig, table_tree, teds, teds_struct
from ocrlab.metrics.tables import tree_edit_distance as table_distance
from ocrlab.text.otsl import find_table, html_to_otsl


# -- a tiny generated dataset -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def truths(tmp_path_factory) -> list[dict]:
    """Six documents with discounts, several tax rates, shipping, USD/EUR/JPY."""
    from ocrlab.synth.dataset import write_dataset
    from ocrlab.synth.invoices import InvoiceGenerator
    from ocrlab.synth.plan import parse_plan

    out = tmp_path_factory.mktemp("extraction") / "docs"
    plan = parse_plan({"hard_kinds": {"discounts_multi_tax": 100.0}})
    generator = InvoiceGenerator(seed=3, hard_ratio=1.0, dpi=40, plan=plan, locales=["de_DE", "en_US", "ja_JP"])
    write_dataset(generator, out, 6, progress=False)
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "ground_truth").glob("*.json"))]


def small(truth: dict, n_items: int = 2) -> dict:
    """A truth cut to its first line items (keeps slow reference computations small)."""
    t = copy.deepcopy(truth)
    t["line_items"] = t["line_items"][:n_items]
    return t


# -- TEDS on hand-made tables ------------------------------------------------------------------------
GRID = "<table><tr><td>pq</td><td>rs</td></tr><tr><td>tu</td><td>vw</td></tr></table>"  # 6 nodes below table


def test_teds_is_one_on_identical_tables():
    assert teds(GRID, GRID) == 1.0 == teds_struct(GRID, GRID)
    assert teds(GRID.replace("vw", "vw "), GRID.replace("vw", "vw ")) == 1.0


def test_teds_known_values_on_edits():
    # a changed cell: rename cost levenshtein(pq, px) / 2 = 0.5 of 6 nodes
    assert teds(GRID.replace("pq", "px"), GRID) == pytest.approx(1 - 0.5 / 6, abs=1e-12)
    assert teds_struct(GRID.replace("pq", "px"), GRID) == 1.0
    # two cells merged by a colspan: rename (span differs) 1 + insert 1 = 2 of max(5, 6) nodes
    merged = '<table><tr><td colspan="2">pqrs</td></tr><tr><td>tu</td><td>vw</td></tr></table>'
    assert teds(merged, GRID) == pytest.approx(1 - 2 / 6, abs=1e-12)
    assert teds_struct(merged, GRID) == pytest.approx(1 - 2 / 6, abs=1e-12)
    # a dropped row: insert tr + 2 td = 3 of 6
    dropped = "<table><tr><td>pq</td><td>rs</td></tr></table>"
    assert teds(dropped, GRID) == pytest.approx(0.5, abs=1e-12)
    # a rowspan over the cell below: rename pq (rowspan differs) 1 + insert tu 1 = 2 of max(5, 6)
    spanned = '<table><tr><td rowspan="2">pq</td><td>rs</td></tr><tr><td>vw</td></tr></table>'
    assert teds(spanned, GRID) == pytest.approx(1 - 2 / 6, abs=1e-12)


def test_teds_reads_otsl_and_compares_on_the_canonical_form():
    truth = "<table><thead><tr><th>ab</th><th>cd</th></tr></thead><tbody><tr><td>ef</td><td>gh</td></tr></tbody></table>"
    assert teds("<fcel>ab<fcel>cd<nl><fcel>ef<fcel>gh<nl>", truth) == 1.0
    assert teds("<fcel>ab<fcel>cd<nl><fcel>ef<fcel>gx<nl>", truth) == pytest.approx(1 - 0.5 / 6, abs=1e-12)
    assert teds(truth, html_to_otsl(truth)) == 1.0
    # th is scored like td: a wrong header costs like a wrong cell (thead/tbody: 8 nodes)
    assert teds(truth.replace("<th>ab", "<th>ax"), truth) == pytest.approx(1 - 0.5 / 8, abs=1e-12)


def test_teds_unparseable_prediction_scores_zero_and_bad_truth_raises():
    for pred in ("", "   ", "no table here", "<fcel>a<lcel>oops<nl>", "<fcel>a<nl><fcel>b<fcel>c<nl>"):
        assert teds(pred, GRID) == 0.0
    assert teds("<table><tr><td>a</td></tr><tr><td>b</td><td>c</td></tr></table>", "<fcel>a<nl>") == 0.0
    with pytest.raises(ValueError, match="ground-truth table"):
        teds(GRID, "not a table")
    with pytest.raises(ValueError, match="cannot be compared with OTSL"):
        teds("<fcel>a<nl>", "<table><tr><td>a</td></tr><tr><td>b</td><td>c</td></tr></table>")


def test_table_tree_and_costs():
    el = find_table('<table><tr><td colspan="2">a<b>c</b>d</td></tr></table>')
    tree = table_tree(el)
    cell = tree.children[0].children[0]
    assert (cell.tag, cell.colspan, cell.rowspan) == ("td", 2, 1)
    assert cell.content == ["a", "<b>", "c", "</b>", "d"]
    assert table_tree(el, structure_only=True).children[0].children[0].content == []
    config = TEDSConfig()
    assert config.rename(TableTree("td", 1, 1, list("ab")), TableTree("td", 1, 1, list("ax"))) == 0.5
    assert config.rename(TableTree("td", 1, 1, []), TableTree("td", 1, 2, [])) == 1.0
    assert config.rename(TableTree("tr"), TableTree("tr")) == 0.0
    assert table_distance(el, el) == (0.0, 3)  # tr, td, b


# -- TEDS parity with PubTabNet's src/metric.py --------------------------------------------------------
# Transcribed from https://github.com/ibm-aur-nlp/PubTabNet/blob/master/src/metric.py (Apache-2.0),
# without its batch/parallel helpers; `distance` is the Levenshtein package it imports.
def _pubtabnet_teds(pred: str, true: str, structure_only: bool = False, ignore_nodes=None) -> float:
    distance = pytest.importorskip("distance", reason="PubTabNet's reference needs the `Distance` package")
    from apted import APTED, Config
    from apted.helpers import Tree
    from lxml import etree, html

    class TableTreeRef(Tree):
        def __init__(self, tag, colspan=None, rowspan=None, content=None, *children):
            self.tag = tag
            self.colspan = colspan
            self.rowspan = rowspan
            self.content = content
            self.children = list(children)

    class CustomConfig(Config):
        @staticmethod
        def maximum(*sequences):
            return max(map(len, sequences))

        def normalized_distance(self, *sequences):
            return float(distance.levenshtein(*sequences)) / self.maximum(*sequences)

        def rename(self, node1, node2):
            if (node1.tag != node2.tag) or (node1.colspan != node2.colspan) or (node1.rowspan != node2.rowspan):
                return 1.
            if node1.tag == 'td':  # noqa: SIM102
                if node1.content or node2.content:
                    return self.normalized_distance(node1.content, node2.content)
            return 0.

    tokens: list[str] = []

    def tokenize(node):
        tokens.append('<%s>' % node.tag)  # noqa: UP031
        if node.text is not None:
            tokens.extend(list(node.text))
        for n in node.getchildren():
            tokenize(n)
        if node.tag != 'unk':
            tokens.append('</%s>' % node.tag)  # noqa: UP031
        if node.tag != 'td' and node.tail is not None:
            tokens.extend(list(node.tail))

    def load_html_tree(node, parent=None):
        if node.tag == 'td':
            if structure_only:
                cell = []
            else:
                tokens.clear()
                tokenize(node)
                cell = tokens[1:-1].copy()
            new_node = TableTreeRef(node.tag, int(node.attrib.get('colspan', '1')),
                                    int(node.attrib.get('rowspan', '1')), cell, *deque())
        else:
            new_node = TableTreeRef(node.tag, None, None, None, *deque())
        if parent is not None:
            parent.children.append(new_node)
        if node.tag != 'td':
            for n in node.getchildren():
                load_html_tree(n, new_node)
        if parent is None:
            return new_node
        return None

    if (not pred) or (not true):
        return 0.0
    parser = html.HTMLParser(remove_comments=True, encoding='utf-8')
    pred = html.fromstring(pred, parser=parser)
    true = html.fromstring(true, parser=parser)
    if pred.xpath('body/table') and true.xpath('body/table'):
        pred = pred.xpath('body/table')[0]
        true = true.xpath('body/table')[0]
        if ignore_nodes:
            etree.strip_tags(pred, *ignore_nodes)
            etree.strip_tags(true, *ignore_nodes)
        n_nodes_pred = len(pred.xpath(".//*"))
        n_nodes_true = len(true.xpath(".//*"))
        n_nodes = max(n_nodes_pred, n_nodes_true)
        tree_pred = load_html_tree(pred)
        tree_true = load_html_tree(true)
        dist = APTED(tree_pred, tree_true, CustomConfig()).compute_edit_distance()
        return 1.0 - (float(dist) / n_nodes)
    return 0.0


def _pubtabnet_style_tables() -> list[tuple[str, str]]:
    """(pred, true) pairs in PubTabNet's form (<html><body><table>, td only, <b> inline tags)."""
    rng = random.Random(7)

    def table(rows: list[list[str]], head: int = 1) -> str:
        def tr(cells: list[str]) -> str:
            return "<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells) + "</tr>"
        return ("<html><body><table><thead>" + "".join(tr(r) for r in rows[:head]) + "</thead><tbody>"
                + "".join(tr(r) for r in rows[head:]) + "</tbody></table></body></html>")

    base = [["<b>Item</b>", "Qty", "Price"], ["Paper A4", "15", "54.29"], ["Toner", "2", "174.77"],
            ["Service, 2 h", "1", "90.20"], ["Cable", "", "4.51"]]
    pairs = [(table(base), table(base))]
    for _ in range(14):
        rows = copy.deepcopy(base)
        r, c = rng.randrange(1, len(rows)), rng.randrange(3)
        edit = rng.choice(["text", "drop", "colspan", "rowspan", "bold", "empty", "add"])
        if edit == "text":
            rows[r][c] = rows[r][c][::-1] + "x"
        elif edit == "drop":
            del rows[r]
        elif edit == "colspan":
            rows[r] = [f'<td colspan="2">{rows[r][0]} {rows[r][1]}</td>', rows[r][2]]
        elif edit == "rowspan" and r + 1 < len(rows):
            rows[r][0] = f'<td rowspan="2">{rows[r][0]}</td>'
            del rows[r + 1][0]
        elif edit == "bold":
            rows[r][c] = f"<b>{rows[r][c]}</b>"
        elif edit == "empty":
            rows[r][c] = ""
        else:
            rows.insert(r, ["New", "3", "1.00"])
        pairs.append((table(rows), table(base)))
        pairs.append((table(base), table(rows)))
    return pairs


@pytest.mark.parametrize("structure_only", [False, True])
def test_teds_matches_pubtabnet_reference(structure_only):
    for pred, true in _pubtabnet_style_tables():
        ours = teds(pred, true, structure_only=structure_only)
        assert ours == pytest.approx(_pubtabnet_teds(pred, true, structure_only), abs=1e-9), (pred, true)
    pred, true = _pubtabnet_style_tables()[3]
    for ignore in (["b"], ["thead", "tbody"]):
        assert teds(pred, true, ignore_nodes=ignore) == pytest.approx(
            _pubtabnet_teds(pred, true, ignore_nodes=ignore), abs=1e-9)


def test_teds_distance_matches_table_recognition_metric():
    trm = pytest.importorskip("table_recognition_metric", reason="table-recognition-metric (dev extra) missing")
    from apted import APTED
    from table_recognition_metric.utils import CustomConfig

    for structure_only in (False, True):
        ref = trm.TEDS(structure_only=structure_only)
        for pred, true in _pubtabnet_style_tables()[:12]:
            p, t = find_table(pred), find_table(true)
            tree_p, tree_t = ref.load_html_tree(p), ref.load_html_tree(t)
            expected = APTED(tree_p, tree_t, CustomConfig()).compute_edit_distance()
            assert table_distance(p, t, structure_only)[0] == pytest.approx(expected, abs=1e-9)
            # its score divides by the tree size (root counted, inline tags not): not PubTabNet's
            assert ref(pred, true) == pytest.approx(1 - expected / max(tree_p.size(), tree_t.size()), abs=1e-9)


def test_rapidfuzz_levenshtein_equals_the_references_on_token_lists():
    distance = pytest.importorskip("distance", reason="the `Distance` package (dev extra) is missing")
    from nltk import edit_distance

    rng = random.Random(3)
    alphabet = ["a", "b", "c", "<b>", "</b>", "1", " "]
    for _ in range(200):
        a = [rng.choice(alphabet) for _ in range(rng.randrange(0, 12))]
        b = [rng.choice(alphabet) for _ in range(rng.randrange(0, 12))]
        assert Levenshtein.distance(a, b) == distance.levenshtein(a, b)
        sa, sb = "".join(x[0] for x in a), "".join(x[0] for x in b)
        assert Levenshtein.distance(sa, sb) == edit_distance(sa, sb)


# -- parsing generated text -----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": {"b": [1, 2]}}\n```', {"a": {"b": [1, 2]}}),
    ('Here is the JSON:\n```\n{"a": "x"}\n``` done', {"a": "x"}),
    ('```json{"a": 2}```', {"a": 2}),
    ('Sure! {"a": "}"} trailing words', {"a": "}"}),
])
def test_parse_json_output_finds_the_first_object(text, expected):
    assert parse_json_output(text) == (expected, None)


@pytest.mark.parametrize(("text", "message"), [
    ('{"a": 1, "b": [1, 2', "truncated"),
    ('{"a": 1,}', "invalid JSON"),
    ("[1, 2]", "JSON array"),
    ("```json\n[{\"a\": 1}]\n```", "JSON array"),
    ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ('{"a": NaN}', "NaN is not valid JSON"),
    ("no json at all", "no JSON object"),
    (None, "expected generated text"),
])
def test_parse_json_output_reports_invalid_output(text, message):
    obj, error = parse_json_output(text)
    assert obj is None
    assert message in error


def test_flatten_key_paths():
    obj = {"vendor": {"name": "A", "phone": None}, "line_items": [{"amount": "1"}, {"amount": "2"}], "discounts": []}
    assert flatten(obj) == {"vendor.name": "A", "vendor.phone": None, "line_items.0.amount": "1",
                            "line_items.1.amount": "2"}
    assert subfield("line_items.1.amount") == "line_items.amount"
    assert (field_group("issue_date"), field_group("vendor.name"), field_group("notes")) == ("dates", "vendor", None)


# -- normalization --------------------------------------------------------------------------------------
def test_field_kinds_come_from_the_schema():
    assert FIELD_KINDS["total"] == FIELD_KINDS["line_items.amount"] == FIELD_KINDS["taxes.rate"] == "number"
    assert FIELD_KINDS["issue_date"] == FIELD_KINDS["due_date"] == "date"
    assert "vendor.name" not in FIELD_KINDS and "number" not in FIELD_KINDS


@pytest.mark.parametrize(("text", "decimals", "expected"), [
    ("1.234,56 €", 2, "1234.56"), ("$1,234.56", 2, "1234.56"), ("CHF 1'234.56", 2, "1234.56"),
    ("1\u00a0234,56 €", 2, "1234.56"), ("₹12,34,567.89", 2, "1234567.89"), ("¥12,300", 0, "12300"),
    ("12.300 JPY", 0, "12300"), ("19%", None, "19"), ("5.5", None, "5.5"), ("8.875", None, "8.875"),
    ("-2.858,77", 2, "-2858.77"), (12.5, None, "12.5"), (7, 2, "7"),
])
def test_parse_number(text, decimals, expected):
    assert parse_number(text, decimals) == Decimal(expected)


@pytest.mark.parametrize("value", [None, True, "n/a", "", float("nan"), "1.2.3,4,5"])
def test_parse_number_rejects_non_numbers(value):
    assert parse_number(value, 2) is None


def test_normalize_date():
    assert normalize_date("2026-09-06") == "2026-09-06"
    assert normalize_date("06.09.2026", "de_DE") == "2026-09-06"
    assert normalize_date("09/06/2026", "en_US") == "2026-09-06"
    assert normalize_date("06/09/2569", "th_TH") == "2026-09-06"  # Buddhist era
    assert normalize_date("2026年09月06日", "ja_JP") == "2026-09-06"
    assert normalize_date("06.09.2026") is None and normalize_date(20260906, "de_DE") is None


def test_values_match_normalizes_by_field_kind():
    assert values_match("1.234,56 €", "1234.56", "total", "EUR")
    assert not values_match("1.234,57 €", "1234.56", "total", "EUR")
    assert values_match("12,300", "12300", "line_items.0.amount", "JPY")
    assert values_match("19 %", "19", "taxes.0.rate", "EUR")
    assert values_match("06.09.2026", "2026-09-06", "issue_date", "EUR", "de_DE")
    assert values_match("  ACME\n GmbH ", "acme gmbh", "vendor.name")
    assert values_match(None, "", "vendor.phone") and values_match("", None, "notes")
    assert not values_match(None, "x", "notes") and not values_match("x", None, "notes")
    assert not values_match("INV-1", "INV-2", "number")


def test_compare_fields_exact_normalized_and_extra_paths():
    truth = {"total": "10.00", "vendor": {"name": "A", "phone": None},
             "line_items": [{"description": "x", "amount": "10.00"}]}
    pred = {"total": "10.0", "vendor": {"name": "A"},
            "line_items": [{"description": "x", "amount": "10.00"}, {"description": "ghost", "amount": None}],
            "unrelated": "ignored"}
    fields, errors = compare_fields(pred, truth, ("total", "vendor", "line_items"), "USD")
    assert fields == {"total": [False, True], "vendor.name": [True, True], "vendor.phone": [False, True],
                      "line_items.0.description": [True, True], "line_items.0.amount": [True, True],
                      "line_items.1.description": [False, False]}  # the blank ghost amount is no field
    assert errors == {"line_items.1.description": {"expected": None, "predicted": "ghost"}}
    fields, errors = compare_fields({}, truth, ("total",))
    assert set(errors) == set(flatten(truth)) - {"vendor.phone"} and fields["vendor.phone"] == [False, True]
    fields, errors = compare_fields(None, truth, ("total",))  # invalid output: every field wrong
    assert set(errors) == set(fields) == set(flatten(truth)) and not any(map(any, fields.values()))


# -- Donut's JSONParseEvaluator -----------------------------------------------------------------------
# Transcribed from https://github.com/clovaai/donut/blob/master/donut/util.py (MIT), docstrings left
# out; it imports zss and nltk's edit_distance (the dev extra: without them its tests skip).
try:
    import zss
    from nltk import edit_distance
    from zss import Node
except ImportError:
    zss = Node = edit_distance = None


@pytest.fixture(scope="module")
def donut_reference() -> JSONParseEvaluator:
    if zss is None or edit_distance is None:
        pytest.skip("Donut's reference needs zss and nltk (pip install -e .[dev])")
    return JSONParseEvaluator()


class JSONParseEvaluator:
    @staticmethod
    def flatten(data: dict):
        flatten_data = list()  # noqa: C408

        def _flatten(value, key=""):
            if type(value) is dict:
                for child_key, child_value in value.items():
                    _flatten(child_value, f"{key}.{child_key}" if key else child_key)
            elif type(value) is list:
                for value_item in value:
                    _flatten(value_item, key)
            else:
                flatten_data.append((key, value))

        _flatten(data)
        return flatten_data

    @staticmethod
    def update_cost(node1: Node, node2: Node):
        label1 = node1.label
        label2 = node2.label
        label1_leaf = "<leaf>" in label1
        label2_leaf = "<leaf>" in label2
        if label1_leaf == True and label2_leaf == True:
            return edit_distance(label1.replace("<leaf>", ""), label2.replace("<leaf>", ""))
        elif label1_leaf == False and label2_leaf == True:
            return 1 + len(label2.replace("<leaf>", ""))
        elif label1_leaf == True and label2_leaf == False:
            return 1 + len(label1.replace("<leaf>", ""))
        else:
            return int(label1 != label2)

    @staticmethod
    def insert_and_remove_cost(node: Node):
        label = node.label
        if "<leaf>" in label:
            return len(label.replace("<leaf>", ""))
        else:
            return 1

    def normalize_dict(self, data: Union[Dict, List, Any]):  # noqa: UP006, UP007
        if not data:
            return {}
        if isinstance(data, dict):
            new_data = dict()  # noqa: C408
            for key in sorted(data.keys(), key=lambda k: (len(k), k)):
                value = self.normalize_dict(data[key])
                if value:
                    if not isinstance(value, list):
                        value = [value]
                    new_data[key] = value
        elif isinstance(data, list):
            if all(isinstance(item, dict) for item in data):
                new_data = []
                for item in data:
                    item = self.normalize_dict(item)
                    if item:
                        new_data.append(item)
            else:
                new_data = [str(item).strip() for item in data if type(item) in {str, int, float} and str(item).strip()]
        else:
            new_data = [str(data).strip()]
        return new_data

    def cal_f1(self, preds: List[dict], answers: List[dict]):  # noqa: UP006
        total_tp, total_fn_or_fp = 0, 0
        for pred, answer in zip(preds, answers):
            pred, answer = self.flatten(self.normalize_dict(pred)), self.flatten(self.normalize_dict(answer))
            for field in pred:
                if field in answer:
                    total_tp += 1
                    answer.remove(field)
                else:
                    total_fn_or_fp += 1
            total_fn_or_fp += len(answer)
        return total_tp / (total_tp + total_fn_or_fp / 2)

    def construct_tree_from_dict(self, data: Union[Dict, List], node_name: str = None):  # noqa: UP006, UP007, RUF013
        if node_name is None:
            node_name = "<root>"
        node = Node(node_name)
        if isinstance(data, dict):
            for key, value in data.items():
                kid_node = self.construct_tree_from_dict(value, key)
                node.addkid(kid_node)
        elif isinstance(data, list):
            if all(isinstance(item, dict) for item in data):
                for item in data:
                    kid_node = self.construct_tree_from_dict(item, "<subtree>")
                    node.addkid(kid_node)
            else:
                for item in data:
                    node.addkid(Node(f"<leaf>{item}"))
        else:
            raise Exception(data, node_name)  # noqa: TRY002, TRY004
        return node

    def cal_acc(self, pred: dict, answer: dict):
        pred = self.construct_tree_from_dict(self.normalize_dict(pred))
        answer = self.construct_tree_from_dict(self.normalize_dict(answer))
        return max(
            0,
            1
            - (
                zss.distance(pred, answer, get_children=zss.Node.get_children,
                             insert_cost=self.insert_and_remove_cost, remove_cost=self.insert_and_remove_cost,
                             update_cost=self.update_cost, return_operations=False)
                / zss.distance(self.construct_tree_from_dict(self.normalize_dict({})), answer,
                               get_children=zss.Node.get_children, insert_cost=self.insert_and_remove_cost,
                               remove_cost=self.insert_and_remove_cost, update_cost=self.update_cost,
                               return_operations=False)
            ),
        )


def _methods(cls_node: ast.ClassDef) -> dict[str, str]:
    out = {}
    for f in cls_node.body:
        if isinstance(f, ast.FunctionDef):
            body = f.body[1:] if isinstance(f.body[0], ast.Expr) and isinstance(f.body[0].value, ast.Constant) else f.body
            out[f.name] = ast.dump(ast.Module(body=body, type_ignores=[]))
    return out


def test_donut_transcription_is_the_installed_reference():
    spec = importlib.util.find_spec("donut")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("donut-python is not installed (its import needs datasets/timm; "
                    "`pip install --no-deps donut-python` is enough for this check)")
    source = (Path(next(iter(spec.submodule_search_locations))) / "util.py").read_text(encoding="utf-8")
    ref = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "JSONParseEvaluator")
    ours = ast.parse(inspect.getsource(JSONParseEvaluator)).body[0]
    assert _methods(ours) == _methods(ref)  # type: ignore[arg-type]


def _donut_cases(truths: list[dict]) -> list[tuple[dict, dict]]:
    hand = [({"a": "1", "b": ["2", "3"]}, {"a": "1", "b": ["2"], "c": "4"}),
            ({"menu": [{"name": "cake", "count": "2"}, {"name": "juice", "count": "1"}]},
             {"menu": [{"name": "cake", "count": "3"}], "total": " 5 "}),
            ({"k": {"x": [1, 2.5, True, None, "", " y "]}}, {"k": {"x": ["1", "2.5"]}}),
            ({"a": {"b": {"c": "deep"}}}, {"a": [{"b": "deep"}]})]
    cases = [(answer, pred) for answer, pred in hand]
    for truth in truths[:3]:
        answer = task_answer(small(truth), "full")
        pred = copy.deepcopy(answer)
        pred["vendor"]["name"] = pred["vendor"]["name"][::-1]
        pred["line_items"] = pred["line_items"][:1]
        pred["total"] = "0"
        pred["extra"] = {"k": "v"}
        cases.append((answer, pred))
        cases.append((task_answer(small(truth), "summary"), {"total": answer["total"], "taxes": []}))
    return cases


def test_donut_f1_and_tree_accuracy_on_hand_made_cases():
    answer, pred = {"a": "1", "b": ["2", "3"]}, {"a": "1", "b": ["2"], "c": "4"}
    assert f1_counts(pred, answer) == (2, 1, 1)
    assert f1_score(2, 1, 1) == pytest.approx(2 / 3)
    # root -> a -> <leaf>xy: TED(empty, answer) = 1 (a) + 2 (xy) = 3
    assert tree_accuracy({"a": "xz"}, {"a": "xy"}) == pytest.approx(1 - 1 / 3)
    assert tree_accuracy({"b": "xy"}, {"a": "xy"}) == pytest.approx(1 - 1 / 3)
    assert tree_accuracy({"a": "xy", "c": "q"}, {"a": "xy"}) == pytest.approx(1 - 2 / 3)
    assert tree_accuracy({}, {"a": "xy"}) == 0.0 and tree_accuracy({"a": "xy"}, {"a": "xy"}) == 1.0
    assert tree_accuracy({}, {"a": None}) == 1.0 and tree_accuracy({"a": "x"}, {}) == 0.0  # reference: 0/0
    assert f1_score(0, 0, 0) == 1.0
    assert donut_normalize({"bb": "1", "a": {"c": " x "}}) == {"a": [{"c": ["x"]}], "bb": ["1"]}
    assert donut_flatten({"a": [{"c": ["x", "y"]}]}) == [("a.c", "x"), ("a.c", "y")]
    assert donut_tree({"a": ["x"]}) == ("<root>", [("a", [("<leaf>x", [])])])
    with pytest.raises(TypeError):
        donut_tree("x")


def test_donut_metrics_match_the_reference(truths, donut_reference):
    ref = donut_reference
    cases = _donut_cases(truths)
    for answer, pred in cases:
        assert tree_accuracy(pred, answer) == pytest.approx(ref.cal_acc(pred, answer), abs=1e-9)
        assert f1_score(*f1_counts(pred, answer)) == pytest.approx(ref.cal_f1([pred], [answer]), abs=1e-9)
        assert donut_normalize(pred) == ref.normalize_dict(pred)
    tp, fp, fn = (sum(f1_counts(p, a)[i] for a, p in cases) for i in range(3))
    assert f1_score(tp, fp, fn) == pytest.approx(ref.cal_f1([p for _, p in cases], [a for a, _ in cases]), abs=1e-9)
    scorer = ExtractionScorer(tables=False)
    for n, (answer, pred) in enumerate(cases[4:]):
        task = "full" if "vendor" in answer else "summary"
        scorer.add(f"d{n}", json.dumps(pred), answer, task)
    metrics = scorer.compute()
    expected_acc = sum(ref.cal_acc(p, a) for a, p in cases[4:]) / len(cases[4:])
    assert metrics["json_tree_accuracy"] == pytest.approx(expected_acc, abs=1e-9)
    assert metrics["field_f1"] == pytest.approx(ref.cal_f1([p for _, p in cases[4:]], [a for a, _ in cases[4:]]),
                                                abs=1e-9)


def test_tree_edit_distance_equals_zss(truths, donut_reference):
    def to_zss(tree):
        node = zss.Node(tree[0])
        for child in tree[1]:
            node.addkid(to_zss(child))
        return node

    ref = donut_reference
    for answer, pred in _donut_cases(truths):
        a, p = donut_tree(donut_normalize(answer)), donut_tree(donut_normalize(pred))
        expected = zss.distance(to_zss(p), to_zss(a), get_children=zss.Node.get_children,
                                insert_cost=ref.insert_and_remove_cost, remove_cost=ref.insert_and_remove_cost,
                                update_cost=ref.update_cost)
        assert tree_edit_distance(p, a) == expected
        assert tree_edit_distance(a, a) == 0


# -- numeric validation ---------------------------------------------------------------------------------
def test_generated_documents_are_consistent(truths):
    for truth in truths:
        result = validate_numbers(truth)
        assert result["consistent"] is True, (truth["id"], result)
        assert all(result["checks"][name] for name in NUMERIC_CHECKS)
        assert validate_numbers(truth, tolerance_units=0)["consistent"] is True  # the generator is exact


def test_broken_documents_fail_the_right_check(truths):
    truth = next(t for t in truths if t["currency"] == "EUR" and t["discounts"] and t["shipping"])
    unit = Decimal("0.01")

    doc = copy.deepcopy(truth)
    doc["line_items"][0]["amount"] = str(Decimal(doc["line_items"][0]["amount"]) + 1)
    result = validate_numbers(doc)
    assert result["checks"] == {"line_item_amounts": False, "line_items_sum": False, "total": True}
    assert result["consistent"] is False and any("line_items.0" in p for p in result["problems"])

    n_terms = 1 + len(truth["discounts"]) + len(truth["taxes"]) + 1  # subtotal, discounts, taxes, shipping
    for shift, ok in ((n_terms * unit, True), ((n_terms + 1) * unit, False)):
        doc = copy.deepcopy(truth)
        doc["total"] = str(Decimal(doc["total"]) + shift)
        assert validate_numbers(doc)["checks"]["total"] is ok

    doc = copy.deepcopy(truth)
    doc["discounts"][0]["amount"] = "-" + doc["discounts"][0]["amount"]  # printed negative: same check
    assert validate_numbers(doc)["consistent"] is True
    doc["shipping"] = None
    assert validate_numbers(doc)["checks"]["total"] is False
    doc = copy.deepcopy(truth)
    doc["subtotal"] = "n/a"
    result = validate_numbers(doc)
    assert result["checks"]["line_items_sum"] is False and result["checks"]["total"] is False
    assert "subtotal: 'n/a' is not a number" in result["problems"]


def test_validate_numbers_on_partial_answers(truths):
    truth = truths[0]
    summary = task_answer(truth, "summary")
    assert validate_numbers(summary)["checks"] == {"line_item_amounts": None, "line_items_sum": None, "total": True}
    items = task_answer(truth, "line_items")
    assert validate_numbers(items, truth["currency"])["checks"]["line_item_amounts"] is True
    assert validate_numbers({"vendor": {}})["consistent"] is None
    jpy = next(t for t in truths if t["currency"] == "JPY")
    doc = copy.deepcopy(jpy)
    doc["total"] = f"{int(doc['total']):,}"  # "1,234,567" as printed
    assert validate_numbers(doc)["consistent"] is True


# -- the scorer ------------------------------------------------------------------------------------------
def test_line_items_table():
    items = [{"description": "a<b", "quantity": "2", "unit_price": "1.00", "amount": "2.00", "tax_rate": "19"}, "junk"]
    assert line_items_table(items) == ("<table><tr><td>a&lt;b</td><td>2</td><td>1.00</td><td>2.00</td><td>19</td></tr>"
                                       "<tr><td>junk</td></tr></table>")
    assert line_items_table(None) == "<table></table>"


def test_task_answers():
    truth = {f: f for f in CONTENT_FIELDS}
    assert list(task_answer(truth, "full")) == list(CONTENT_FIELDS)
    assert task_answer(truth, "summary") == {k: k for k in ("subtotal", "discounts", "taxes", "shipping", "total",
                                                            "currency")}
    with pytest.raises(ValueError, match="unknown task"):
        task_answer(truth, "nope")
    with pytest.raises(ValueError, match="lacks"):
        task_answer({"vendor": {}}, "client")


def test_perfect_answers_score_one(truths):
    scorer = ExtractionScorer()
    for t in truths[:2]:
        scorer.add(t["id"], "```json\n" + json.dumps(task_answer(t, "full")) + "\n```", t)
        scorer.add(t["id"], json.dumps(task_answer(t, "vendor")), t, "vendor")
        scorer.add(t["id"], html_to_otsl(t["table_html"]), t, "table")
    metrics = scorer.compute()
    for name in ("field_accuracy", "field_accuracy_normalized", "field_f1", "field_precision", "field_recall",
                 "json_tree_accuracy", "teds", "teds_struct", "numeric_consistency", "json_valid_rate",
                 "overall_score"):
        assert metrics[name] == 1.0, name
    assert metrics["n_documents"] == 2 and metrics["n_answers"] == 6


def test_scorer_counts_errors_and_breaks_them_down(truths):
    t = min((t for t in truths if t["currency"] == "USD"), key=lambda t: len(t["line_items"]))
    answer = task_answer(t, "full")
    pred = copy.deepcopy(answer)
    pred["vendor"]["name"] = "Wrong Inc"
    pred["total"] = f"${Decimal(answer['total']):,}"  # formatting only: exact error, normalized match
    pred["line_items"][1]["amount"] = "0.00"
    scorer = ExtractionScorer()
    record = scorer.add(t["id"], json.dumps(pred), t, meta={"locale": "en_US", "hard_kinds": []})
    n_fields = len(flatten(answer))
    assert record["n_errors"] == 2 and set(record["errors"]) == {"vendor.name", "line_items.1.amount"}
    scorer.add("bad", '{"vendor": {"name": ', t, "vendor", meta={"hard_kinds": ["stamp"], "id": "not-this", "epoch": 3})
    assert scorer.records[-1]["id"] == "bad" and scorer.records[-1]["meta"] == {"id": "not-this", "epoch": 3}
    metrics = scorer.compute()
    n_vendor = len(flatten(task_answer(t, "vendor")))
    assert metrics["field_accuracy_normalized"] == pytest.approx((n_fields - 2) / (n_fields + n_vendor))
    assert ExtractionScorer.from_records(scorer.records[:1]).compute()["overall_score"] == pytest.approx(
        0.6 * (n_fields - 2) / n_fields + 0.2 * metrics["teds"])
    assert metrics["field_accuracy"] == pytest.approx((n_fields - 3) / (n_fields + n_vendor))
    assert metrics["json_valid_rate"] == 0.5
    assert metrics["numeric_consistency"] == 0.0  # the line amount no longer adds up
    assert 0 < metrics["teds"] < 1
    expected = 0.6 * metrics["field_accuracy_normalized"] + 0.2 * metrics["teds"] + 0.2 * 0.0
    assert metrics["overall_score"] == pytest.approx(expected)
    breakdown = scorer.breakdown()
    assert breakdown["fields"]["vendor"]["n"] == 2 * len(t["vendor"])
    assert breakdown["groups"]["total"] == {"n": 1, "accuracy": 0.0, "accuracy_normalized": 1.0}
    assert breakdown["subfields"]["line_items.amount"]["accuracy_normalized"] == 1 - 1 / len(t["line_items"])
    assert set(breakdown["hard_kinds"]) == {"none", "stamp"}
    assert breakdown["hard_kinds"]["stamp"]["json_valid_rate"] == 0.0
    assert set(breakdown["tasks"]) == {"full", "vendor"} and "en_US" in breakdown["locales"]
    assert breakdown["currencies"]["USD"]["n_answers"] == 2
    docs = {d["id"]: d for d in scorer.documents()}
    assert docs[t["id"]]["n_errors"] == 2 and docs[t["id"]]["locale"] == "en_US"
    assert docs["bad"]["json_valid"] is False and docs["bad"]["hard_kinds"] == ["stamp"]
    assert docs["bad"]["n_errors"] == n_vendor  # invalid output: every field wrong
    report = scorer.report()
    assert set(report) == {"metrics", "breakdown", "documents"}


def test_records_are_json_and_merge_like_one_scorer(truths):
    t = small(truths[1], 2)
    answer = task_answer(t, "full")
    wrong = copy.deepcopy(answer)
    wrong["number"] = "X"
    one, rank0, rank1 = ExtractionScorer(), ExtractionScorer(), ExtractionScorer()
    for scorer, doc_id, text in ((rank0, "a", json.dumps(answer)), (rank1, "b", json.dumps(wrong)),
                                 (rank1, "a", json.dumps(answer))):  # a repeat, as a DistributedSampler pads
        scorer.add(doc_id, text, t)
    for doc_id, text in (("a", json.dumps(answer)), ("b", json.dumps(wrong))):
        one.add(doc_id, text, t)
    gathered = json.loads(json.dumps([rank0.records, rank1.records]))  # what all_gather_object moves
    merged = ExtractionScorer.from_records(gathered[0]).merge(gathered[1])
    assert merged.compute() == one.compute()
    assert ExtractionScorer.from_records(gathered[0]).merge(rank1).compute() == one.compute()
    assert aggregate(one.unique_records()) == one.compute()
    one.reset()
    with pytest.raises(ValueError, match="no answers"):
        one.compute()


def test_invalid_output_is_a_scored_failure(truths):
    t = small(truths[0], 2)
    record = score_answer(t["id"], "I cannot read this document.", t, "full", tables=False)
    assert record["json_valid"] is False and record["json_error"] == "no JSON object in the output"
    assert record["n_errors"] == len(flatten(task_answer(t, "full")))
    assert record["tree_accuracy"] == 0.0 and record["numeric"]["consistent"] is False
    assert record["teds"] is None  # tables=False
    table = score_answer(t["id"], "garbage", t["table_html"], "table")
    assert table["teds"] == table["teds_struct"] == 0.0 and table["json_valid"] is None
    with pytest.raises(ValueError, match="needs a table"):
        score_answer("x", "", {"id": "x"}, "table")
