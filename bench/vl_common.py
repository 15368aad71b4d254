"""What the PaddleOCR-VL benchmarks (``bench/vl_*.py``) share: generated instruction pairs, the
overrides that point an experiment at them, and a Lightning step timer for chat batches.

Data: invoices from ``InvoiceGenerator`` (no hard samples) written with ``write_dataset`` and their
instruction pairs from ``make_pairs`` (five per document, split 80/10/10 by document), the code
path of ``ocrlab-synth invoices`` + ``ocrlab-synth pairs``, into
``bench/.cache/data/vl_pairs-<hash of the spec>/{invoices,pairs}`` on first use (reused afterwards).
Pages are rendered at 72 dpi: an A4 page is then ~500k pixels, which the CPU experiments' image
processor (``max_pixels`` 200,704) shrinks to at most 256 image tokens, the same as a 150 dpi page,
for a fraction of the rendering time.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import common
import pytorch_lightning as pl

LORA_EXPERIMENT = "paddleocr_vl_lora_cpu"


def ensure_pairs(documents: int, seed: int = 0, dpi: float = 72, workers: int = 1,
                 progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """``(pairs_dir, facts for the JSON)`` of ``documents`` generated invoices' instruction pairs."""
    from ocrlab.synth.dataset import write_dataset
    from ocrlab.synth.invoices import InvoiceGenerator
    from ocrlab.synth.pairs import make_pairs

    generator = InvoiceGenerator(seed=seed, dpi=dpi, hard_ratio=0.0)
    spec = {"generator": generator.spec(), "documents": documents, "pairs_per_sample": 5, "pairs_seed": 0}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    root = common.CACHE_DIR / "data" / f"vl_pairs-{digest}"
    existed = (root / "pairs").is_dir()
    start = time.perf_counter()
    write_dataset(generator, root / "invoices", documents, workers=max(1, workers), progress=progress)
    summary = make_pairs(root / "invoices", root / "pairs", pairs_per_sample=5, seed=0, progress=progress)
    return root / "pairs", {"path": str(root / "pairs"), "documents": documents, "seed": seed, "dpi": dpi,
                            "pairs": dict(summary.pairs), "generated_now": not existed,
                            "generation_s": None if existed else round(time.perf_counter() - start, 2)}


def data_overrides(pairs_dir: Path, batch_size: int | None = None) -> list[str]:
    """The pairs above, loaded in the main process (as the CPU experiments do), nothing generated."""
    return [f"data.pairs_dir={pairs_dir}", "++data.synth=null", "data.num_workers=0",
            *([f"data.batch_size={batch_size}"] if batch_size else [])]


def cpu_training_overrides(n_steps: int, threads: int | None) -> list[str]:
    """Training steps only, fp32 on the CPU: no validation, sanity check, test or starting-weights
    evaluation (``evaluate_base``: it generates answers before the first step)."""
    return ["trainer.accelerator=cpu", "trainer.precision=32-true", "trainer.accumulate_grad_batches=1",
            "test=false", "++trainer.max_time=null", "++trainer.limit_val_batches=0",
            "++trainer.num_sanity_val_steps=0", f"trainer.max_steps={n_steps}", "model.evaluate_base=false",
            *([f"torch_threads={threads}"] if threads else [])]


def batch_key(batch: dict) -> tuple[int, int, int, int, int]:
    """(rows, padded length, sum of token ids, answer tokens, image tokens) of a chat batch."""
    ids = batch["input_ids"]
    answer = int((batch["labels"] != -100).sum()) if "labels" in batch else 0
    image = int(batch["mm_token_type_ids"].sum()) if "mm_token_type_ids" in batch else 0
    return int(ids.shape[0]), int(ids.shape[1]), int(ids.sum()), answer, image


def batch_facts(batch: dict) -> dict[str, int]:
    rows, length, _, answer, image = batch_key(batch)
    return {"rows": rows, "padded_length": length, "answer_tokens": answer, "image_tokens": image,
            "real_tokens": int(batch["attention_mask"].sum())}


class VLStepTimer(pl.Callback):
    """:class:`common.StepTimer` for chat batches: the time at the end of every training batch, its
    :func:`batch_key`, the step's loss, and a checksum of the initial weights (all parameters)."""

    def __init__(self):
        self.ends: list[float] = []
        self.sizes: list[int] = []
        self.batches: list[tuple[int, int, int, int, int]] = []
        self.losses: list[float] = []
        self.initial_weights: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self.initial_weights = common.weights_checksum(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.ends.append(time.perf_counter())
        key = batch_key(batch)
        self.batches.append(key)
        self.sizes.append(key[0])
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss))
