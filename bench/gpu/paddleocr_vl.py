"""GPU training throughput of the PaddleOCR-VL family: ``experiment=paddleocr_vl_lora`` at
PaddleOCR-VL-0.9B's shape (``model/net=real``: SigLIP-style encoder 1152 x 27, ERNIE-4.5-0.3B decoder
1024 x 18, ``model.processor.vocab_size=103424`` for the real head) with the experiment's LoRA (rank
8, alpha 32, dropout 0.05 on the language model), gradient checkpointing, 4,096 tokens, batch 4 x 4
accumulated, bf16-mixed, on instruction pairs of synthetic invoices (``vl_common.ensure_pairs``).

Random weights (``model.pretrained=null``: the experiment requires a local checkpoint for real
training; the step costs the same) and ``model.evaluate_base=false`` (no generation before the
first step). Pages are rendered at ``--dpi`` 150 (an A4 page ~2.2 M pixels: ~2,800 image tokens
under the experiment's ``max_pixels``). A sample is an instruction pair. Strategies: one GPU
(``trainer=gpu``) and ``ddp``, ``fsdp``, ``fsdp2`` on all visible GPUs (2+).

    python bench/gpu/paddleocr_vl.py                      # where a GPU is lent
    python bench/gpu/paddleocr_vl.py --cpu-smoke --quick  # the code path on the CPU (tiny preset; tests)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu_common
from gpu_common import Family, Row

QUICK = ["data.tasks=[vendor,summary]", "model/net=tiny", "model.processor.vocab_size=600",
         "model.processor.min_pixels=3136", "model.processor.max_pixels=12544", "model.max_length=512",
         "model.generation.max_new_tokens=12"]


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--documents", type=int, default=40,
                        help="generated invoices (5 pairs each, 80%% of the documents train); --quick 10")
    parser.add_argument("--dpi", type=float, default=150, help="page rendering resolution; --quick 72")


def _data(args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    import vl_common

    documents = 10 if args.quick and args.documents == 40 else args.documents
    dpi = 72 if args.quick and args.dpi == 150 else args.dpi
    pairs, info = vl_common.ensure_pairs(documents, 0, dpi=dpi, workers=gpu_common.generation_workers(args),
                                         progress=not (args.quick or args.cpu_smoke))
    return [f"data.pairs_dir={pairs}", "++data.synth=null"], info


FAMILY = Family(
    name="paddleocr_vl",
    description="PaddleOCR-VL LoRA, experiment=paddleocr_vl_lora (PaddleOCR-VL-0.9B's shape)",
    rows=[Row("real_lora", "paddleocr_vl_lora",
              ["model.pretrained=null", "model.processor.vocab_size=103424", "model.evaluate_base=false"],
              warmup=2, steps=8, quick=QUICK, smoke_batch_size=2, note="random weights, LoRA r8")],
    strategies=("single", "ddp", "fsdp", "fsdp2"),
    unsupported={},
    size_key="input_ids",
    unit="pairs",
    data=_data,
    add_options=_options,
)

if __name__ == "__main__":
    sys.exit(gpu_common.main(FAMILY, __doc__))
