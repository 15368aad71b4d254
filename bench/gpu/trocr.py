"""GPU training throughput of the TrOCR family: the teacher at trocr-base's shape
(``experiment=trocr_teacher``, ``model/trocr_net=base``: ViT-base at 384 x 384 + a 12-layer 1024-wide
decoder, batch 32 x 2 accumulated) and a student at trocr-small's shape distilled from it
(``experiment=trocr_distill_cpu`` with ``model/trocr_net=small``: DeiT-small + a 6-layer 256-wide
decoder, token-level KD from the frozen base teacher, batch 32), on synthetic Thai lines.

The student's teacher is the teacher row's one-device run (its ``last.ckpt``, weights only; random
weights trained for the benchmark's few steps: the KD step costs the same) or ``--teacher CKPT``.
The student's run differs from ``trocr_distill_cpu`` in its shape (``small``), ``model.ctc_weight=0``
(the CPU recipe's CTC term reads the 48 columns of its 8-px strips; trocr-small's 384 x 384 input
has 24 patch columns, fewer than a long line's characters) and the GPU trainer. Both rows keep the
experiments' tokenizer (characters, learned from the training lines). Strategies: one GPU
(``trainer=gpu``, bf16-mixed) and ``ddp``, ``fsdp``, ``fsdp2`` on all visible GPUs (2+; the
teacher of a distillation run is held whole on every rank, outside the sharded module).

    python bench/gpu/trocr.py                      # where a GPU is lent
    python bench/gpu/trocr.py --cpu-smoke --quick  # the code path on the CPU (tiny shapes; tests)
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
    gpu_common.add_line_options(parser)
    parser.add_argument("--teacher", type=Path, default=None,
                        help="the student's teacher (a TrOCR checkpoint or export; default: the teacher row's "
                             "one-device run)")


def _teacher_checkpoint(args: argparse.Namespace, runs: list[dict[str, Any]]) -> list[str] | str:
    if args.teacher is not None:
        return [f"model.teacher={args.teacher.resolve()}"]
    for run in runs:
        if run["model"] == "teacher" and run["strategy"] == "single" and run["status"] == "ok":
            ckpt = Path(run["run_dir"]) / "checkpoints" / "last.ckpt"
            if ckpt.exists():
                return [f"model.teacher={ckpt}"]
    return ("no teacher checkpoint: the teacher row's one-device run did not run or failed "
            "(--teacher CKPT gives one)")


FAMILY = Family(
    name="trocr",
    description="TrOCR: teacher at trocr-base's shape, student at trocr-small's distilled from it",
    rows=[
        Row("teacher", "trocr_teacher", ["data=thai_lines", "model/trocr_net=base"], warmup=5, steps=20,
            quick=["model/trocr_net=tiny"], smoke_batch_size=4, keep_checkpoint=True,
            note="random weights; experiment=trocr_teacher"),
        Row("student", "trocr_distill_cpu",
            ["data=thai_lines", "model/trocr_net=small", "model.ctc_weight=0.0", "model.distill.mode=logits"],
            warmup=10, steps=40, quick=["model/trocr_net=tiny"], smoke_batch_size=4, prepare=_teacher_checkpoint,
            note="token-level KD from the teacher row's checkpoint; experiment=trocr_distill_cpu on the GPU"),
    ],
    strategies=("single", "ddp", "fsdp", "fsdp2"),
    unsupported={},
    size_key="labels",
    unit="lines",
    data=gpu_common.line_data,
    add_options=_options,
)

if __name__ == "__main__":
    sys.exit(gpu_common.main(FAMILY, __doc__))
