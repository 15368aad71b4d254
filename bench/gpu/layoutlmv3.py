"""GPU training throughput of the LayoutLMv3 multitask family: ``experiment=layoutlmv3_multitask``
(LayoutLMv3-base's shape: 12 x 768, visual embedding at 224 px, 512-token windows, 50,265 embedding
rows as LayoutLMv3-base's vocabulary; batch 4 documents x 8 accumulated, bf16-mixed) on synthetic
business documents (``BusinessDocGenerator``, ``layoutlmv3_overhead.ensure_business_docs``).

Random weights (the experiment without ``model.pretrained``: a from-scratch run; a pretrained
encoder has the same shape and step cost). The tokenizer is the experiment's BPE learned from the
training words with ``model.tokenizer.vocab_size=50265`` rows reserved (the experiment's 8,000
would make the embedding smaller than LayoutLMv3-base's). A sample is a document (one or more
512-token windows). Strategies: one GPU (``trainer=gpu``) and ``ddp``, ``fsdp``, ``fsdp2`` on all
visible GPUs (2+).

    python bench/gpu/layoutlmv3.py                      # where a GPU is lent
    python bench/gpu/layoutlmv3.py --cpu-smoke --quick  # the code path on the CPU (tiny encoder; tests)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu_common
from gpu_common import Family, Row


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-samples", type=int, default=400,
                        help="generated documents (80%% train); --quick 40")


def _data(args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    import layoutlmv3_overhead

    num = 40 if args.quick and args.num_samples == 400 else args.num_samples
    path, info = layoutlmv3_overhead.ensure_business_docs(num, 0, gpu_common.generation_workers(args),
                                                          not (args.quick or args.cpu_smoke))
    return [f"data.data_dir={path}", "++data.synth=null"], info


FAMILY = Family(
    name="layoutlmv3",
    description="LayoutLMv3 multitask, experiment=layoutlmv3_multitask (LayoutLMv3-base's shape)",
    rows=[Row("base", "layoutlmv3_multitask", ["model.tokenizer.vocab_size=50265"], warmup=3, steps=15,
              quick=["model/encoder=tiny", "model.max_length=128", "model.stride=32",
                     "model.tokenizer.vocab_size=600"],
              smoke_batch_size=2, note="random weights; 50,265 embedding rows")],
    strategies=("single", "ddp", "fsdp", "fsdp2"),
    unsupported={},
    size_key="num_words",
    unit="docs",
    data=_data,
    add_options=_options,
)

if __name__ == "__main__":
    sys.exit(gpu_common.main(FAMILY, __doc__))
