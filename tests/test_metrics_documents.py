"""Document-model metrics: parity with seqeval (strict IOB2) and sklearn, plots written atomically."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import torch
from seqeval.metrics import classification_report as seqeval_report
from seqeval.metrics import f1_score as seqeval_f1
from seqeval.scheme import IOB2, Tokens
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from ocrlab.families.layoutlmv3.metrics import (
    ClassificationMetrics,
    EntityF1,
    bio_spans,
    group_fields,
    plot_confusion_matrix,
    token_accuracy,
)

LABELS = ["O", "B-A", "I-A", "B-B", "I-B", "B-C", "I-C"]
ID = {x: i for i, x in enumerate(LABELS)}


def seqeval_spans(tags):
    return [(e.tag, e.start, e.end) for e in Tokens(list(tags), IOB2).entities]


def seqeval_scores(gold, pred):
    """Micro P/R/F1 and per-field rows from seqeval, strict IOB2, default zero_division."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning on the zero-division cases
        rep = seqeval_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True)
        f1 = seqeval_f1(gold, pred, mode="strict", scheme=IOB2)
    micro = rep.pop("micro avg")
    assert abs(micro["f1-score"] - f1) < 1e-12
    rows = {k: v for k, v in rep.items() if not k.endswith(" avg")}
    return micro, rows


def assert_matches_seqeval(metric: EntityF1, gold, pred):
    micro, rows = seqeval_scores(gold, pred)
    got = metric.compute()
    for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
        assert abs(float(got[ours]) - float(micro[theirs])) < 1e-9, (ours, got, micro)
    per = metric.per_field()
    assert set(per) == set(rows)
    for field, row in rows.items():
        for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert abs(per[field][ours] - float(row[theirs])) < 1e-9, (field, ours)
        assert per[field]["support"] == int(row["support"])


def random_tags(rng: random.Random, n: int) -> list[str]:
    # biased towards runs so that spans of several words, and near misses, are common
    return [rng.choice(LABELS) if rng.random() < 0.6 else "I-" + rng.choice("ABC") for _ in range(n)]


# -- bio_spans / group_fields ----------------------------------------------------------------------
@pytest.mark.parametrize("tags, expected", [
    (["B-A", "I-A", "O", "B-B"], [("A", 0, 2), ("B", 3, 4)]),
    (["O", "I-A", "I-A"], []),                                # I- after O opens nothing
    (["B-A", "B-A"], [("A", 0, 1), ("A", 1, 2)]),             # adjacent same type: two
    (["B-A", "I-B", "I-B"], [("A", 0, 1)]),                   # I- of another type ends A, opens nothing
    (["B-A", "I-A", "I-A"], [("A", 0, 3)]),                   # runs to the end
    (["O", "O"], []),
    ([], []),
])
def test_bio_spans_hand_cases(tags, expected):
    assert bio_spans(tags) == expected
    assert seqeval_spans(tags) == expected


def test_bio_spans_equals_seqeval_on_random_sequences():
    rng = random.Random(0)
    for _ in range(500):
        tags = random_tags(rng, rng.randint(0, 25))
        assert bio_spans(tags) == seqeval_spans(tags), tags


def test_bio_spans_rejects_non_bio_tags():
    with pytest.raises(ValueError, match="E-A"):
        bio_spans(["O", "E-A"])


def test_group_fields_joins_words_in_document_order():
    words = ["Acme", "Ltd", "PO", "123", "Beta", "Inc", "stray"]
    tags = ["B-VENDOR", "I-VENDOR", "O", "B-PO_NUMBER", "B-VENDOR", "I-VENDOR", "I-TOTAL"]
    assert group_fields(words, tags) == {"VENDOR": ["Acme Ltd", "Beta Inc"], "PO_NUMBER": ["123"]}
    assert list(group_fields(words, tags)) == ["VENDOR", "PO_NUMBER"]
    assert group_fields(["a", "b"], ["O", "O"]) == {}
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        group_fields(["a", "b"], ["O"])


# -- EntityF1 --------------------------------------------------------------------------------------
def ids(tags):
    return [ID[t] for t in tags]


