"""Donut's ``JSONParseEvaluator`` (``donut/util.py``): field F1 and tree-edit-distance accuracy.

Micro P/R/F1 over flattened (key, value) pairs of the normalized trees (:func:`f1_counts`) and
normalized tree-edit-distance accuracy (:func:`tree_accuracy`), with Donut's node construction
and costs; the tests check both against the reference code to 1e-9. Where ours differs: the tree
edit distance is our own Zhang-Shasha (:func:`tree_edit_distance`; the reference calls
``zss.distance``, the same algorithm and the same integer, but ``zss`` builds every edit script as
it goes: ~30 s on a 30-item invoice, 15x ours); leaf edit distances use ``rapidfuzz`` (the
reference: ``nltk.edit_distance``, equal values); and where the reference divides by zero, F1
with no pair on either side is 1 and an answer that normalizes to nothing gives accuracy 1 if the
prediction does too, else 0.
"""

from __future__ import annotations

from typing import Any

from rapidfuzz.distance import Levenshtein


def donut_normalize(data: Any) -> Any:
    """Donut's ``normalize_dict``: keys sorted by (length, name), scalars as stripped strings in
    lists, empty values dropped."""
    if not data:
        return {}
    if isinstance(data, dict):
        new_data: Any = {}
        for key in sorted(data.keys(), key=lambda k: (len(k), k)):
            value = donut_normalize(data[key])
            if value:
                if not isinstance(value, list):
                    value = [value]
                new_data[key] = value
    elif isinstance(data, list):
        if all(isinstance(item, dict) for item in data):
            new_data = [item for item in (donut_normalize(x) for x in data) if item]
        else:
            new_data = [str(item).strip() for item in data if type(item) in {str, int, float} and str(item).strip()]
    else:
        new_data = [str(data).strip()]
    return new_data


def donut_flatten(data: Any) -> list[tuple[str, Any]]:
    """Donut's ``flatten``: ``[(key.path, value)]`` with list items under their list's key."""
    out: list[tuple[str, Any]] = []

    def visit(value: Any, key: str = "") -> None:
        if type(value) is dict:
            for child_key, child_value in value.items():
                visit(child_value, f"{key}.{child_key}" if key else child_key)
        elif type(value) is list:
            for item in value:
                visit(item, key)
        else:
            out.append((key, value))

    visit(data)
    return out


def f1_counts(pred: Any, answer: Any) -> tuple[int, int, int]:
    """``(tp, fp, fn)`` of Donut's ``cal_f1`` for one answer (pairs matched as a multiset)."""
    pred_pairs, answer_pairs = donut_flatten(donut_normalize(pred)), donut_flatten(donut_normalize(answer))
    tp = fp = 0
    for pair in pred_pairs:
        if pair in answer_pairs:
            tp += 1
            answer_pairs.remove(pair)
        else:
            fp += 1
    return tp, fp, len(answer_pairs)


def f1_score(tp: int, fp: int, fn: int) -> float:
    """Donut's micro F1, ``tp / (tp + (fp + fn) / 2)``; 1.0 when there is no pair at all."""
    return tp / (tp + (fp + fn) / 2) if tp + fp + fn else 1.0


Tree = tuple[str, list["Tree"]]  # (label, children): a node of Donut's JSON tree


def donut_tree(data: Any, name: str = "<root>") -> Tree:
    """Donut's ``construct_tree_from_dict`` of a normalized value, as ``(label, children)``."""
    children: list[Tree] = []
    if isinstance(data, dict):
        children = [donut_tree(value, key) for key, value in data.items()]
    elif isinstance(data, list):
        if all(isinstance(item, dict) for item in data):
            children = [donut_tree(item, "<subtree>") for item in data]
        else:
            children = [(f"<leaf>{item}", []) for item in data]
    else:
        raise TypeError(f"cannot build a tree node {name!r} from {type(data).__name__}")
    return name, children


def _update_cost(a: str, b: str) -> int:
    a_leaf, b_leaf = "<leaf>" in a, "<leaf>" in b
    if a_leaf and b_leaf:
        return Levenshtein.distance(a.replace("<leaf>", ""), b.replace("<leaf>", ""))
    if a_leaf or b_leaf:
        return 1 + len((a if a_leaf else b).replace("<leaf>", ""))
    return int(a != b)


def _insert_remove_cost(label: str) -> int:
    return len(label.replace("<leaf>", "")) if "<leaf>" in label else 1


def _postorder(root: Tree) -> tuple[list[str], list[int], list[int]]:
    """Labels in postorder, each node's leftmost leaf descendant, and the keyroots."""
    labels: list[str] = []
    lmds: list[int] = []

    def visit(node: Tree) -> int:
        first = -1
        for child in node[1]:
            leftmost = visit(child)
            if first < 0:
                first = leftmost
        labels.append(node[0])
        lmds.append(first if first >= 0 else len(labels) - 1)
        return lmds[-1]

    visit(root)
    keyroots = sorted({lmd: i for i, lmd in enumerate(lmds)}.values())
    return labels, lmds, keyroots


def tree_edit_distance(a: Tree, b: Tree) -> int:
    """Zhang-Shasha ordered tree edit distance with Donut's costs: the number ``zss.distance``
    returns (same algorithm; ``zss`` also builds every edit script, ~30 s on a 40-item invoice)."""
    a_labels, a_lmds, a_keyroots = _postorder(a)
    b_labels, b_lmds, b_keyroots = _postorder(b)
    remove = [_insert_remove_cost(x) for x in a_labels]
    insert = [_insert_remove_cost(y) for y in b_labels]
    update = [[_update_cost(x, y) for y in b_labels] for x in a_labels]
    trees = [[0] * len(b_labels) for _ in a_labels]
    for i in a_keyroots:
        li = a_lmds[i]
        for j in b_keyroots:
            lj = b_lmds[j]
            m, n, ioff, joff = i - li + 2, j - lj + 2, li - 1, lj - 1
            forest = [[0] * n for _ in range(m)]
            for y in range(1, n):
                forest[0][y] = forest[0][y - 1] + insert[y + joff]
            for x in range(1, m):
                ax = x + ioff
                row, prev, cost_remove, costs_update, lx = forest[x], forest[x - 1], remove[ax], update[ax], a_lmds[ax]
                row[0] = prev[0] + cost_remove
                for y in range(1, n):
                    by = y + joff
                    if lx == li and b_lmds[by] == lj:
                        row[y] = trees[ax][by] = min(prev[y] + cost_remove, row[y - 1] + insert[by],
                                                     prev[y - 1] + costs_update[by])
                    else:
                        row[y] = min(prev[y] + cost_remove, row[y - 1] + insert[by],
                                     forest[lx - 1 - ioff][b_lmds[by] - 1 - joff] + trees[ax][by])
    return trees[-1][-1]


def tree_accuracy(pred: Any, answer: Any) -> float:
    """Donut's ``cal_acc``: ``max(0, 1 - TED(pred, answer) / TED(empty, answer))``."""
    pred_norm, answer_norm = donut_normalize(pred), donut_normalize(answer)
    answer_tree = donut_tree(answer_norm)
    labels = _postorder(answer_tree)[0]
    size = sum(_insert_remove_cost(x) for x in labels[:-1])  # all but the root: TED(empty, answer)
    distance = 0 if pred_norm == answer_norm else tree_edit_distance(donut_tree(pred_norm), answer_tree)
    if size == 0:
        return 1.0 if distance == 0 else 0.0
    return max(0.0, 1.0 - distance / size)
