"""GPU training throughput of the CRNN-CTC family: ``experiment=crnn_thai`` (MobileNetV3-large x0.5 +
BiLSTM 96 + CTC, batch 256) on synthetic Thai lines.

Rows: ``crnn_thai`` (the GPU recipe; ``crnn_thai_prod`` has the same network and batch, only its
learning rate and epochs differ). Strategies: one GPU (``trainer=gpu``) and ``trainer=ddp`` on all
visible GPUs (2+). ``fsdp`` / ``fsdp2`` are not run by default: the CRNN has no transformer blocks
(no ``layer_classes``), so FSDP would shard its ~2 M parameters as one unit, which saves nothing
(``--strategies fsdp fsdp2`` runs them anyway). Precisions: ``bf16-mixed`` (``trainer=gpu``) and
``32-true`` (the faster one for a network this small on an H100: README, "Distributed and GPU").
Data loading: 4 workers (``crnn_thai`` loads in the main process, its CPU default).

    python bench/gpu/crnn.py                      # where a GPU is lent
    python bench/gpu/crnn.py --cpu-smoke --quick  # the code path on the CPU (tests)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu_common
from gpu_common import Family, Row

FAMILY = Family(
    name="crnn",
    description="CRNN-CTC, experiment=crnn_thai",
    rows=[Row("crnn_thai", "crnn_thai", ["data=thai_lines"], warmup=10, steps=50, smoke_batch_size=8)],
    strategies=("single", "ddp"),
    unsupported={s: "not run by default: the CRNN has no transformer blocks (no layer_classes), so FSDP shards its "
                    "~1.5 M parameters as one unit and saves nothing (--strategies single ddp fsdp fsdp2 runs them)"
                 for s in ("fsdp", "fsdp2")},
    size_key="labels",
    unit="lines",
    data=gpu_common.line_data,
    precisions=("bf16-mixed", "32-true"),
    add_options=gpu_common.add_line_options,
)

if __name__ == "__main__":
    sys.exit(gpu_common.main(FAMILY, __doc__))
