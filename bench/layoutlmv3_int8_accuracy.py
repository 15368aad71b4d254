"""LayoutLMv3 INT8 accuracy: a checkpoint's test scores through eager PyTorch, ONNX Runtime fp32 and INT8.

The checkpoint (``.ckpt``, sharded checkpoint dir or export dir; ``ocrlab.loading.load_model``)
is exported by ``model.export(dir, onnx=True, int8=True)``: ``model.onnx`` (checked against
PyTorch by the export) and ``model.int8.onnx`` (``onnxruntime.quantization.quantize_dynamic``,
QInt8 weights). The ``--split`` of ``--data-dir`` is read by a ``DocumentDataModule`` attached to
the model (its tokenizer, windows and page size) and every batch of its loader goes through the
three runtimes: the network part (windows -> doc-type, subtype and token logits) runs in each,
then ``merge_windows`` puts the documents back together the same way for all three. Scores as
the module's test step computes them (``ocrlab.families.layoutlmv3.metrics``): doc-type accuracy, subtype
accuracy (purchase orders only), entity-level F1 (strict IOB2) and word-label accuracy.

    python bench/layoutlmv3_int8_accuracy.py logs/train/runs/<id>/checkpoints/best.ckpt --data-dir <dataset>
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NAME = "layoutlmv3_int8_accuracy"
RUNTIMES = ("eager", "ort_fp32", "ort_int8")
LABELS = {"eager": "PyTorch eager fp32", "ort_fp32": "ONNX Runtime fp32", "ort_int8": "ONNX Runtime INT8 (dynamic)"}
SCORES = ("doc_type_acc", "po_subtype_acc", "entity_f1", "entity_precision", "entity_recall", "word_acc")


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a .ckpt file, sharded checkpoint dir or export dir")
    parser.add_argument("--data-dir", type=Path, required=True, help="business-document dataset (label_map.json, <split>/)")
    parser.add_argument("--json", dest="output", type=Path, default=None, help="same as --output")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--batch-size", type=int, default=8, help="documents per batch")
    parser.add_argument("--limit-batches", type=int, default=None, help="only the first N batches (default: all)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads and ORT intra_op_num_threads (default: the usable cores)")
    parser.add_argument("--export-dir", type=Path, default=None,
                        help="keep the export here (must not exist); default: a temporary directory")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"limit_batches": 2})
    threads = args.threads or len(os.sched_getaffinity(0))
    common.warn_if_busy()

    import torch

    from ocrlab.families.layoutlmv3 import DocumentDataModule
    from ocrlab.families.layoutlmv3.inputs import IGNORE
    from ocrlab.loading import load_model
    from ocrlab.onnx_export import INT8_FILE, ONNX_FILE, run_session

    torch.set_num_threads(threads)
    model = load_model(args.checkpoint).eval()
    if not hasattr(model, "onnx_outputs") or not hasattr(model, "labels"):
        sys.exit(f"{NAME}: {args.checkpoint} is a {type(model).__name__}, not a LayoutLMv3 document model")
    datamodule = DocumentDataModule(data_dir=str(args.data_dir), synth=None, batch_size=args.batch_size,
                                    num_workers=0, seed=0)
    datamodule.attach_model(model)
    stage = {"train": "fit", "val": "validate", "test": "test"}[args.split]
    datamodule.setup(stage)
    loader = datamodule.loader(args.split, shuffle=False, batch_size=args.batch_size)

    with tempfile.TemporaryDirectory(prefix="layoutlmv3_int8_") as tmp:
        export_dir = args.export_dir or Path(tmp) / "export"
        if args.export_dir and args.export_dir.exists():
            sys.exit(f"{NAME}: --export-dir {args.export_dir} already exists")
        start = time.perf_counter()
        model.export(export_dir, onnx=True, int8=True)
        export_s = time.perf_counter() - start
        onnx_report = json.loads((export_dir / "onnx_report.json").read_text())
        print(f"[{NAME}] exported in {export_s:.1f} s to {export_dir if args.export_dir else '(temp dir)'}: fp32 "
              f"{onnx_report['fp32_bytes'] / 1e6:.1f} MB, INT8 {onnx_report['int8_bytes'] / 1e6:.1f} MB", flush=True)
        sessions = {"ort_fp32": ort_session(export_dir / ONNX_FILE, threads),
                    "ort_int8": ort_session(export_dir / INT8_FILE, threads)}
        names = [i.name for i in sessions["ort_fp32"].get_inputs()]

        def network(runtime: str, inputs: dict) -> tuple:
            if runtime == "eager":
                with torch.no_grad():
                    return tuple(model(**inputs))
            return tuple(torch.from_numpy(a) for a in run_session(sessions[runtime], inputs))

        metrics = {r: make_metrics(model) for r in RUNTIMES}
        seconds = dict.fromkeys(RUNTIMES, 0.0)
        agree = {r: {"doc_type": 0, "po_subtype": 0, "words": 0} for r in ("ort_fp32", "ort_int8")}
        max_diff = dict.fromkeys(("ort_fp32", "ort_int8"), 0.0)
        docs = words_total = windows = po_docs = 0
        for i, batch in enumerate(loader):
            if args.limit_batches is not None and i >= args.limit_batches:
                break
            inputs = {k: batch[k] for k in names}
            preds = {}
            for r in RUNTIMES:
                t0 = time.perf_counter()
                doc, sub, tok = network(r, inputs)
                seconds[r] += time.perf_counter() - t0
                merged = merge(doc, sub, tok, batch)
                preds[r] = update(metrics[r], batch, *merged)
                if r != "eager":
                    ref = preds["eager"]["logits"]
                    max_diff[r] = max(max_diff[r], *(float((a - b).abs().max()) for a, b in
                                                     zip(ref, (doc, sub, tok), strict=True)))
            po = batch["po_subtype"] != IGNORE
            for r, counts in agree.items():
                other = preds["ort_fp32" if r == "ort_int8" else "eager"]
                counts["doc_type"] += int((preds[r]["doc_type"] == other["doc_type"]).sum())
                counts["po_subtype"] += int((preds[r]["po_subtype"] == other["po_subtype"])[po].sum())
                counts["words"] += sum(int((a == b).sum()) for a, b in zip(preds[r]["words"], other["words"],
                                                                           strict=True))
            po_docs += int(po.sum())
            docs += len(batch["num_words"])
            words_total += sum(batch["num_words"])
            windows += int(batch["input_ids"].shape[0])
    if docs == 0:
        sys.exit(f"{NAME}: the {args.split} split of {args.data_dir} has no documents")

    scores = {r: compute(metrics[r]) for r in RUNTIMES}
    if po_docs == 0:  # no purchase order: no subtype accuracy (torchmetrics would say 0)
        for r in RUNTIMES:
            scores[r]["po_subtype_acc"] = None
    delta_int8 = {k: _minus(scores["ort_int8"][k], scores["ort_fp32"][k]) for k in SCORES}
    delta_fp32 = {k: _minus(scores["ort_fp32"][k], scores["eager"][k]) for k in SCORES}
    agreement = {r: {"doc_type": a["doc_type"] / docs, "po_subtype": a["po_subtype"] / po_docs if po_docs else None,
                     "words": a["words"] / words_total} for r, a in agree.items()}
    results = {
        "scores": scores,
        "int8_minus_ort_fp32": delta_int8,
        "ort_fp32_minus_eager": delta_fp32,
        "prediction_agreement": {"ort_fp32_vs_eager": agreement["ort_fp32"], "ort_int8_vs_ort_fp32": agreement["ort_int8"]},
        "max_abs_logit_diff_vs_eager": max_diff,
        "ms_per_document": {r: 1000.0 * s / docs for r, s in seconds.items()},
        "documents": docs, "purchase_orders": po_docs, "windows": windows, "words": words_total,
        "export": {"seconds": round(export_s, 2), **onnx_report},
        "checkpoint": str(args.checkpoint.resolve()),
        "data_dir": str(args.data_dir.resolve()),
        "model": {"class": type(model).__name__, "parameters": sum(p.numel() for p in model.parameters()),
                  "max_length": model.input_spec.max_length, "stride": model.input_spec.stride,
                  "visual": model.visual},
        "threads": {"torch": torch.get_num_threads(), "ort_intra_op": threads},
    }
    method = {
        "export": "load_model(checkpoint).export(dir, onnx=True, int8=True): model.onnx (opset "
                  f"{onnx_report.get('opset')}, checked against PyTorch) + quantize_dynamic(QInt8) -> model.int8.onnx",
        "data": f"DocumentDataModule(data_dir, batch_size={args.batch_size}) attached to the model; "
                f"loader('{args.split}', shuffle=False): the same windows for the three runtimes",
        "runtimes": "eager: model(input_ids, bbox, attention_mask[, pixel_values]) under inference_mode; ORT: "
                    "ocrlab.onnx_export.run_session (CPUExecutionProvider, intra_op_num_threads=--threads)",
        "merge": "ocrlab.families.layoutlmv3.net.merge_windows on each runtime's window logits",
        "metrics": "ocrlab.families.layoutlmv3.metrics: ClassificationMetrics (doc type; subtype where po_subtype != -100), "
                   "EntityF1 (strict IOB2, micro), token_accuracy over words; as LayoutLMv3Multitask._update",
        "ms_per_document": "wall time of the network calls only (no merge, no metrics), one pass; a side figure, "
                           "not a latency benchmark (see layoutlmv3_latency.py)",
    }
    rows = [[LABELS[r], *(scores[r][k] for k in SCORES), results["ms_per_document"][r]] for r in RUNTIMES]
    rows.append(["INT8 - ORT fp32", *(delta_int8[k] for k in SCORES), None])
    common.print_table(
        f"{NAME}: {args.split} split of {args.data_dir} ({docs} documents, {windows} windows)",
        ["runtime", "doc-type acc", "subtype acc", "entity F1", "entity P", "entity R", "word acc", "ms/doc"],
        rows,
        caption=f"prediction agreement INT8 vs fp32: doc type {agreement['ort_int8']['doc_type']:.1%}, subtype "
                f"{_pct(agreement['ort_int8']['po_subtype'])} ({po_docs} purchase orders), words {agreement['ort_int8']['words']:.1%}; ORT fp32 vs eager: "
                f"words {agreement['ort_fp32']['words']:.1%}; max |logit - eager|: fp32 {max_diff['ort_fp32']:.1e}, "
                f"INT8 {max_diff['ort_int8']:.3f}; threads {threads}"
                + (f"\n--quick: first {args.limit_batches} batches only" if args.quick else ""),
    )
    common.write_results(NAME, args, results, method)


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def ort_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def make_metrics(model) -> dict:
    """The metric set of the module's test step (``LayoutLMv3Multitask._metrics``)."""
    from ocrlab.families.layoutlmv3.metrics import ClassificationMetrics, EntityF1, token_accuracy

    labels = model.labels
    return {"doc_type": ClassificationMetrics(len(labels.doc_types), labels.doc_types),
            "po_subtype": ClassificationMetrics(max(1, len(labels.po_subtypes)), labels.po_subtypes or ("-",)),
            "entity": EntityF1(labels.labels),
            "words": token_accuracy(len(labels))}


