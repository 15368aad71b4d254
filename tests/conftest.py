"""Shared fixtures: a tiny generated Thai-line dataset and Hydra config composition."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl

from ocrlab.config import compose_config

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
    """Overrides that point any text-line experiment at the tiny dataset and keep runs short."""
    return [
        "data=thai_lines",
        f"data.data_dir={data_dir}",
        "data.synth=null",
        "data.batch_size=8",
        *run_overrides(log_dir),
    ]


def run_overrides(log_dir: Path) -> list[str]:
    """Overrides that keep any experiment's run short and its files under ``log_dir``."""
    return [
        f"paths.log_dir={log_dir}",
        "logger=csv",
        "callbacks.progress_bar.refresh_rate=0",
        # epoch-based budget and validation, whatever step budget the experiment sets
        "trainer.max_epochs=2",
        "trainer.max_steps=-1",
        "trainer.val_check_interval=1.0",
        "trainer.check_val_every_n_epoch=1",
    ]


# -- processes (tests of killed commands) -------------------------------------------------------
def descendants(pid: int) -> set[int]:
    """Process ids below ``pid`` (psutil if installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = set(), [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.add(child)
                todo.append(child)
        return found
    return {p.pid for p in psutil.Process(pid).children(recursive=True)}


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def survivors(pids: set[int], seconds: float = 5.0) -> list[int]:
    """The processes of ``pids`` still running after waiting up to ``seconds`` for them to end."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    return sorted(pid for pid in pids if alive(pid))