HAND_CASES = {
    # name: (gold docs, predicted docs, expected (precision, recall, f1))
    "i_after_o": ([["B-A", "I-A", "O"]], [["O", "I-A", "O"]], (0.0, 0.0, 0.0)),
    "adjacent_same_type": ([["B-A", "B-A", "O"]], [["B-A", "I-A", "O"]], (0.0, 0.0, 0.0)),
    "adjacent_same_type_found": ([["B-A", "B-A"]], [["B-A", "B-A"]], (1.0, 1.0, 1.0)),
    "wrong_type": ([["B-A", "I-A", "O", "B-B"]], [["B-B", "I-B", "O", "B-B"]], (0.5, 0.5, 0.5)),
    "wrong_extent": ([["B-A", "I-A", "I-A", "B-C"]], [["B-A", "I-A", "O", "B-C"]], (0.5, 0.5, 0.5)),
    "all_o": ([["O", "O"], ["O"]], [["O", "O"], ["O"]], (0.0, 0.0, 0.0)),  # seqeval: 0, not 1
    "empty_prediction": ([["B-A", "I-A", "O", "B-B"]], [["O", "O", "O", "O"]], (0.0, 0.0, 0.0)),
    "empty_document": ([[], ["B-C"]], [[], ["B-C"]], (1.0, 1.0, 1.0)),
    # gold A, B(x2), C; predicted A right, one B right, C wrong extent, an extra A
    "mixed": ([["B-A", "O", "B-B", "I-B", "O", "B-B", "B-C", "I-C"]],
              [["B-A", "B-A", "B-B", "I-B", "O", "O", "B-C", "O"]], (2 / 4, 2 / 4, 0.5)),
    "precision_only": ([["B-A", "O", "B-B", "O"]], [["B-A", "O", "O", "O"]], (1.0, 0.5, 2 / 3)),
}


@pytest.mark.parametrize("name", list(HAND_CASES))
def test_entity_f1_hand_cases(name):
    gold, pred, (p, r, f) = HAND_CASES[name]
    metric = EntityF1(LABELS)
    metric.update([ids(x) for x in pred], [ids(x) for x in gold])
    out = metric.compute()
    assert [float(out[k]) for k in ("precision", "recall", "f1")] == pytest.approx([p, r, f], abs=1e-12)
    assert_matches_seqeval(metric, gold, pred)


def test_entity_f1_per_field_hand_values():
    gold, pred, _ = HAND_CASES["wrong_type"]
    metric = EntityF1(LABELS)
    metric.update([ids(x) for x in pred], [ids(x) for x in gold])
    assert metric.per_field() == {
        "A": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "B": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1},
    }
    metric = EntityF1(LABELS)
    metric.update([ids(x) for x in HAND_CASES["all_o"][1]], [ids(x) for x in HAND_CASES["all_o"][0]])
    assert metric.per_field() == {}  # C never seen: no row, as in seqeval


def test_entity_f1_matches_seqeval_on_random_batches_with_ignored_positions():
    rng = random.Random(1)
    for trial in range(20):
        metric = EntityF1(LABELS)
        gold_words, pred_words = [], []
        for _ in range(rng.randint(1, 4)):  # several updates accumulate
            preds, target = [], []
            for _ in range(rng.randint(1, 5)):
                n = rng.randint(0, 30)
                gold, pred = random_tags(rng, n), random_tags(rng, n)
                if rng.random() < 0.5:  # a near copy of the gold: many true positives
                    pred = [g if rng.random() < 0.8 else p for g, p in zip(gold, pred)]
                t, p = ids(gold), ids(pred)
                # sub-word continuations: extra positions with target -100 and any prediction
                for k in sorted(rng.sample(range(n + 1), k=min(3, n + 1)), reverse=True):
                    t.insert(k, -100)
                    p.insert(k, rng.randrange(len(LABELS)))
                gold_words.append(gold)
                pred_words.append(pred)
                as_tensor = trial % 2 == 0
                preds.append(torch.tensor(p) if as_tensor else p)
                target.append(torch.tensor(t) if as_tensor else t)
            metric.update(preds, target)
        assert_matches_seqeval(metric, gold_words, pred_words)


def test_entity_f1_accepts_a_padded_batch_tensor():
    target = torch.tensor([[ID["B-A"], ID["I-A"], -100], [ID["B-B"], -100, -100]])
    preds = torch.tensor([[ID["B-A"], ID["I-A"], ID["B-C"]], [ID["B-C"], ID["B-B"], 0]])
    metric = EntityF1(LABELS)
    metric.update(preds, target)
    out = metric.compute()
    assert (float(out["precision"]), float(out["recall"])) == (0.5, 0.5)