def merge(doc, sub, tok, batch: dict):
    from ocrlab.families.layoutlmv3.net import merge_windows

    merged = merge_windows(doc, sub, tok, batch["window_doc"], batch["word_index"], len(batch["num_words"]),
                           [int(n) for n in batch["num_words"]])
    return (*merged, (doc, sub, tok))


def update(metrics: dict, batch: dict, doc, sub, words, logits) -> dict:
    """As ``LayoutLMv3Multitask._update``: argmax predictions into the metrics."""
    import torch

    doc_pred, sub_pred = doc.argmax(-1), sub.argmax(-1)
    word_pred = [w.argmax(-1) for w in words]
    metrics["doc_type"].update(doc_pred, batch["doc_type"])
    metrics["po_subtype"].update(sub_pred, batch["po_subtype"])
    metrics["entity"].update([p.tolist() for p in word_pred], [list(t) for t in batch["word_labels"]])
    metrics["words"].update(torch.cat(word_pred), torch.tensor([x for t in batch["word_labels"] for x in t]))
    return {"doc_type": doc_pred, "po_subtype": sub_pred, "words": word_pred, "logits": logits}


def compute(metrics: dict) -> dict[str, float]:
    entity = metrics["entity"].compute()
    return {"doc_type_acc": float(metrics["doc_type"].compute()["acc"]),
            "po_subtype_acc": float(metrics["po_subtype"].compute()["acc"]),
            "entity_f1": float(entity["f1"]), "entity_precision": float(entity["precision"]),
            "entity_recall": float(entity["recall"]), "word_acc": float(metrics["words"].compute())}


if __name__ == "__main__":
    main()
