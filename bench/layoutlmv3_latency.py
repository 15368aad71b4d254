"""LayoutLMv3 latency per page: eager PyTorch vs ONNX Runtime fp32 vs ONNX Runtime dynamic INT8.

The network is ``LayoutLMv3Multitask`` built from the composed ``experiment=layoutlmv3_multitask``
config (the GPU recipe: LayoutLMv3's own architecture, relative-position biases on, no token mixing;
not the from-scratch CPU recipe) with ``model/encoder=--encoder`` (``base``: LayoutLMv3-base's shape, 12 x 768, visual
embedding on at 224 px) and random weights: latency does not depend on the weights. The
tokenizer is a byte-level BPE without merges (``DocumentTokenizer(vocab, merges=[],
vocab_size=--vocab-size)``): it reserves 50,265 embedding rows as LayoutLMv3-base's vocabulary
does, so the parameter count is the real model's. Inputs are ``model.example_inputs(batch,
--length)`` (random ids and boxes, every position attended, a random page).

The model is exported once into a temporary directory by ``model.export(dir, onnx=True,
int8=True)`` (``model.onnx`` checked against PyTorch, ``model.int8.onnx`` from
``onnxruntime.quantization.quantize_dynamic``). Then, after ``--warmup`` untimed rounds, every round
calls each runtime once per batch size, the runtimes' order rotating from round to round, so a
drift of the machine's speed hits all three alike. A page's latency is a call's wall time
divided by its batch size.

    python bench/layoutlmv3_latency.py            # base, batch 1 and 8: ~5-8 min on 2 cores (estimate)
    python bench/layoutlmv3_latency.py --quick    # tiny encoder, a few calls: smoke run
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NAME = "layoutlmv3_latency"
EXPERIMENT = "layoutlmv3_multitask"
TARGET_ORT_RATIO = 0.6
GEMM_CALLS = 20
RUNTIMES = ("eager", "ort_fp32", "ort_int8")
LABELS = {"eager": "PyTorch eager fp32", "ort_fp32": "ONNX Runtime fp32", "ort_int8": "ONNX Runtime INT8 (dynamic)"}


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--json", dest="output", type=Path, default=None, help="same as --output")
    parser.add_argument("--encoder", default="base", choices=("base", "small", "tiny"), help="model/encoder config")
    parser.add_argument("--length", type=int, default=512, help="tokens per window (model.max_length)")
    parser.add_argument("--batch", type=int, default=8, help="the batched size (pages per call) next to batch 1")
    parser.add_argument("--iterations", type=int, default=10, help="timed calls per runtime at batch 1")
    parser.add_argument("--batched-iterations", type=int, default=3,
                        help="timed calls per runtime at --batch (each is --batch pages; spread over the rounds)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (every runtime, every batch size)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads and ORT intra_op_num_threads (default: the usable cores)")
    parser.add_argument("--vocab-size", type=int, default=50265, help="embedding rows reserved by the tokenizer")
    parser.add_argument("--ort-spinning", type=int, choices=(0, 1), default=1,
                        help="ORT session.intra_op.allow_spinning (1: ORT's default)")
    parser.add_argument("--seed", type=int, default=0, help="random weights and inputs")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"encoder": "tiny", "iterations": 3, "batched_iterations": 2, "batch": 4})
    if args.iterations < 1 or args.batched_iterations < 0 or args.warmup < 0 or args.batch < 1:
        parser.error("--iterations >= 1, --batched-iterations >= 0, --warmup >= 0, --batch >= 1")
    threads = args.threads or len(os.sched_getaffinity(0))
    common.warn_if_busy()

    import numpy as np
    import torch

    from ocrlab.onnx_export import INT8_FILE, ONNX_FILE, run_session

    torch.set_num_threads(threads)
    model, facts = build_model(args)
    print(f"[{NAME}] {args.encoder}: {facts['parameters']:,} parameters ({facts['backbone_parameters']:,} in the "
          f"LayoutLMv3 encoder, {facts['embedding_rows']:,} embedding rows), {args.length} tokens + "
          f"{facts['patches']} image patches at {facts['image_size']} px", flush=True)

    with tempfile.TemporaryDirectory(prefix="layoutlmv3_latency_") as tmp:
        start = time.perf_counter()
        model.export(tmp, onnx=True, int8=True)
        export_s = time.perf_counter() - start
        onnx_report = json.loads((Path(tmp) / "onnx_report.json").read_text())
        print(f"[{NAME}] exported in {export_s:.1f} s: fp32 {onnx_report['fp32_bytes'] / 1e6:.1f} MB, "
              f"INT8 {onnx_report['int8_bytes'] / 1e6:.1f} MB", flush=True)
        sessions = {"ort_fp32": ort_session(Path(tmp) / ONNX_FILE, threads, args.ort_spinning),
                    "ort_int8": ort_session(Path(tmp) / INT8_FILE, threads, args.ort_spinning)}

        def call(runtime: str, inputs: dict):
            if runtime == "eager":
                with torch.inference_mode():
                    return [t.numpy() for t in model(**inputs)]
            return run_session(sessions[runtime], inputs)

        sizes = [1] if args.batch == 1 or args.batched_iterations == 0 else [1, args.batch]
        inputs = {b: model.example_inputs(batch_size=b, length=args.length) for b in sizes}
        counts = {1: args.iterations, **({args.batch: args.batched_iterations} if len(sizes) > 1 else {})}
        schedule = spread(counts)
        ms: dict[tuple[str, int], list[float]] = {(r, b): [] for r in RUNTIMES for b in sizes}
        agreement: dict[str, dict] = {}

        gc.collect()
        gc.disable()  # no collector pause inside a timed call
        try:
            for w in range(args.warmup):
                for b in sizes:
                    outs = {r: call(r, inputs[b]) for r in rotated(RUNTIMES, w)}
                    if w == 0:
                        agreement[str(b)] = compare(outs, np)
            if not agreement:  # --warmup 0: compare on one extra untimed call
                for b in sizes:
                    agreement[str(b)] = compare({r: call(r, inputs[b]) for r in RUNTIMES}, np)
            for rnd, batch_sizes in enumerate(schedule):
                for b in batch_sizes:
                    for r in rotated(RUNTIMES, rnd):
                        t0 = time.perf_counter()
                        call(r, inputs[b])
                        ms[(r, b)].append(1000.0 * (time.perf_counter() - t0) / b)
                gc.collect()
                done = " ".join(f"b{b}" for b in batch_sizes)
                print(f"[{NAME}] round {rnd + 1}/{len(schedule)} ({done}): "
                      + ", ".join(f"{r} {ms[(r, batch_sizes[-1])][-1]:.1f}" for r in RUNTIMES) + " ms/page",
                      flush=True)
        finally:
            gc.enable()

    bound = compute_bound(model, inputs[1], facts, threads, args.ort_spinning, np)
    stats = {f"{r}/batch{b}": summarize(ms[(r, b)], np) for r in RUNTIMES for b in sizes if ms[(r, b)]}
    bound["floor_over_eager_p50"] = bound["floor_ms_per_page"] / stats["eager/batch1"]["p50"]
    bound["eager_gflops_at_p50"] = bound["flops_per_page"] / stats["eager/batch1"]["p50"] / 1e6
    ratios = {}
    for b in sizes:
        eager = stats.get(f"eager/batch{b}")
        if eager is None:
            continue
        ratios[f"batch{b}"] = {"ort_fp32_p50_over_eager_p50": stats[f"ort_fp32/batch{b}"]["p50"] / eager["p50"],
                               "ort_int8_p50_over_eager_p50": stats[f"ort_int8/batch{b}"]["p50"] / eager["p50"]}
        ratios[f"batch{b}"]["meets_target"] = ratios[f"batch{b}"]["ort_fp32_p50_over_eager_p50"] <= TARGET_ORT_RATIO
    results = {
        "ms_per_page": stats,
        "ratios": ratios,
        "target_ort_fp32_over_eager_p50": TARGET_ORT_RATIO,
        "agreement_on_the_first_call": agreement,
        "model": facts,
        "compute_bound": bound,
        "export": {"seconds": round(export_s, 2), **onnx_report},
        "threads": {"torch": torch.get_num_threads(), "ort_intra_op": threads, "ort_inter_op": 1,
                    "ort_allow_spinning": args.ort_spinning},
        "onnxruntime": common.package_version("onnxruntime"),
        "onnx": common.package_version("onnx"),
        "transformers": common.package_version("transformers"),
    }
    method = {
        "model": f"build_model(compose(experiment={EXPERIMENT}, model/encoder={args.encoder}, "
                 f"model.max_length={args.length})) with a byte-level tokenizer without merges reserving "
                 f"{args.vocab_size} rows; random weights (torch.manual_seed({args.seed}))",
        "inputs": "model.example_inputs(batch, length): random ids/boxes, attention_mask all ones, random page "
                  "(pixel_values) when visual_embed; built once per batch size, outside the timing",
        "eager": "model(**inputs) under torch.inference_mode(), fp32, model.eval()",
        "ort": "ocrlab.onnx_export.run_session on an InferenceSession (CPUExecutionProvider, ORT_ENABLE_ALL, "
               "sequential, intra_op_num_threads=--threads, inter_op_num_threads=1) of model.onnx / "
               "model.int8.onnx from model.export(tmp, onnx=True, int8=True)",
        "timing": "time.perf_counter around one call (includes the tensor -> numpy feeds for ORT and the outputs "
                  "-> numpy for eager); ms per page = call time / batch; gc disabled during rounds",
        "order": f"{args.warmup} untimed round(s), then rounds; each round runs the batch sizes scheduled in it "
                 "and, for each, the three runtimes in an order rotated by one every round; the batched calls "
                 "are spread evenly over the batch-1 rounds",
        "statistics": "mean/min/max and p50/p95/p99 (numpy linear percentiles) of ms per page; "
                      "ratio = p50 of the runtime / p50 of eager at the same batch size",
        "compute_bound": "flops_per_page: torch.utils.flop_counter.FlopCounterMode over one eager batch-1 call "
                         "(matmuls, convolutions, attention; elementwise ops not counted); the fp32 GEMM rate of "
                         "each runtime on the model's largest GEMM (sequence x hidden @ hidden x intermediate): "
                         "torch.mm and an ONNX Runtime session of a one-node MatMul graph (same session options), "
                         f"best of {GEMM_CALLS} calls each, right after the rounds; floor = flops / the faster "
                         "rate: no fp32 runtime running at that GEMM rate does a page faster",
    }
    rows = []
    for b in sizes:
        for r in RUNTIMES:
            s = stats.get(f"{r}/batch{b}")
            if s is None:
                continue
            ratio = s["p50"] / stats[f"eager/batch{b}"]["p50"]
            rows.append([LABELS[r], b, s["n"], s["mean"], s["min"], s["max"], s["p50"], s["p95"], s["p99"], ratio])
    caption = [f"target ORT fp32 p50 / eager p50 <= {TARGET_ORT_RATIO}: "
               + ", ".join(f"batch {k[5:]} {v['ort_fp32_p50_over_eager_p50']:.3f} "
                           f"({'met' if v['meets_target'] else 'NOT met'})" for k, v in ratios.items()),
               "INT8 p50 / eager p50: " + ", ".join(f"batch {k[5:]} {v['ort_int8_p50_over_eager_p50']:.3f}"
                                                    for k, v in ratios.items()),
               f"compute bound: {bound['flops_per_page'] / 1e9:.2f} GFLOP a page; best fp32 GEMM torch "
               f"{bound['gemm_gflops']['torch']:.0f} / ORT {bound['gemm_gflops']['ort']:.0f} GFLOP/s (eager reaches "
               f"{bound['eager_gflops_at_p50']:.0f}); floor {bound['floor_ms_per_page']:.0f} ms a page = "
               f"{bound['floor_over_eager_p50']:.2f} x eager p50 at batch 1"
               + (" (above the target: unreachable at these GEMM rates)"
                  if bound["floor_over_eager_p50"] > TARGET_ORT_RATIO else ""),
               f"{facts['parameters']:,} parameters; threads: torch {torch.get_num_threads()}, ORT intra-op {threads}; "
               "max |logit - eager| on the first call: "
               + ", ".join(f"batch {b}: fp32 {a['ort_fp32']['max_abs_diff']:.1e}, INT8 {a['ort_int8']['max_abs_diff']:.2f} "
                           f"(token argmax agreement {a['ort_int8']['token_argmax_agreement']:.1%})"
                           for b, a in agreement.items())]
    if args.quick:
        caption.append("--quick: tiny smoke run, the figures mean nothing")
    common.print_table(
        f"{NAME}: ms per page, LayoutLMv3 {args.encoder} ({args.length} tokens"
        f"{', image ' + str(facts['image_size']) + ' px' if facts['visual'] else ''}), random weights",
        ["runtime", "batch", "n", "mean", "min", "max", "p50", "p95", "p99", "p50 / eager p50"],
        rows, caption="\n".join(caption))
    common.write_results(NAME, args, results, method)


def build_model(args):
    """The LayoutLMv3Multitask of the composed experiment at ``--encoder``, random weights, a
    merge-less byte-level tokenizer reserving ``--vocab-size`` rows."""
    import torch
    from omegaconf import OmegaConf
    from tokenizers import pre_tokenizers

    from ocrlab.families.layoutlmv3.tokenizer import SPECIAL_TOKENS
    from ocrlab.loading import build_model as build

    cfg = common.compose_config(
        [f"experiment={EXPERIMENT}", f"model/encoder={args.encoder}", f"model.max_length={args.length}",
         f"model.stride={args.length // 4}", "data.synth=null", *common.run_overrides(EXPERIMENT)[1:]],
        common.new_run_dir(NAME))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(ch, len(vocab))
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    model_cfg["tokenizer"] = {"_target_": "ocrlab.families.layoutlmv3.tokenizer.DocumentTokenizer", "vocab": vocab,
                              "merges": [], "vocab_size": args.vocab_size}
    torch.manual_seed(args.seed)
    model = build(model_cfg).eval()
    config = model.net.backbone.config
    patches = (config.input_size // config.patch_size) ** 2 if config.visual_embed else 0
    facts = {
        "encoder": args.encoder,
        "parameters": sum(p.numel() for p in model.parameters()),
        "backbone_parameters": sum(p.numel() for p in model.net.backbone.parameters()),
        "embedding_rows": int(model.net.backbone.embeddings.word_embeddings.num_embeddings),
        "hidden_size": config.hidden_size, "layers": config.num_hidden_layers, "heads": config.num_attention_heads,
        "intermediate_size": config.intermediate_size, "visual": bool(config.visual_embed),
        "image_size": config.input_size, "patches": patches, "length": args.length,
        "sequence": args.length + (patches + 1 if config.visual_embed else 0),
    }
    return model, facts


def compute_bound(model, inputs: dict, facts: dict, threads: int, spinning: int, np) -> dict:
    """FLOPs of one page and the best fp32 GEMM rate of torch and of ONNX Runtime on this machine
    (see ``method["compute_bound"]``): the time below which no fp32 runtime at those rates can go."""
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(**inputs)
    flops = counter.get_total_flops() / next(iter(inputs.values())).shape[0]
    m, k, n = facts["sequence"], facts["hidden_size"], facts["intermediate_size"]
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
                              [numpy_helper.from_array(b, "b")])
    gemm = onnx.helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = ort_session(gemm.SerializeToString(), threads, spinning)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    calls = {"torch": lambda: torch.mm(ta, tb), "ort": lambda: session.run(None, {"a": a})}
    best = {}
    for name, call in calls.items():
        call()
        times = []
        for _ in range(GEMM_CALLS):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        best[name] = 2.0 * m * k * n / min(times) / 1e9
    return {"flops_per_page": flops, "gemm_shape": [m, k, n], "gemm_gflops": best,
            "floor_ms_per_page": flops / max(best.values()) / 1e6}


def ort_session(path: Path | bytes, threads: int, spinning: int):
    """An InferenceSession of a model file (or serialized model bytes) with the benchmark's options."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", str(spinning))
    source = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def spread(counts: dict[int, int]) -> list[list[int]]:
    """Rounds: the batch sizes called in each; every size's calls spread evenly over the rounds."""
    n = max(counts.values())
    rounds: list[list[int]] = [[] for _ in range(n)]
    for b, k in sorted(counts.items()):
        for i in range(k):
            rounds[(i * n) // k].append(b)
    return [r for r in rounds if r]


def rotated(items, k: int):
    k %= len(items)
    return list(items[k:]) + list(items[:k])


def compare(outs: dict, np) -> dict:
    """Max |output - eager| of each ORT runtime, and how often the token argmax agrees."""
    ref = outs["eager"]
    res = {}
    for r in ("ort_fp32", "ort_int8"):
        diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, outs[r], strict=True))
        agree = float((ref[2].argmax(-1) == outs[r][2].argmax(-1)).mean())
        res[r] = {"max_abs_diff": diff, "token_argmax_agreement": agree}
    return res


def summarize(values: list[float], np) -> dict:
    a = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = (float(x) for x in np.percentile(a, [50, 95, 99]))
    return {"n": len(values), "mean": float(a.mean()), "min": float(a.min()), "max": float(a.max()),
            "p50": p50, "p95": p95, "p99": p99, "values": [round(v, 3) for v in values]}


if __name__ == "__main__":
    main()
