"""Metrics of a multitask document model: field entities (BIO tags), document type, PO subtype.

* Fields: :class:`EntityF1`, entity-level precision / recall / F1 exactly as
  ``seqeval`` computes them with ``mode="strict", scheme=IOB2`` (the tests check parity), kept
  as per-field counts so DDP can sum them. Spans come from :func:`bio_spans`, a reimplementation
  of seqeval's strict IOB2 decoding: seqeval is not a runtime dependency, and decoding label
  ids directly avoids building one seqeval token object per word.
* Token accuracy is plain torchmetrics: :func:`token_accuracy`.
* Classification heads: :class:`ClassificationMetrics` (torchmetrics accuracy, weighted
  P/R/F1, per-class P/R/F1, confusion matrix) and :func:`plot_confusion_matrix`.

Positions whose target is ``-100`` (sub-word continuations, padding; documents without a
subtype) are left out everywhere, as the losses leave them out.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from ocrlab import plots
from ocrlab.reports import ConfusionMatrix, Figure, Report, Table

IGNORE_INDEX = -100
OUTSIDE = "O"

Span = tuple[str, int, int]


# -- BIO decoding ---------------------------------------------------------------------------------
def bio_spans(tags: Sequence[str]) -> list[Span]:
    """Entities ``(field, start, end_exclusive)`` of a BIO sequence, seqeval strict IOB2.

    Only ``B-X`` opens an entity; it extends over the ``I-X`` that follow. So an ``I-`` after
    ``O`` or after another field opens nothing (seqeval's default, non-strict mode would
    count it), and ``B-X B-X`` are two entities.
    """
    spans: list[Span] = []
    n, i = len(tags), 0
    while i < n:
        tag = tags[i]
        if tag.startswith("B-"):
            field, inside, j = tag[2:], "I-" + tag[2:], i + 1
            while j < n and tags[j] == inside:
                j += 1
            spans.append((field, i, j))
            i = j
            continue
        if tag != OUTSIDE and not tag.startswith("I-"):
            raise ValueError(f"not a BIO tag: {tag!r} at position {i}")
        i += 1
    return spans


def group_fields(words: Sequence[str], tags: Sequence[str]) -> dict[str, list[str]]:
    """``{field: [value, ...]}``: each entity's words joined by a space, in document order."""
    if len(words) != len(tags):
        raise ValueError(f"{len(words)} words but {len(tags)} tags")
    out: dict[str, list[str]] = {}
    for field, start, end in bio_spans(tags):
        out.setdefault(field, []).append(" ".join(words[start:end]))
    return out


def token_accuracy(num_labels: int) -> MulticlassAccuracy:
    """Word/token-label accuracy: torchmetrics does it (``ignore_index`` drops -100 targets)."""
    return MulticlassAccuracy(num_classes=num_labels, average="micro", ignore_index=IGNORE_INDEX)


