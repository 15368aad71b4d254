"""PaddleOCR-VL evaluation by generation: batched (left padding, KV cache) vs one document at a time.

The module is ``PaddleOCRVL`` built by ``build_model`` from the composed experiment config
(``--experiment``, default ``paddleocr_vl_lora_cpu``: the ``small`` preset wrapped in the
experiment's LoRA, random weights), in eval mode. The documents are the first ``--docs`` pairs of
the ``--split`` (val) of generated invoice pairs (``vl_common.ensure_pairs``; a pair is one page
image and one prompt, the unit validation scores), their prompts collated by the module's
``VLChatCollator`` as validation does (answers left out, left padding). Both paths call the
module's own ``generate_texts`` (greedy, ``use_cache=True``, the experiment's ``model.generation``
but ``max_new_tokens`` and ``repeat_stop`` from the command line):

* batched: the documents in order, ``--batch-size`` (the experiment's ``data.eval_batch_size``) per
  call, as ``validation_step`` generates;
* one at a time: a call per document (no padding).

Random weights never emit the end-of-sequence token on purpose, so every answer runs to
``--max-new-tokens`` (32 by default, small to keep the run short) unless ``--repeat-stop`` (default
0: off) stops a loop; with it on, answers of random weights stop at arbitrary lengths, which
says little about a trained model. Tokens are the module's count (non-pad, non-eos generated
tokens, what ``val/generated_tokens_per_s`` reports).

Timing: the inputs are collated before the clock starts (the same image processing on both
paths); one untimed call of each path first; then ``--rounds`` rounds, each running both paths
over all documents, the order alternating between rounds; documents/s and generated tokens/s are
medians over rounds. The answers of the two paths are compared document by document (greedy
decoding: equal up to the numerical effect of padding; with random weights the top two logits
are often close, so a padded batch can flip a token).

    python bench/vl_generation.py           # small preset, 8 documents, batch 4, 32 tokens: ~1 min on 2 cores
    python bench/vl_generation.py --quick   # tiny preset: smoke run
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import vl_common

NAME = "vl_generation"
PATHS = ("batched", "single")
LABELS = {"batched": "batched (left padding)", "single": "one document at a time"}


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--json", dest="output", type=Path, default=None, help="same as --output")
    parser.add_argument("--experiment", default=vl_common.LORA_EXPERIMENT, help="a PaddleOCR-VL experiment")
    parser.add_argument("--preset", default=None, choices=("tiny", "small", "real"),
                        help="model/net preset (None: the experiment's)")
    parser.add_argument("--docs", type=int, default=8, help="documents (pairs) generated for")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--task", default=None, help="only pairs of this task (full, vendor, client, line_items, "
                                                     "summary); None: every task in file order")
    parser.add_argument("--batch-size", type=int, default=None, help="documents per batched call (None: the "
                                                                     "experiment's data.eval_batch_size)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="model.generation.max_new_tokens")
    parser.add_argument("--repeat-stop", type=int, default=0, help="model.generation.repeat_stop (0: off)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (both paths each)")
    parser.add_argument("--documents", type=int, default=40, help="generated invoices (5 pairs each)")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CPU experiments' torch_threads)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override (repeatable)")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"preset": "tiny", "docs": 4, "batch_size": 2, "max_new_tokens": 8,
                                      "rounds": 1, "documents": 10})
    if args.docs < 1 or args.rounds < 1 or args.max_new_tokens < 1 or args.threads < 1:
        parser.error("--docs, --rounds, --max-new-tokens and --threads must be >= 1")
    common.warn_if_busy()
    common.set_torch_threads(args.threads)

    import torch
    from hydra.utils import instantiate

    from ocrlab.families.paddleocr_vl.net import count_parameters
    from ocrlab.label_spaces import fit_label_spaces
    from ocrlab.loading import build_model

    pairs_dir, data_info = vl_common.ensure_pairs(args.documents, args.data_seed, progress=not args.quick)
    overrides = [*common.run_overrides(args.experiment), *vl_common.data_overrides(pairs_dir),
                 "model.evaluate_base=false", f"model.generation.max_new_tokens={args.max_new_tokens}",
                 f"model.generation.repeat_stop={args.repeat_stop}",
                 *([f"data.tasks=[{args.task}]"] if args.task else []),
                 *([f"model/net={args.preset}"] if args.preset else []),
                 *([f"data.eval_batch_size={args.batch_size}"] if args.batch_size else []), *args.override]
    cfg = common.compose_config(overrides, common.new_run_dir(NAME))
    datamodule = instantiate(cfg.data)
    model_cfg = fit_label_spaces(cfg.model, datamodule)
    torch.manual_seed(cfg.seed)
    module = build_model(model_cfg)
    datamodule.attach_model(module)
    datamodule.setup()
    dataset = datamodule.datasets[args.split]
    if len(dataset) < args.docs:
        sys.exit(f"{NAME}: the {args.split} split has {len(dataset)} pairs, --docs {args.docs}: raise --documents")
    module.eval()
    batch_size = int(cfg.data.eval_batch_size)
    rows = [dataset[i] for i in range(args.docs)]
    prompts = [{**row, "answer": None} for row in rows]
    collate = datamodule.collator
    inputs = {"batched": [collate(prompts[i:i + batch_size]) for i in range(0, len(prompts), batch_size)],
              "single": [collate([p]) for p in prompts]}
    padding = {path: {"padded_tokens": sum(int(b["input_ids"].numel()) for b in batches),
                      "real_tokens": sum(int(b["attention_mask"].sum()) for b in batches)}
               for path, batches in inputs.items()}

    def run(path: str) -> dict:
        texts, tokens, calls = [], [], []
        for batch in inputs[path]:
            before = module.generated_tokens
            start = time.perf_counter()
            texts.extend(module.generate_texts(batch))
            calls.append(time.perf_counter() - start)
            tokens.append(module.generated_tokens - before)
        return {"seconds": sum(calls), "tokens": sum(tokens), "texts": texts, "call_s": calls,
                "tokens_per_call": tokens}

    for path in PATHS:  # untimed: first-call costs (lazy init, allocator growth) land here
        module.generate_texts(inputs[path][0])
    rounds: list[dict] = []
    for i in range(args.rounds):
        for path in (PATHS if i % 2 == 0 else PATHS[::-1]):
            r = run(path)
            r.update(round=i, path=path, docs_per_s=args.docs / r["seconds"], tokens_per_s=r["tokens"] / r["seconds"])
            rounds.append(r)
            print(f"[{NAME}] round {i + 1}/{args.rounds} {path}: {r['docs_per_s']:.3f} docs/s, "
                  f"{r['tokens_per_s']:.1f} tokens/s ({r['tokens']} tokens in {r['seconds']:.1f} s)", flush=True)

    by_path = {p: [r for r in rounds if r["path"] == p] for p in PATHS}
    batched_texts, single_texts = by_path["batched"][0]["texts"], by_path["single"][0]["texts"]
    same = [a == b for a, b in zip(batched_texts, single_texts, strict=True)]
    deterministic = all(r["texts"] == by_path[r["path"]][0]["texts"] for r in rounds)
    summary = {p: {"docs_per_s_median": common.median([r["docs_per_s"] for r in by_path[p]]),
                   "tokens_per_s_median": common.median([r["tokens_per_s"] for r in by_path[p]]),
                   "seconds_median": common.median([r["seconds"] for r in by_path[p]]),
                   "generated_tokens": by_path[p][0]["tokens"],
                   "calls": len(inputs[p]), **padding[p]} for p in PATHS}
    single_tokens = by_path["single"][0]["tokens_per_call"]
    results = {
        **{f"{p}_{k}": v for p in PATHS for k, v in summary[p].items()},
        "speedup_docs_per_s": summary["batched"]["docs_per_s_median"] / summary["single"]["docs_per_s_median"],
        "speedup_tokens_per_s": summary["batched"]["tokens_per_s_median"] / summary["single"]["tokens_per_s_median"],
        "identical_answers_share": sum(same) / len(same),
        "identical_answers": sum(same),
        "different_answer_ids": [row["id"] + "/" + row["task"] for row, s in zip(rows, same, strict=True) if not s],
        "answers_repeat_across_rounds": deterministic,
        "tokens_per_document_single": single_tokens,
        "documents_hitting_max_new_tokens": sum(t >= args.max_new_tokens for t in single_tokens),
        "documents": [{"id": row["id"], "task": row["task"], "batched": b, "single": s}
                      for row, b, s in zip(rows, batched_texts, single_texts, strict=True)],
        "rounds": [{k: v for k, v in r.items() if k != "texts"} for r in rounds],
        "batch_size": batch_size,
        "prompt_tokens_single": [int(b["input_ids"].shape[1]) for b in inputs["single"]],
        "data": {**data_info, "split": args.split, "task": args.task},
        "model": {"experiment": args.experiment, "preset": cfg.model.net.get("preset"),
                  "parameters": count_parameters(module.net), "lora": bool(cfg.model.get("lora")),
                  "generation": dict(module.generation)},
        "transformers": common.package_version("transformers"), "peft": common.package_version("peft"),
    }
    method = {
        "generation": "PaddleOCRVL.generate_texts (net.generate: greedy, use_cache=True, the module's generation "
                      f"settings with max_new_tokens={args.max_new_tokens}, repeat_stop={args.repeat_stop}), eval mode, "
                      "torch.no_grad; random weights",
        "inputs": f"the first {args.docs} pairs of the {args.split} split, prompts collated by the module's "
                  "VLChatCollator (answer None: left padding) before timing; batched: chunks of "
                  f"{batch_size} in order; single: one row per call",
        "timing": "one untimed call per path, then per round both paths over all documents (order alternating); "
                  "seconds = sum of the generate_texts calls (generation + decoding to text); medians over rounds",
        "tokens": "PaddleOCRVL's count: generated ids that are neither pad nor eos",
        "identity": "decoded answers of round 1, batched vs single, compared as strings per document",
        "overrides": overrides,
    }
    common.print_table(
        f"{NAME}: PaddleOCR-VL {results['model']['preset']} ({args.experiment}), {args.docs} documents, "
        f"max_new_tokens {args.max_new_tokens}, median of {args.rounds} rounds",
        ["path", "calls", "docs/s", "generated tokens/s", "tokens", "padding share"],
        [[LABELS[p], summary[p]["calls"], summary[p]["docs_per_s_median"], summary[p]["tokens_per_s_median"],
          summary[p]["generated_tokens"], f"{1 - summary[p]['real_tokens'] / summary[p]['padded_tokens']:.1%}"]
         for p in PATHS]
        + [["batched / single", None, results["speedup_docs_per_s"], results["speedup_tokens_per_s"], None, None]],
        caption=f"identical answers batched vs single: {sum(same)}/{len(same)} ({results['identical_answers_share']:.0%}); "
                f"answers the same in every round: {deterministic}; {results['documents_hitting_max_new_tokens']} of "
                f"{args.docs} single answers ran to max_new_tokens; batch size {batch_size}; "
                f"{results['model']['parameters']:,} parameters, random weights; torch threads {torch.get_num_threads()}"
                + ("\n--quick: tiny smoke run, the figures mean nothing" if args.quick else ""),
    )
    common.write_results(NAME, args, results, method)


if __name__ == "__main__":
    main()
