"""Inference speed: lines/s of an ocrlab recognizer (batch 1 and batched) vs Tesseract, one thread each.

The same generated lines (decoded into memory once) go through:

* ocrlab, end to end: ``TextRecognizer.recognize(pil_images, batch_size)`` (resize, tensor,
  pad, network, CTC decoding) at batch 1 and ``--batch-size``; also the network + decoding
  alone (``recognize_batch`` on pre-built batches), to show what preprocessing costs;
* the same with the network in ONNX Runtime (``OnnxTextRecognizer``: the model's ``model.onnx``,
  from ``--ckpt`` when it is an export dir written with ``--onnx``, else exported into a temporary
  dir first), ``--threads`` intra-op threads; ``--no-onnx`` skips it;
* Tesseract ``tha+eng`` psm 7 with ``OMP_THREAD_LIMIT=1``: as ocrlab's baseline runs it
  (``TesseractRecognizer.recognize_one``: one ``tesseract`` process per line, so process start
  and language-model loading are paid per line), and, for a fairer floor, one ``tesseract``
  process reading the whole list of image files.

``torch.set_num_threads(--threads)`` (default 1). Each round runs every system once, in turn;
the median over ``--rounds`` is reported. Without ``--ckpt`` the model is the untrained network
of the experiment config: its speed does not depend on the weights (only the tiny CTC decoding
step varies with what is emitted), but its predictions are meaningless.

    python bench/inference_speed.py --ckpt logs/train/runs/<id>/checkpoints/best.ckpt   # ~5 min
    python bench/inference_speed.py --quick
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NAME = "inference_speed"
TARGET_SPEEDUP = 10.0


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path, default=None, help="checkpoint or export dir; default: untrained model")
    parser.add_argument("--experiment", default=common.DEFAULT_EXPERIMENT, help="model config when no --ckpt")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for the untrained model's config (repeatable)")
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (Tesseract always gets one)")
    parser.add_argument("--data-seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2, help="data generation processes")
    parser.add_argument("--no-onnx", dest="onnx", action="store_false", help="skip the ONNX Runtime rows")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"lines": 12, "batch_size": 4, "rounds": 1, "workers": 1})

    import torch

    common.warn_if_busy()
    common.set_torch_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    from ocrlab.datamodules.line_images import image_to_tensor, open_image
    from ocrlab.datamodules.lines import collate_lines
    from ocrlab.metrics import score_texts

    data_dir, data_info = common.ensure_dataset("inference", {"test": args.lines}, seed=args.data_seed,
                                                workers=args.workers, progress=not args.quick)
    records = common.label_records(data_dir, "test")
    paths = [p for p, _ in records]
    refs = [label for _, label in records]
    images = [open_image(p) for p in paths]
    recognizer, model_info = load_recognizer(args)
    onnx_recognizer, onnx_info = load_onnx_recognizer(args, recognizer)
    runtimes = {"ocrlab": recognizer, **({"onnx": onnx_recognizer} if onnx_recognizer else {})}

    def batches(bs: int) -> list[dict]:
        return [collate_lines([{"image": image_to_tensor(im, recognizer.input_spec), "label": "", "target": [],
                                "path": ""} for im in images[i : i + bs]]) for i in range(0, len(images), bs)]

    batch_sizes = sorted({1, args.batch_size})
    prebuilt = {bs: batches(bs) for bs in batch_sizes}
    for bs in batch_sizes:  # warm-up: first calls pay one-off kernel and allocator costs
        for runtime in runtimes.values():
            runtime.recognize(images[: max(2 * bs, 4)], batch_size=bs)
    engine, tess_info = common.make_tesseract(threads=1)
    if engine is not None:
        engine.recognize_one(images[0])

    seconds: dict[str, list[float]] = {}
    preds: dict[str, list[str]] = {}
    for r in range(args.rounds):
        for bs in batch_sizes:
            for name, runtime in runtimes.items():
                start = time.perf_counter()
                preds[f"{name}_b{bs}"] = runtime.recognize(images, batch_size=bs)
                seconds.setdefault(f"{name}_b{bs}", []).append(time.perf_counter() - start)
                start = time.perf_counter()
                for batch in prebuilt[bs]:
                    runtime.recognize_batch(batch)
                seconds.setdefault(f"{name}_net_b{bs}", []).append(time.perf_counter() - start)
        if engine is not None:
            preds["tesseract"], s = common.run_tesseract(engine, images)
            seconds.setdefault("tesseract", []).append(s)
            start = time.perf_counter()
            preds["tesseract_one_process"] = engine.recognize(paths)
            seconds.setdefault("tesseract_one_process", []).append(time.perf_counter() - start)
        print(f"[{NAME}] round {r + 1}/{args.rounds}: " + ", ".join(
            f"{k} {len(images) / v[-1]:.1f} lines/s" for k, v in seconds.items()), flush=True)

    n = len(images)
    speed = {k: n / common.median(v) for k, v in seconds.items()}
    ratios = {}
    for ref_key in ("tesseract", "tesseract_one_process"):
        if ref_key in speed:
            for bs in batch_sizes:
                ratios[f"ocrlab_b{bs}_vs_{ref_key}"] = speed[f"ocrlab_b{bs}"] / speed[ref_key]
    big = f"ocrlab_b{args.batch_size}"
    results = {
        "lines": n,
        "lines_per_s": speed,
        "ms_per_line": {k: 1000.0 / v for k, v in speed.items()},
        "seconds_per_round": seconds,
        "speedup": ratios,
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": {k: v >= TARGET_SPEEDUP for k, v in ratios.items()},
        "batch1_vs_batched_same_text": sum(a == b for a, b in zip(preds["ocrlab_b1"], preds[big], strict=True)) / n,
        "onnx_vs_pytorch_same_text": (sum(a == b for a, b in zip(preds[f"onnx_b{args.batch_size}"], preds[big],
                                                                  strict=True)) / n if onnx_recognizer else None),
        "onnx_vs_pytorch_lines_per_s": ({f"b{bs}": speed[f"onnx_b{bs}"] / speed[f"ocrlab_b{bs}"] for bs in batch_sizes}
                                        if onnx_recognizer else None),
        "cer": {k: score_texts(v, refs)["test/cer"] for k, v in preds.items()},
        "model": model_info,
        "onnx": onnx_info,
        "tesseract": tess_info,
        "data": data_info,
    }
    method = {
        "input": "PIL images decoded into memory beforehand (ocrlab, Tesseract per line); the one-process "
                 "Tesseract reads the PNG files (a list file)",
        "ocrlab_bN": "TextRecognizer.recognize(images, batch_size=N): image_to_tensor, collate_lines (input "
                     "order, no width bucketing), forward, CTC decoding",
        "ocrlab_net_bN": "recognize_batch on batches built beforehand: forward + CTC decoding only",
        "onnx_bN / onnx_net_bN": "the same through OnnxTextRecognizer: the network is model.onnx in ONNX Runtime "
                                 f"(CPU, {args.threads} intra-op thread(s)), preprocessing and decoding unchanged",
        "tesseract": "TesseractRecognizer.recognize_one per image: PNG encode, one tesseract process per line "
                     "(tha+eng, psm 7, OMP_THREAD_LIMIT=1)",
        "tesseract_one_process": "one tesseract process, list of image files, same options; pages split on form feed",
        "rounds": "each round runs every system once in turn; lines/s = lines / median seconds over rounds",
        "warmup": "each batch size and Tesseract run once on a few lines before timing",
        "threads": f"torch.set_num_threads({args.threads}), interop threads 1",
    }
    rows = []
    for key, label in [*[(f"ocrlab_b{bs}", f"ocrlab, batch {bs}") for bs in batch_sizes],
                       *[(f"ocrlab_net_b{bs}", f"  network + decoding only, batch {bs}") for bs in batch_sizes],
                       *[(f"onnx_b{bs}", f"ocrlab + ONNX Runtime, batch {bs}") for bs in batch_sizes],
                       *[(f"onnx_net_b{bs}", f"  network (ONNX Runtime) + decoding only, batch {bs}")
                         for bs in batch_sizes],
                       ("tesseract", "Tesseract, process per line (ocrlab baseline)"),
                       ("tesseract_one_process", "Tesseract, one process for all lines")]:
        if key not in speed:
            continue
        rows.append([label, speed[key], 1000.0 / speed[key],
                     speed[key] / speed["tesseract"] if "tesseract" in speed else None,
                     speed[key] / speed["tesseract_one_process"] if "tesseract_one_process" in speed else None,
                     results["cer"].get(key)])
    untrained = ("" if args.ckpt else
                 "\nuntrained model (no --ckpt): speed does not depend on the weights; CER is meaningless")
    common.print_table(
        f"{NAME}: {n} lines, torch threads {args.threads}, Tesseract 1 thread, median of {args.rounds}",
        ["system", "lines/s", "ms/line", "x Tess. (per line)", "x Tess. (one proc.)", "CER"], rows,
        caption=f"target: ocrlab >= {TARGET_SPEEDUP:g}x Tesseract; "
                + ", ".join(f"{k}: {v:.1f}x" for k, v in ratios.items())
                + f"\nbatch 1 and batch {args.batch_size} give the same text on "
                  f"{results['batch1_vs_batched_same_text']:.0%} of lines"
                + (f"\nTesseract: {tess_info['unavailable']}" if engine is None else "")
                + (f"\nONNX Runtime and PyTorch give the same text on {results['onnx_vs_pytorch_same_text']:.0%} "
                   f"of lines (export check: max abs diff {onnx_info['max_abs_diff']})" if onnx_recognizer
                   else f"\nONNX Runtime: {onnx_info['unavailable']}")
                + untrained + ("\n--quick: tiny smoke run, the figures mean nothing" if args.quick else ""),
    )
    common.write_results(NAME, args, results, method)


def load_recognizer(args):
    """The checkpoint's recognizer, or the untrained model of the experiment config."""
    from ocrlab.inference import TextRecognizer

    if args.ckpt is not None:
        recognizer = TextRecognizer.load(args.ckpt)
        info = {"source": str(args.ckpt), "trained": True}
    else:
        from ocrlab.loading import build_model

        cfg = common.compose_config([*common.run_overrides(args.experiment), *args.override],
                                    common.new_run_dir(NAME))
        recognizer = TextRecognizer(build_model(cfg.model))
        info = {"source": f"untrained, experiment={args.experiment}", "trained": False,
                "note": "speed does not depend on the weights; predictions are meaningless"}
    module = recognizer.module
    info.update({"class": type(module).__name__, "parameters": sum(p.numel() for p in module.parameters()),
                 "config": module.model_config, "input": vars(recognizer.input_spec)})
    return recognizer, info