def run_cli(args: list[str], timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run an entry script (``train.py``, ``evaluate.py``) in a fresh process from the root."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([PYTHON, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=full_env, check=False)


# -- runs of train.py (distributed tests of every family) ---------------------------------------
def train_ok(args: list[str]) -> subprocess.CompletedProcess:
    """``train.py`` with ``args`` in a fresh process; fails the test (with its stderr) unless it succeeds."""
    out = run_cli(["train.py", *args])
    assert out.returncode == 0, out.stderr[-4000:]
    return out


def run_dirs(logs: Path) -> list[Path]:
    """The run dirs of ``train.py`` runs logging under ``logs`` (``paths.log_dir``), oldest first."""
    return sorted(p for p in (logs / "train" / "runs").iterdir() if p.is_dir())


def step_losses(run_dir: Path) -> dict[int, float]:
    """``train/loss_step`` by global step, from a run's CSV logger (``logger=csv``)."""
    import csv

    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return {int(r["step"]): float(r["train/loss_step"]) for r in csv.DictReader(f) if r.get("train/loss_step")}


def training_report(run_dir: Path) -> dict:
    import json

    return json.loads((run_dir / "training_report.json").read_text())


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


@pytest.fixture(scope="session")
def tiny_docs(tmp_path_factory) -> Path:
    """A few generated business documents in the annotation format (every split)."""
    from ocrlab.synth.business_docs import BusinessDocGenerator
    from ocrlab.synth.dataset import write_dataset

    out = tmp_path_factory.mktemp("data") / "tiny_docs"
    write_dataset(BusinessDocGenerator(seed=7, dpi=40), out, TINY_DOCS, workers=1, progress=False)
    return out


TINY_DOCS = 40  # 32 train, 4 val, 4 test (index % 10)


def tiny_doc_overrides(data_dir: Path, log_dir: Path) -> list[str]:
    """Overrides that point any document experiment at the tiny documents with a tiny encoder."""
    return [
        f"data.data_dir={data_dir}",
        "++data.synth=null",
        "data.batch_size=4",
        "data.num_workers=0",
        "model/encoder=tiny",
        "model.max_length=128",
        "model.stride=32",
        "model.tokenizer.vocab_size=600",
        "++model.init_from=null",
        "trainer.precision=32-true",
        "trainer.accelerator=cpu",
        "trainer.accumulate_grad_batches=1",
        *run_overrides(log_dir),
    ]


def make_pairs_dataset(root: Path, documents: int) -> Path:
    """``root/invoices`` (small pages, no hard kinds) and their instruction pairs ``root/pairs``."""
    from ocrlab.synth.dataset import write_dataset
    from ocrlab.synth.invoices import InvoiceGenerator
    from ocrlab.synth.pairs import make_pairs

    write_dataset(InvoiceGenerator(seed=5, dpi=36, hard_ratio=0.0), root / "invoices", documents, workers=1,
                  progress=False)
    make_pairs(root / "invoices", root / "pairs", pairs_per_sample=5, seed=0, progress=False)
    return root / "pairs"


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests: the test machines share 2 cores, and 2 OpenMP
    threads under load are several times slower (``pytestmark = usefixtures("one_torch_thread")``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_pairs(tmp_path_factory) -> Path:
    """Instruction pairs (5 per document) of a few generated invoices: 8 / 1 / 1 documents."""
    return make_pairs_dataset(tmp_path_factory.mktemp("data"), 10)


def tiny_pair_overrides(pairs_dir: Path, log_dir: Path) -> list[str]:
    """Overrides that point any vision-language experiment at the tiny pairs with a tiny model:
    the short-answer tasks, small images, a few generated tokens."""
    return [
        f"data.pairs_dir={pairs_dir}",
        "++data.synth=null",
        "data.tasks=[vendor,summary]",
        "data.batch_size=4",
        "data.eval_batch_size=4",
        "data.num_workers=0",
        "model/net=tiny",
        "++model.pretrained=null",
        "model.processor.vocab_size=600",
        "model.processor.min_pixels=3136",
        "model.processor.max_pixels=12544",
        "model.max_length=512",
        "model.generation.max_new_tokens=12",
        "model.gradient_checkpointing=false",
        "trainer.precision=32-true",
        "trainer.accelerator=cpu",
        "trainer.accumulate_grad_batches=1",
        "++trainer.limit_val_batches=1",
        *run_overrides(log_dir),
    ]


# -- families ---------------------------------------------------------------------------------
# Every experiment of every family runs in the parametrized tests on tiny data: the data module
# target an experiment composes names the fixture that makes its tiny dataset and the overrides
# that point the experiment at it. A new family adds its entry; an experiment whose data target
# has none fails its tests with a message saying so.
FAMILY_DATA = {
    "ocrlab.datamodules.TextLineDataModule": ("tiny_lines", tiny_overrides),
    "ocrlab.families.layoutlmv3.DocumentDataModule": ("tiny_docs", tiny_doc_overrides),
    "ocrlab.families.paddleocr_vl.InstructionPairsDataModule": ("tiny_pairs", tiny_pair_overrides),
}
# the experiment each model target's contract test trains it with (on that family's tiny data)
FAMILY_MODELS = {
    "ocrlab.families.crnn.CTCRecognizer": "crnn_thai_dev",
    "ocrlab.families.layoutlmv3.LayoutLMv3Multitask": "layoutlmv3_multitask_cpu",
    "ocrlab.families.paddleocr_vl.PaddleOCRVL": "paddleocr_vl_lora_cpu",
    "ocrlab.families.trocr.TrOCR": "trocr_teacher_cpu",
    "ocrlab.families.trocr.TrOCRDistillation": "trocr_distill_cpu",
}
# what an experiment needs besides its family's tiny data: its model at the family's tiny size, a
# teacher or a model to start from, keyed by the experiment's model target: (request, composed cfg) ->
# overrides
def _tiny_trocr(request: pytest.FixtureRequest, cfg) -> list[str]:
    from omegaconf import OmegaConf

    teacher = request.getfixturevalue("tiny_trocr_teacher")
    model = OmegaConf.to_container(cfg.model, resolve=True)
    extra = [f"model.pretrained={teacher}"] if model.get("pretrained") == "???" else []  # LoRA starts from a model
    if "teacher" in model:
        extra.append(f"model.teacher={teacher}")
    return ["model/trocr_net=tiny", *extra]


MODEL_NEEDS = {
    "ocrlab.families.trocr.TrOCR": _tiny_trocr,
    "ocrlab.families.trocr.TrOCRDistillation": _tiny_trocr,
}


@pytest.fixture(scope="session")
def tiny_trocr_teacher(tiny_lines, tmp_path_factory) -> Path:
    """A tiny TrOCR teacher trained two steps on the tiny lines: its last.ckpt."""
    from ocrlab.training import train

    out = tmp_path_factory.mktemp("trocr_teacher")
    overrides = ["experiment=trocr_teacher_cpu", "model/trocr_net=tiny", *tiny_overrides(tiny_lines, out / "logs"),
                 "trainer.max_epochs=1", "trainer.max_steps=2", "++trainer.limit_val_batches=1", "test=false"]
    train(compose_config("train", overrides, out / "run"))
    return out / "run" / "checkpoints" / "last.ckpt"


def experiment_overrides(experiment: str, request: pytest.FixtureRequest, log_dir: Path) -> list[str]:
    """``experiment=<name>`` plus the overrides that run it on its family's tiny data."""
    cfg = compose_config("train", [f"experiment={experiment}"], log_dir / "compose")
    target = cfg.data._target_
    if target not in FAMILY_DATA:
        pytest.fail(f"experiment {experiment}: no tiny data for data target {target} (add it to FAMILY_DATA)")
    fixture, overrides = FAMILY_DATA[target]
    needs = MODEL_NEEDS.get(cfg.model._target_)
    extra = needs(request, cfg) if needs else []
    return [f"experiment={experiment}", *overrides(request.getfixturevalue(fixture), log_dir), *extra]


class OtherTaskBaseline:
    """A baseline of another task than text lines (tests that evaluate.py refuses it)."""

    name = "other"
    task = "documents"


def model_and_data(cfg, stage: str | None = "fit"):
    """What ``train`` builds before fitting, in its order: the data module, the label spaces
    learned from its training split, the model, the data attached (and set up for ``stage``)."""
    from hydra.utils import instantiate

    from ocrlab.label_spaces import fit_label_spaces
    from ocrlab.loading import build_model

    dm = instantiate(cfg.data)
    model = build_model(fit_label_spaces(cfg.model, dm))
    dm.attach_model(model)
    if stage:
        dm.setup(stage)
    return model, dm