def test_entity_f1_states_sum_across_processes():
    """merge_state applies the dist_reduce_fx, as a DDP sync does: halves merged == whole."""
    rng = random.Random(2)
    docs = [(random_tags(rng, 12), random_tags(rng, 12)) for _ in range(10)]
    whole, first, second = EntityF1(LABELS), EntityF1(LABELS), EntityF1(LABELS)
    whole.update([ids(p) for _, p in docs], [ids(g) for g, _ in docs])
    first.update([ids(p) for _, p in docs[:4]], [ids(g) for g, _ in docs[:4]])
    second.update([ids(p) for _, p in docs[4:]], [ids(g) for g, _ in docs[4:]])
    first.merge_state(second)
    for name in ("tp", "n_pred", "n_gold"):
        assert torch.equal(getattr(first, name), getattr(whole, name))
        assert getattr(whole, name).shape == (3,)
    assert first.per_field() == whole.per_field()
    assert_matches_seqeval(first, [g for g, _ in docs], [p for _, p in docs])
    whole.reset()
    assert int(whole.n_gold.sum()) == 0


def _ddp_worker(rank: int, port: int, queue) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        metric = EntityF1(LABELS)
        docs = [(["B-A", "I-A", "O"], ["B-A", "I-A", "O"]), (["B-B", "O"], ["B-A", "O"])]  # (pred, gold)
        pred, gold = docs[rank]
        metric.update([ids(pred)], [ids(gold)])
        heads = ClassificationMetrics(2, ["x", "y"])
        heads.update(torch.tensor([rank]), torch.tensor([0]))
        queue.put((rank, float(metric.compute()["f1"]), metric.per_field(), int(metric.n_gold.sum()),
                   heads.report()["confusion_matrix"]))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_entity_f1_and_classification_metrics_sync_under_ddp():
    """Two gloo processes: compute(), per_field() and report() see both ranks' documents."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_ddp_worker, args=(rank, port, queue)) for rank in range(2)]
    for proc in procs:
        proc.start()
    results = sorted(queue.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(timeout=30)
    for rank, f1, per_field, local_gold, matrix in results:
        assert f1 == pytest.approx(0.5)  # gold A, A; predicted A (right), B (wrong)
        assert per_field == {"A": {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2},
                             "B": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}}
        assert local_gold == 1  # states unsynced again after compute, so accumulation goes on
        assert matrix == [[1, 1], [0, 0]]


def test_entity_f1_rejects_bad_input():
    with pytest.raises(ValueError, match="start with 'O'"):
        EntityF1(["B-A", "O"])
    with pytest.raises(ValueError, match="B-<FIELD>"):
        EntityF1(["O", "A"])
    metric = EntityF1(LABELS)
    with pytest.raises(ValueError, match="label ids must be in"):
        metric.update([[0, 7]], [[0, 0]])
    with pytest.raises(ValueError, match="2 predicted labels for 3 targets"):
        metric.update([[0, 0]], [[0, 0, 0]])
    with pytest.raises(ValueError, match="1 predicted documents for 2 targets"):
        metric.update([[0]], [[0], [0]])


def test_token_accuracy_ignores_minus_100():
    acc = token_accuracy(len(LABELS))
    acc.update(torch.tensor([0, 1, 3, 2, 5]), torch.tensor([0, -100, 2, 2, -100]))
    assert float(acc.compute()) == pytest.approx(2 / 3)


# -- ClassificationMetrics -------------------------------------------------------------------------
NAMES = ["invoice", "po", "receipt", "quote", "contract", "letter"]


def test_classification_metrics_match_sklearn_on_random_data():
    gen = torch.Generator().manual_seed(0)
    metrics = ClassificationMetrics(len(NAMES), NAMES)
    all_p, all_t = [], []
    for _ in range(5):
        target = torch.randint(0, 4, (40,), generator=gen)  # classes 4, 5 never true
        preds = torch.where(torch.rand(40, generator=gen) < 0.6, target, torch.randint(0, 5, (40,), generator=gen))
        target[torch.rand(40, generator=gen) < 0.15] = -100
        metrics.update(preds, target)
        keep = target != -100
        all_p.append(preds[keep])
        all_t.append(target[keep])
    p, t = torch.cat(all_p).numpy(), torch.cat(all_t).numpy()
    labels = list(range(len(NAMES)))
    out = metrics.compute()
    assert set(out) == {"acc", "precision", "recall", "f1"}
    assert float(out["acc"]) == pytest.approx(accuracy_score(t, p), abs=1e-6)
    wp, wr, wf, _ = precision_recall_fscore_support(t, p, labels=labels, average="weighted", zero_division=0)
    assert [float(out[k]) for k in ("precision", "recall", "f1")] == pytest.approx([wp, wr, wf], abs=1e-6)

    rep = metrics.report()
    cp, cr, cf, cs = precision_recall_fscore_support(t, p, labels=labels, average=None, zero_division=0)
    for i, name in enumerate(NAMES):
        assert [rep[name][k] for k in ("precision", "recall", "f1")] == pytest.approx([cp[i], cr[i], cf[i]], abs=1e-6)
        assert rep[name]["support"] == cs[i]
    assert rep["confusion_matrix"] == confusion_matrix(t, p, labels=labels).tolist()
    # "contract" is predicted but never true: precision 0/n, recall 0/0 -> 0, not NaN
    assert sum(row[4] for row in rep["confusion_matrix"]) > 0
    assert rep["contract"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert rep["letter"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}  # never seen: no NaN


def test_classification_metrics_hand_computed_case():
    metrics = ClassificationMetrics(4, ["a", "b", "c", "d"])
    # scores (N, C) are accepted too; the -100 row is dropped whatever it predicts
    metrics.update(torch.tensor([0, 1]), torch.tensor([0, 0]))
    metrics.update(torch.nn.functional.one_hot(torch.tensor([1, 0, 2]), 4).float(), torch.tensor([1, 2, -100]))
    # true a a b c, predicted a b b a
    out = metrics.compute()
    assert float(out["acc"]) == pytest.approx(2 / 4)
    # per class P: a 1/2, b 1/2, c 0; R: a 1/2, b 1, c 0; supports 2, 1, 1
    assert float(out["precision"]) == pytest.approx((2 * 0.5 + 0.5) / 4)
    assert float(out["recall"]) == pytest.approx((2 * 0.5 + 1.0) / 4)
    assert float(out["f1"]) == pytest.approx((2 * 0.5 + 2 / 3) / 4)
    rep = metrics.report()
    assert rep["b"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert rep["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert rep["confusion_matrix"] == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    text = metrics.report_text()
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["a", "0.500", "0.500", "0.500", "2"]
    assert lines[3].split() == ["b", "0.500", "1.000", "0.667", "1"]
    assert lines[5].split() == ["d", "0.000", "0.000", "0.000", "0"]
    assert lines[7].split() == ["accuracy", "0.500", "4"]
    assert lines[8].split() == ["weighted", "avg", "0.375", "0.500", "0.417", "4"]
    metrics.reset()
    assert metrics.report()["confusion_matrix"] == [[0] * 4 for _ in range(4)]


def test_classification_metrics_without_labelled_samples_are_zero_without_warnings():
    metrics = ClassificationMetrics(2, ["x", "y"])
    metrics.update(torch.tensor([0, 1]), torch.tensor([-100, -100]))  # e.g. no PO in the batch
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = metrics.compute()
    assert all(float(v) == 0.0 for v in out.values())
    assert metrics.report()["x"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_classification_metrics_reject_bad_names():
    with pytest.raises(ValueError, match="2 class names for 3"):
        ClassificationMetrics(3, ["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        ClassificationMetrics(2, ["a", "a"])


# -- plot ------------------------------------------------------------------------------------------
def test_plot_confusion_matrix_writes_a_png_that_grows_with_classes(tmp_path):
    from PIL import Image

    small = plot_confusion_matrix(torch.tensor([[5, 1], [0, 0]]), ["a", "b"], "doc type", tmp_path / "s.png")
    names = [f"CLASS_NAME_{i}" for i in range(40)]
    big_matrix = np.random.default_rng(0).integers(0, 9, (40, 40))
    big = plot_confusion_matrix(big_matrix, names, "subtype", tmp_path / "plots" / "b.png")
    assert small == tmp_path / "s.png" and big.parent.name == "plots"
    with Image.open(small) as a, Image.open(big) as b:
        assert a.format == b.format == "PNG"
        assert a.size[0] > 100 and b.size[0] > 2 * a.size[0] and b.size[1] > 2 * a.size[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots", "s.png"]  # no temp file left
    with pytest.raises(ValueError, match="shape"):
        plot_confusion_matrix([[1, 2]], ["a", "b"], "bad", tmp_path / "bad.png")


def test_plot_confusion_matrix_leaves_no_partial_file_on_failure(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    target = tmp_path / "cm.png"
    target.write_bytes(b"old")

    def broken_savefig(self, fname, **kwargs):
        fname.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot_confusion_matrix([[1, 0], [0, 1]], ["a", "b"], "t", target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]
    with pytest.raises(OSError):
        plot_confusion_matrix([[1, 0], [0, 1]], ["a", "b"], "t", tmp_path / "new.png")
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]