def load_onnx_recognizer(args, recognizer):
    """The recognizer's network in ONNX Runtime: ``--ckpt``'s model.onnx, or a fresh export of it."""
    import json
    import tempfile

    if not args.onnx:
        return None, {"unavailable": "skipped (--no-onnx)"}
    try:
        import onnxruntime
    except ImportError:
        return None, {"unavailable": "onnxruntime is not installed (pip install 'ocrlab[export]')"}
    from ocrlab.inference import OnnxTextRecognizer
    from ocrlab.loading import write_export
    from ocrlab.onnx_export import ONNX_FILE

    module = recognizer.module
    if not type(module).onnx_outputs:
        return None, {"unavailable": f"{type(module).__name__} exports no ONNX graph"}
    info = {"onnxruntime": onnxruntime.__version__, "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="inference_speed_onnx_") as tmp:
        if args.ckpt is not None and (args.ckpt / ONNX_FILE).is_file():
            export, info["source"] = args.ckpt, str(args.ckpt / ONNX_FILE)
        else:
            export = write_export(module, Path(tmp) / "export", onnx=True)
            info["source"] = "exported from the model for this run (write_export(..., onnx=True))"
        report = export / "onnx_report.json"
        info["max_abs_diff"] = json.loads(report.read_text())["max_abs_diff"] if report.is_file() else None
        # the session holds the graph in memory: the temporary export can go
        return OnnxTextRecognizer(module, export / ONNX_FILE, threads=args.threads), info


if __name__ == "__main__":
    main()
