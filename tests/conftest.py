"""Shared fixtures: a tiny generated Thai-line dataset and Hydra config composition."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl

from ocrlab.config import compose_config  # noqa: F401  (re-exported for the tests)

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_SILENT", "true")

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
PYTHON = sys.executable

# the tiny dataset every pipeline test trains on (generated once per session)
TINY_SPLITS = {"train": 48, "val": 16, "test": 16}


@pytest.fixture(scope="session")
def tiny_lines(tmp_path_factory) -> Path:
    from ocrlab.synth.thai_lines import generate_thai_lines

    out = tmp_path_factory.mktemp("data") / "tiny_lines"
    generate_thai_lines(out, splits=TINY_SPLITS, seed=123, workers=1, max_chars=14, progress=False)
    return out


def tiny_overrides(data_dir: Path, log_dir: Path) -> list[str]:
    """Overrides that point any CRNN experiment at the tiny dataset and keep runs short."""
    return [
        f"data.data_dir={data_dir}",
        "data.synth=null",
        "data.batch_size=8",
        f"paths.log_dir={log_dir}",
        "logger=csv",
        "callbacks.progress_bar.refresh_rate=0",
        # epoch-based budget and validation, whatever step budget the experiment sets
        "trainer.max_epochs=2",
        "trainer.max_steps=-1",
        "trainer.val_check_interval=1.0",
        "trainer.check_val_every_n_epoch=1",
    ]


def run_cli(args: list[str], timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run an entry script (``train.py``, ``evaluate.py``) in a fresh process from the root."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([PYTHON, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=full_env, check=False)


class StopAfterEpochs(pl.Callback):
    """Test callback: stop training (``fail=False``) or crash (``fail=True``) after N epochs."""

    def __init__(self, epochs: int = 1, fail: bool = False):
        self.epochs = epochs
        self.fail = fail

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch + 1 >= self.epochs:
            if self.fail:
                raise RuntimeError("simulated crash")
            trainer.should_stop = True