def _prf(tp: Tensor, n_pred: Tensor, n_gold: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """P/R/F1 as seqeval divides: 0 where undefined (its ``zero_division`` default), F1 from the
    rounded P and R. Note that no gold and no predicted entity gives 0, not 1."""
    dtype = torch.float32 if tp.device.type == "mps" else torch.float64  # MPS has no float64
    tp, n_pred, n_gold = tp.to(dtype), n_pred.to(dtype), n_gold.to(dtype)
    p = torch.where(n_pred > 0, tp / n_pred.clamp(min=1), 0.0)
    r = torch.where(n_gold > 0, tp / n_gold.clamp(min=1), 0.0)
    denom = p + r
    f = torch.where(denom > 0, 2 * p * r / torch.where(denom > 0, denom, 1.0), 0.0)
    return p, r, f


def _as_list(x: Tensor | Sequence[int]) -> list[int]:
    return x.tolist() if isinstance(x, Tensor) else [int(v) for v in x]


class EntityF1(Metric):
    """Entity-level P/R/F1 of BIO field labels (seqeval strict IOB2), micro over all fields.

    ``labels`` are the token labels by id: ``"O"`` at 0, then ``B-<FIELD>`` / ``I-<FIELD>``.
    ``update`` takes, per document, one sequence of label ids per word (a list or 1-D tensor;
    a 2-D tensor is a batch of them); positions where the target is -100 are dropped from both
    before decoding, so predictions are scored on the words the targets label.
    ``compute()`` gives ``{"precision", "recall", "f1"}``; :meth:`per_field` the same per field.
    The states are per-field counts summed across processes. For token accuracy see
    :func:`token_accuracy` (torchmetrics).
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, labels: Sequence[str], **kwargs: Any):
        super().__init__(**kwargs)
        self.labels = tuple(str(x) for x in labels)
        if not self.labels or self.labels[0] != OUTSIDE:
            raise ValueError(f"labels must start with {OUTSIDE!r} (id 0), got {self.labels[:1]}")
        bad = [x for x in self.labels[1:] if x[:2] not in ("B-", "I-") or len(x) < 3]
        if bad:
            raise ValueError(f"labels after 'O' must be B-<FIELD> or I-<FIELD>, got {bad[:5]}")
        self.fields = tuple(x[2:] for x in self.labels if x.startswith("B-"))
        self._field_index = {f: i for i, f in enumerate(self.fields)}
        n = len(self.fields)
        for name in ("tp", "n_pred", "n_gold"):
            self.add_state(name, default=torch.zeros(n, dtype=torch.long), dist_reduce_fx="sum")

    def _tags(self, ids: list[int], where: str) -> list[str]:
        try:
            if min(ids, default=0) < 0:
                raise IndexError
            return [self.labels[i] for i in ids]
        except IndexError:
            raise ValueError(f"{where}: label ids must be in [0, {len(self.labels)}), got "
                             f"{sorted({i for i in ids if not 0 <= i < len(self.labels)})[:5]}") from None

    def update(self, preds: Sequence[Sequence[int]] | Sequence[Tensor] | Tensor,
               target: Sequence[Sequence[int]] | Sequence[Tensor] | Tensor) -> None:
        if len(preds) != len(target):
            raise ValueError(f"{len(preds)} predicted documents for {len(target)} targets")
        n = len(self.fields)
        tp, n_pred, n_gold = [0] * n, [0] * n, [0] * n
        for doc, (p, t) in enumerate(zip(preds, target, strict=True)):
            p, t = _as_list(p), _as_list(t)
            if len(p) != len(t):
                raise ValueError(f"document {doc}: {len(p)} predicted labels for {len(t)} targets")
            keep = [k for k, y in enumerate(t) if y != IGNORE_INDEX]
            gold = set(bio_spans(self._tags([t[k] for k in keep], f"target of document {doc}")))
            pred = set(bio_spans(self._tags([p[k] for k in keep], f"prediction of document {doc}")))
            for spans, counts in ((gold, n_gold), (pred, n_pred), (gold & pred, tp)):
                for field, _, _ in spans:
                    counts[self._field_index[field]] += 1
        for name, counts in (("tp", tp), ("n_pred", n_pred), ("n_gold", n_gold)):
            state = getattr(self, name)
            state += torch.tensor(counts, dtype=state.dtype, device=state.device)

    def compute(self) -> dict[str, Tensor]:
        p, r, f = _prf(self.tp.sum(), self.n_pred.sum(), self.n_gold.sum())
        return {"precision": p, "recall": r, "f1": f}

    def per_field(self) -> dict[str, dict[str, float | int]]:
        """``{field: {precision, recall, f1, support}}`` for the fields with gold or predicted
        entities (seqeval's report rows), in label order; synced across processes like
        ``compute()``."""
        should_sync = self.sync_on_compute and not self._is_synced  # already synced inside compute()
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=should_sync):
            p, r, f = _prf(self.tp, self.n_pred, self.n_gold)
            seen = ((self.n_gold + self.n_pred) > 0).tolist()
            gold = self.n_gold.tolist()
        return {field: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": gold[i]}
                for i, field in enumerate(self.fields) if seen[i]}


# -- classification heads ------------------------------------------------------------------------
class ClassificationMetrics(torch.nn.Module):
    """Metrics of one classification head (document type, PO subtype), all torchmetrics.

    ``compute()``: ``acc`` (micro), weighted ``precision`` / ``recall`` / ``f1`` (weighted by
    support, as sklearn's ``average="weighted"``); :meth:`report`: per class and the confusion
    matrix (rows true, columns predicted). Classes never seen score 0.0, not NaN.
    A module so it follows the LightningModule to its device; states sync like any metric.
    """

    def __init__(self, num_classes: int, class_names: Sequence[str]):
        super().__init__()
        self.class_names = tuple(str(x) for x in class_names)
        if len(self.class_names) != num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {num_classes} classes")
        if len(set(self.class_names)) != num_classes or "confusion_matrix" in self.class_names:
            raise ValueError(f"class names must be unique and not 'confusion_matrix': {self.class_names}")
        self.num_classes = num_classes
        kw: dict[str, Any] = {"num_classes": num_classes}
        self.metrics = MetricCollection({
            "acc": MulticlassAccuracy(average="micro", **kw),
            "precision": MulticlassPrecision(average="weighted", **kw),
            "recall": MulticlassRecall(average="weighted", **kw),
            "f1": MulticlassF1Score(average="weighted", **kw),
            "class_precision": MulticlassPrecision(average=None, **kw),
            "class_recall": MulticlassRecall(average=None, **kw),
            "class_f1": MulticlassF1Score(average=None, **kw),
            "confusion_matrix": MulticlassConfusionMatrix(**kw),
        })

    def update(self, preds: Tensor, target: Tensor) -> None:
        """``preds``: class ids (N,) or scores (N, C); ``target``: ids (N,), -100 = no label."""
        keep = target != IGNORE_INDEX
        if keep.any():  # torchmetrics fails on empty input; a batch may hold no labelled sample
            self.metrics.update(preds[keep], target[keep])

    def reset(self) -> None:
        self.metrics.reset()

    def _compute_all(self) -> dict[str, Tensor]:
        # every process must call compute (it syncs), so an epoch with no labelled sample
        # (e.g. no purchase order in a validation shard) computes zeros instead of warning
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*was called before the ``update`` method.*")
            return self.metrics.compute()

    def compute(self) -> dict[str, Tensor]:
        out = self._compute_all()
        return {k: out[k] for k in ("acc", "precision", "recall", "f1")}

    def report(self) -> dict[str, Any]:
        """``{class_name: {precision, recall, f1, support}, ..., "confusion_matrix": [[...]]}``."""
        out = self._compute_all()
        matrix = out["confusion_matrix"]
        support = matrix.sum(dim=1).tolist()
        rep: dict[str, Any] = {
            name: {"precision": float(out["class_precision"][i]), "recall": float(out["class_recall"][i]),
                   "f1": float(out["class_f1"][i]), "support": int(support[i])}
            for i, name in enumerate(self.class_names)
        }
        rep["confusion_matrix"] = matrix.tolist()
        return rep

    def report_text(self, digits: int = 3) -> str:
        """Per-class table in the layout of sklearn's ``classification_report``, plus accuracy
        and the weighted averages."""
        rep, summary = self.report(), self.compute()
        width = max([len(n) for n in self.class_names] + [len("weighted avg")])
        total = sum(rep[n]["support"] for n in self.class_names)
        num = f"{{:>10.{digits}f}}"
        lines = [f"{'':>{width}}" + "".join(f"{h:>10}" for h in ("precision", "recall", "f1-score", "support")),
                 ""]
        for name in self.class_names:
            r = rep[name]
            lines.append(f"{name:>{width}}" + "".join(num.format(r[k]) for k in ("precision", "recall", "f1"))
                         + f"{r['support']:>10}")
        lines += ["", f"{'accuracy':>{width}}" + " " * 20 + num.format(float(summary["acc"])) + f"{total:>10}",
                  f"{'weighted avg':>{width}}"
                  + "".join(num.format(float(summary[k])) for k in ("precision", "recall", "f1")) + f"{total:>10}"]
        return "\n".join(lines) + "\n"


# -- plotting -------------------------------------------------------------------------------------
def plot_confusion_matrix(matrix: Tensor | Sequence[Sequence[float]] | Any, class_names: Sequence[str],
                          title: str, path: str | Path) -> Path:
    """Write the confusion matrix (rows true, columns predicted) as a PNG, atomically.

    Colours are row-normalized (recall per true class), so rare classes stay visible;
    counts are written in the cells while the matrix is small enough to read them (<= 20).
    The figure grows with the number of classes to stay readable up to ~40.
    """
    import numpy as np

    # a bare Figure (not pyplot) renders through Agg without touching the global backend or
    # pyplot's figure registry: safe in headless workers and in a user's notebook alike
    from matplotlib.figure import Figure

    from ocrlab.utils.io import atomic_write

    if isinstance(matrix, Tensor):
        matrix = matrix.detach().cpu().numpy()
    counts = np.asarray(matrix, dtype=np.float64)
    n = len(class_names)
    if counts.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {counts.shape} for {n} class names")
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)

    side = min(4.0 + 0.3 * n, 18.0)
    label_size = 10 if n <= 15 else 8 if n <= 25 else 6
    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="fraction of the true class")
    ax.set_xticks(range(n), labels=list(class_names), rotation=45 if n <= 10 else 90,
                  ha="right", rotation_mode="anchor", fontsize=label_size)
    ax.set_yticks(range(n), labels=list(class_names), fontsize=label_size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 20:
        cell_size = 9 if n <= 10 else 7
        integral = bool(np.all(counts == np.round(counts)))
        for i in range(n):
            for j in range(n):
                text = f"{counts[i, j]:.0f}" if integral else f"{counts[i, j]:.2g}"
                ax.text(j, i, text, ha="center", va="center", fontsize=cell_size,
                        color="white" if norm[i, j] > 0.5 else "black")
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))


# -- the family's metric set: one per stage, its logged values, its test report -----------------
def document_metrics(labels) -> torch.nn.ModuleDict:
    """Document type and subtype heads, entities (strict IOB2) and word accuracy over ``labels``
    (a :class:`~ocrlab.families.layoutlmv3.labels.DocumentLabelMap`)."""
    return torch.nn.ModuleDict({
        "doc_type": ClassificationMetrics(len(labels.doc_types), labels.doc_types),
        "po_subtype": ClassificationMetrics(max(1, len(labels.po_subtypes)), labels.po_subtypes or ("-",)),
        "entity": EntityF1(labels.labels),
        "words": token_accuracy(len(labels)),  # per word (its merged prediction)
    })


def epoch_metrics(metrics: torch.nn.ModuleDict, prefix: str) -> dict[str, Tensor]:
    """The logged values of a stage (``val/``: accuracies and entity P/R/F1; ``test/`` adds the
    heads' weighted P/R/F1)."""
    out = {}
    for task in ("doc_type", "po_subtype"):
        scores = metrics[task].compute()
        out[f"{prefix}{task}_acc"] = scores["acc"]
        if prefix == "test/":
            out.update({f"{prefix}{task}_{k}": scores[k] for k in ("precision", "recall", "f1")})
    entity = metrics["entity"].compute()
    out.update({f"{prefix}entity_{k}": entity[k] for k in ("precision", "recall", "f1")})
    out[f"{prefix}token_acc"] = metrics["words"].compute()
    return out


def classification_report(metrics: torch.nn.ModuleDict, labels) -> tuple[dict[str, Any], str]:
    """Per-class reports of the heads and per-field entity scores (JSON, text)."""
    report: dict[str, Any] = {}
    text = []
    for task, names in (("doc_type", labels.doc_types), ("po_subtype", labels.po_subtypes)):
        if names:
            report[task] = metrics[task].report()
            text += [f"== {task} ==", metrics[task].report_text(), ""]
    fields = metrics["entity"].per_field()
    report["fields"] = fields
    text += ["== fields (entity level, strict IOB2) ==",
             *(f"{k:28s} P {v['precision']:.4f}  R {v['recall']:.4f}  F1 {v['f1']:.4f}  n {v['support']}"
               for k, v in fields.items())]
    return report, "\n".join(text) + "\n"


def document_test_report(metrics: torch.nn.ModuleDict, labels, pages: Sequence[dict] = ()) -> Report:
    """``classification_report.json|txt``, the confusion matrices, the per-field table, and
    ``pages`` (test rows with ``image``, word ``boxes``, ``truth`` and ``predicted`` labels) drawn
    with their predicted fields, shown in the ``test/pages`` table."""
    from functools import partial

    from ocrlab.families.layoutlmv3.pages import draw_page

    report, text = classification_report(metrics, labels)
    figures = {f"{task}_confusion.png": Figure(f"test/{task}_confusion", partial(
        plot_confusion_matrix, report[task]["confusion_matrix"], list(names), f"{task} (test)"))
        for task, names in (("doc_type", labels.doc_types), ("po_subtype", labels.po_subtypes))
        if task in report}
    fields = Table(["field", "precision", "recall", "f1", "support"],
                   [[k, v["precision"], v["recall"], v["f1"], v["support"]] for k, v in report["fields"].items()])
    if report["fields"]:
        names = list(report["fields"])
        figures["field_f1.png"] = Figure("test/field_f1", partial(
            plots.bars, labels=names, values=[report["fields"][k]["f1"] for k in names],
            title="entity F1 per field (test, strict IOB2)", xlabel="field", ylabel="F1",
            annotations=[str(report["fields"][k]["support"]) for k in names]))
    confusions = {f"test/{task}_confusion_matrix": ConfusionMatrix(list(names),
                                                                   _int_rows(report[task]["confusion_matrix"]))
                  for task, names in (("doc_type", labels.doc_types), ("po_subtype", labels.po_subtypes))
                  if task in report}
    tables = {"test/fields": fields}
    if pages:
        for page in pages:
            figures[f"pages/{page['id']}.png"] = Figure("test/page", partial(
                draw_page, image_path=page["image"], boxes=page["boxes"], truth=page["truth"],
                predicted=page["predicted"]), log=False)
        tables["test/pages"] = Table(
            ["page", "id", "doc_type", "predicted_doc_type", "fields_correct", "fields", "predicted_fields"],
            [[f"pages/{p['id']}.png", p["id"], p["doc_type"], p["predicted_doc_type"], p["fields_correct"], p["fields"],
              p["predicted_fields"]] for p in pages], image_columns=("page",))
    return Report(files={"classification_report.json": report, "classification_report.txt": text},
                  tables=tables, figures=figures, confusion_matrices=confusions)


def _int_rows(matrix: Any) -> list[list[int]]:
    rows = matrix.tolist() if hasattr(matrix, "tolist") else matrix
    return [[round(v) for v in row] for row in rows]
