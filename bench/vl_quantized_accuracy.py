"""PaddleOCR-VL quantized inference: a checkpoint's extraction scores fp32 vs quantized (default INT8).

The checkpoint (``.ckpt``, sharded checkpoint dir or export dir; ``ocrlab.loading.load_model``) is
loaded twice: as trained (fp32), then converted with ``model.quantized(--mode)`` (what
``evaluate.py quantize=<mode>`` runs: ``int8`` = dynamic INT8 of every ``nn.Linear`` on the CPU,
LoRA merged first; ``int8_cuda`` / ``nf4`` = bitsandbytes on a CUDA GPU). Each runs the module's own
test loop (``trainer.test``: greedy generation, ``ocrlab.families.paddleocr_vl.extraction`` scores, the test loss)
on the ``--split`` of ``--pairs-dir`` (an ``InstructionPairsDataModule`` attached to the model: its
processor, the same batches for both), then a teacher-forced pass over the same batches (argmax of
the logits at the reference answer's tokens). Reported: every test metric and its change, the share
of identical answers, the next-token argmax agreement, documents/s and answers/s (wall time of the
test loop), the quantization report (layers, weight sizes).

    python bench/vl_quantized_accuracy.py <run>/checkpoints/best.ckpt --pairs-dir data/pairs
    python bench/vl_quantized_accuracy.py <run>/exports/best --pairs-dir data/pairs --mode int8 --threads 2
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NAME = "vl_quantized_accuracy"
# the headline metrics first (ocrlab.families.paddleocr_vl.extraction; the others follow in name order)
HEADLINE = ("test/overall_score", "test/field_accuracy", "test/field_accuracy_normalized", "test/field_f1",
            "test/json_tree_accuracy", "test/teds", "test/teds_struct", "test/numeric_consistency",
            "test/json_valid_rate", "test/ocr_cer", "test/loss")
SPEED_KEYS = ("test/generated_tokens_per_s",)


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a PaddleOCR-VL .ckpt file, sharded checkpoint dir or export dir")
    parser.add_argument("--pairs-dir", type=Path, required=True, help="instruction pairs (train/val/test.jsonl)")
    parser.add_argument("--mode", default="int8", help="quantization mode (the model's quantization_modes)")
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--tasks", nargs="*", default=None, help="only these pair tasks (default: all)")
    parser.add_argument("--batch-size", type=int, default=4, help="pairs per batch")
    parser.add_argument("--limit-batches", type=int, default=None, help="only the first N batches (default: all)")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="model.generation.max_new_tokens for both (default: the checkpoint's)")
    parser.add_argument("--small-images", default="error", choices=("error", "upscale"),
                        help="data.small_images (images below the processor's min_pixels)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: the usable cores)")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"limit_batches": 1, "max_new_tokens": 32})
    threads = args.threads or len(os.sched_getaffinity(0))
    common.warn_if_busy()

    import torch

    torch.set_num_threads(threads)
    runs = {}
    from ocrlab.quantization import BNB_MODES

    # the reference runs where the quantized model will: bitsandbytes modes on the GPU
    device = "gpu" if args.mode in BNB_MODES else "cpu"
    with tempfile.TemporaryDirectory(prefix="vl_quantized_") as tmp:
        runs["fp32"] = run(args, None, Path(tmp) / "fp32", device=device)
        runs[args.mode] = run(args, args.mode, Path(tmp) / args.mode, device=runs["fp32"]["device"])
    ref, quant = runs["fp32"], runs[args.mode]
    if not ref["rows"]:
        sys.exit(f"{NAME}: the {args.split} split of {args.pairs_dir} gave no answers")

    keys = [k for k in HEADLINE if k in ref["metrics"]] + sorted(set(ref["metrics"]) - set(HEADLINE) - set(SPEED_KEYS))
    delta = {k: _minus(quant["metrics"].get(k), ref["metrics"].get(k)) for k in keys}
    answers = {(r["id"], r["task"]): r["prediction"] for r in ref["rows"]}
    same = sum(answers.get((r["id"], r["task"])) == r["prediction"] for r in quant["rows"])
    by_task: dict[str, list[int]] = {}
    for r in quant["rows"]:
        by_task.setdefault(r["task"], []).append(int(answers.get((r["id"], r["task"])) == r["prediction"]))
    agree = sum(int((a == b).sum()) for a, b in zip(ref["argmax"], quant["argmax"], strict=True))
    tokens = sum(int(a.numel()) for a in ref["argmax"])
    documents = len({r["id"] for r in ref["rows"]})
    speed = {name: {"documents_per_s": documents / r["test_s"], "answers_per_s": len(r["rows"]) / r["test_s"],
                    "test_loop_s": round(r["test_s"], 2),
                    "generated_tokens_per_s": r["metrics"].get("test/generated_tokens_per_s")}
             for name, r in runs.items()}
    results = {
        "scores": {name: r["metrics"] for name, r in runs.items()},
        f"{args.mode}_minus_fp32": delta,
        "identical_answers": same / len(quant["rows"]),
        "identical_answers_by_task": {t: sum(v) / len(v) for t, v in sorted(by_task.items())},
        "teacher_forced": {"argmax_agreement": agree / tokens if tokens else None, "answer_tokens": tokens,
                           "token_accuracy": {name: r["correct"] / tokens if tokens else None
                                              for name, r in runs.items()}},
        "speed": speed,
        "speedup_documents_per_s": speed[args.mode]["documents_per_s"] / speed["fp32"]["documents_per_s"],
        "quantization": quant["quantization"],
        "quantize_s": round(quant["quantize_s"], 2),
        "answers": len(ref["rows"]), "documents": documents, "batches": ref["batches"],
        "checkpoint": str(args.checkpoint.resolve()),
        "pairs_dir": str(args.pairs_dir.resolve()),
        "model": ref["model"],
        "device": ref["device"],
        "threads": torch.get_num_threads(),
    }
    method = {
        "models": f"load_model(checkpoint) twice: as trained (fp32), and .quantized('{args.mode}') "
                  "(evaluate.py quantize=<mode>; OcrModule.quantized, the family's _quantize)",
        "data": f"InstructionPairsDataModule(pairs_dir, tasks={args.tasks}, eval_batch_size={args.batch_size}) "
                f"attached to each model; loader('{args.split}', shuffle=False, collate_eval): the same batches",
        "scores": "pl.Trainer(...).test(model): the module's test loop (greedy generation with the checkpoint's "
                  "model.generation, ExtractionScorer, test/loss); the fp32 model on the same accelerator at 32-true",
        "identical_answers": "share of (id, task) answers whose generated text is the same string",
        "teacher_forced": "the reference answers fed in (collate_eval's training form): argmax of logits[t] vs "
                          "token t+1 where labels != -100; agreement between the two models, accuracy vs the reference",
        "speed": "wall time of trainer.test (generation + test loss + scoring) after one untimed warm-up "
                 "generation of 4 tokens on the first batch; documents = distinct ids",
    }
    rows = [[k.removeprefix("test/"), ref["metrics"].get(k), quant["metrics"].get(k), delta[k]] for k in keys]
    rows += [["documents/s", speed["fp32"]["documents_per_s"], speed[args.mode]["documents_per_s"],
              speed[args.mode]["documents_per_s"] - speed["fp32"]["documents_per_s"]],
             ["generated tokens/s", speed["fp32"]["generated_tokens_per_s"],
              speed[args.mode]["generated_tokens_per_s"], None]]
    q = quant["quantization"]
    sizes = q.get("linear_weight_mb") or {}
    common.print_table(
        f"{NAME}: {args.split} split of {args.pairs_dir} ({len(ref['rows'])} answers, {documents} documents)",
        ["metric", "fp32", args.mode, f"{args.mode} - fp32"],
        rows,
        caption=f"identical answers {same / len(quant['rows']):.1%}; teacher-forced argmax agreement "
                f"{_pct(results['teacher_forced']['argmax_agreement'])} over {tokens} answer tokens; "
                f"{q.get('layers')} layers quantized"
                + (f" (Linear weights {sizes['before']:.1f} MB -> {sizes['after']:.1f} MB)" if sizes else "")
                + f"; {ref['device']}, {torch.get_num_threads()} thread(s)"
                + (f"\n--quick: first {args.limit_batches} batch(es), {args.max_new_tokens} new tokens: "
                   "checks the script, measures nothing" if args.quick else ""),
    )
    common.write_results(NAME, args, results, method)


def run(args, mode: str | None, root: Path, device: str | None = None) -> dict:
    """One model's test loop and teacher-forced pass: its metrics, rows, argmax tokens, timings."""
    import pytorch_lightning as pl
    import torch

    from ocrlab.families.paddleocr_vl import InstructionPairsDataModule, PaddleOCRVL
    from ocrlab.loading import load_model

    model = load_model(args.checkpoint)
    if not isinstance(model, PaddleOCRVL):
        sys.exit(f"{NAME}: {args.checkpoint} is a {type(model).__name__}, not a vision-language model")
    if args.max_new_tokens:
        model.generation["max_new_tokens"] = args.max_new_tokens
    info = {"class": type(model).__name__, "parameters": sum(p.numel() for p in model.parameters()),
            "lora": bool(model.lora), "generation": dict(model.generation)}
    quantize_s, quantization = 0.0, None
    trainer_kwargs = {"accelerator": device or "cpu", "devices": 1, "precision": "32-true"}
    if mode is not None:
        start = time.perf_counter()
        model.quantized(mode)  # the errors (mode, CUDA, bitsandbytes) are the model's own
        quantize_s = time.perf_counter() - start
        quantization = model.quantization
        trainer_kwargs.update(quantization.get("trainer") or {})
    dm = InstructionPairsDataModule(pairs_dir=str(args.pairs_dir), tasks=args.tasks, batch_size=args.batch_size,
                                    eval_batch_size=args.batch_size, num_workers=0, seed=0,
                                    small_images=args.small_images)
    dm.attach_model(model)
    dm.setup({"val": "validate", "test": "test"}[args.split])
    loader = dm.loader(args.split, shuffle=False, batch_size=args.batch_size, collate=dm.collate_eval)
    batches = len(loader) if args.limit_batches is None else min(args.limit_batches, len(loader))
    trainer = pl.Trainer(**trainer_kwargs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_test_batches=batches, default_root_dir=str(root))
    target = torch.device("cuda" if trainer_kwargs["accelerator"] in ("gpu", "cuda") else "cpu")
    first = next(iter(loader))
    if mode is None:  # a quantized model already is where its kernels run
        model.to(target)
    settings = dict(model.generation)
    model.generation["max_new_tokens"] = 4
    model.predict_step(model.transfer_batch_to_device(first, target, 0))  # warm-up (not timed)
    model.generation = settings
    start = time.perf_counter()
    trainer.test(model, dataloaders=loader, verbose=False)
    test_s = time.perf_counter() - start
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    argmax, correct = [], 0
    with torch.no_grad():
        for batch in itertools.islice(loader, batches):
            batch = model.transfer_batch_to_device(batch, target, 0)
            logits = model.net(**model._inputs(batch)).logits[:, :-1]
            labels = batch["labels"][:, 1:]
            answer = labels != -100
            predicted = logits.argmax(-1)[answer].cpu()
            argmax.append(predicted)
            correct += int((predicted == labels[answer].cpu()).sum())
    print(f"[{NAME}] {mode or 'fp32'}: {len(model.test_rows)} answers in {test_s:.1f} s"
          + (f" (quantized in {quantize_s:.1f} s)" if mode else ""), flush=True)
    return {"metrics": metrics, "rows": list(model.test_rows), "argmax": argmax, "correct": correct,
            "test_s": test_s, "quantize_s": quantize_s, "quantization": quantization, "model": info,
            "batches": batches, "device": trainer_kwargs["accelerator"]}


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


if __name__ == "__main__":
    main()
