"""Every notebook in notebooks/ runs end to end (nbclient, a kernel on this venv's Python) at
tiny sizes set in its "parameters" cell, and is committed without outputs.

Parameters are injected the way papermill does it: a cell tagged ``injected-parameters`` right
after the cell tagged ``parameters``, assigning the tiny values below. A new notebook needs a
``parameters`` cell and an entry in ``TINY`` (the test fails naming it otherwise).
"""

from __future__ import annotations

import ast
import json
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, compose_config, tiny_overrides

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 90  # no cell of a notebook may take longer at the tiny sizes
NOTEBOOK_TIMEOUT_S = 300  # the whole test of one notebook (kernel start and run dirs included)

# tiny values for each notebook's parameters cell (WORKDIR, where a notebook has one, is set to
# the test's tmp_path), and the least number of images (plots, pages) its outputs must hold
TINY: dict[str, dict] = {
    "crnn_thai_quickstart.ipynb": {
        "params": {"TRAIN_LINES": 48, "EVAL_LINES": 16, "MAX_CHARS": 14, "STEPS": 12, "VAL_EVERY": 6,
                   "BATCH_SIZE": 8, "TORCH_THREADS": 1, "SHOW": 4},
        "images": 3,
    },
    "trocr_quickstart.ipynb": {
        "params": {"TRAIN_LINES": 48, "EVAL_LINES": 16, "MAX_CHARS": 14, "NET": "tiny", "STEPS": 8, "VAL_EVERY": 4,
                   "BATCH_SIZE": 8, "MAX_NEW_TOKENS": 16, "TORCH_THREADS": 1, "SHOW": 4},
        "images": 3,
    },
    "layoutlmv3_quickstart.ipynb": {
        "params": {"DOCUMENTS": 40, "DPI": 40, "ENCODER": "tiny", "MAX_LENGTH": 128, "STRIDE": 32,
                   "VOCAB_SIZE": 600, "STEPS": 8, "VAL_EVERY": 4, "BATCH_SIZE": 4, "TORCH_THREADS": 1, "SHOW": 4},
        "images": 2,
    },
    "paddleocr_vl_quickstart.ipynb": {
        "params": {"DOCUMENTS": 10, "DPI": 36, "NET": "tiny", "TASKS": ["vendor", "summary"], "VOCAB_SIZE": 600,
                   "STEPS": 6, "VAL_EVERY": 3, "BATCH_SIZE": 4, "MAX_NEW_TOKENS": 12, "TORCH_THREADS": 1,
                   "SHOW": 4},
        "images": 2,
    },
    "synthetic_documents.ipynb": {
        "params": {"DPI": 60, "BUSINESS_DOCS": 10},
        "images": 7 + 11 + 3,  # a page per layout family, per hard kind, and three business documents
    },
    "results.ipynb": {"params": {}, "images": 2},  # RUN_DIRS, SWEEP_DIRS: from the runs the test makes
}

# the last cell of every run: which Python the kernel runs and where ocrlab comes from
PROBE = "import json, sys, ocrlab\nprint(json.dumps({'prefix': sys.prefix, 'ocrlab': ocrlab.__file__}))"


def parameter_names(nb: nbformat.NotebookNode, name: str) -> set[str]:
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{name}: expected one cell tagged 'parameters', found {len(cells)}"
    assert cells[0].cell_type == "code"
    tree = ast.parse(cells[0].source)
    return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}


def inject(nb: nbformat.NotebookNode, values: dict) -> None:
    """A cell tagged ``injected-parameters`` after the ``parameters`` cell (papermill's way)."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "# injected by tests/test_notebooks.py\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A ``python3`` kernelspec that runs this interpreter (the venv's), found first on JUPYTER_PATH,
    so a user-wide ``python3`` kernel elsewhere cannot take its place; temp files under tmp_path."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ocrlab venv)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    return tmp_path


def run_notebook(path: Path, values: dict, workdir: Path) -> tuple[nbformat.NotebookNode, float]:
    """Execute ``path`` with ``values`` injected; returns the executed notebook and its seconds."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    names = parameter_names(nb, path.name)
    if "WORKDIR" in names:
        values = {"WORKDIR": str(workdir), **values}
    unknown = set(values) - names
    assert not unknown, f"{path.name}: its parameters cell does not assign {sorted(unknown)}"
    inject(nb, values)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.monotonic()
    client.execute()
    seconds = time.monotonic() - start
    print(f"{path.name}: {seconds:.1f} s")
    return nb, seconds


def images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for c in nb.cells if c.cell_type == "code" for out in c.outputs)


def check_kernel(nb: nbformat.NotebookNode) -> None:
    """The kernel ran this venv's interpreter and imported this checkout's ocrlab."""
    text = "".join(out.get("text", "") for out in nb.cells[-1].outputs if out.output_type == "stream")
    probe = json.loads(text.strip().splitlines()[-1])
    assert Path(probe["prefix"]) == Path(sys.prefix), probe
    assert Path(probe["ocrlab"]).resolve().is_relative_to(ROOT / "src"), probe


def test_every_notebook_has_tiny_parameters():
    assert {p.name for p in NOTEBOOKS} == set(TINY), "add the new notebook's tiny parameters to TINY"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert set(TINY[path.name]["params"]) <= parameter_names(nb, path.name), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"{path.name} cell {i} has execution timings in its metadata"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", path.name


FAMILY_NOTEBOOKS = [p for p in NOTEBOOKS if p.name != "results.ipynb"]


@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
@pytest.mark.parametrize("path", FAMILY_NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, kernel_env):
    nb, _ = run_notebook(path, dict(TINY[path.name]["params"]), kernel_env / "work")
    check_kernel(nb)
    assert images(nb) >= TINY[path.name]["images"], f"{path.name}: {images(nb)} images shown"


# -- results.ipynb: two tiny CRNN runs, a sweep summary over them, a W&B offline folder ----------------
def _tiny_crnn_run(data_dir: Path, root: Path, name: str, lr: float) -> Path:
    from ocrlab.training import train

    overrides = ["experiment=crnn_thai_cpu", *tiny_overrides(data_dir, root / "logs"), "trainer.max_epochs=2",
                 f"model.optimizer.lr={lr}", "torch_threads=1"]
    train(compose_config("train", overrides, root / name))
    return root / name


@pytest.fixture(scope="module")
def two_runs(tiny_lines, tmp_path_factory) -> tuple[Path, Path, Path]:
    """Two tiny CRNN run dirs (logger=csv), a multirun dir's sweep_summary.json naming them and a
    failed job, and a W&B offline-run folder (its summary and config files) in the first run."""
    root = tmp_path_factory.mktemp("results")
    runs = [_tiny_crnn_run(tiny_lines, root, f"run_{i}", lr) for i, lr in enumerate((3e-3, 1e-3))]
    rows = []
    for job, run in enumerate(runs):
        report = json.loads((run / "training_report.json").read_text())
        best = report["best_metrics"] or {}
        rows.append({"job": job, "overrides": [f"model.optimizer.lr={report['hyperparameters']['model']['optimizer']['lr']}"],
                     "status": "success", "error": None, "best_value": best.get("val/cer"),
                     "best_step": best.get("step"), "run_dir": str(run)})
    rows.append({"job": 2, "overrides": ["model.optimizer.lr=1.0"], "status": "failed",
                 "error": "RuntimeError: simulated", "best_value": None, "best_step": None,
                 "run_dir": str(root / "missing_job")})
    sweep = root / "multiruns" / "sweep"
    sweep.mkdir(parents=True)
    done = [r for r in rows if r["best_value"] is not None]
    summary = {"metric": "val/cer", "mode": "min", "best": min(done, key=lambda r: r["best_value"]) if done else None,
               "rows": rows}
    (sweep / "sweep_summary.json").write_text(json.dumps(summary))
    offline = runs[0] / "wandb" / "offline-run-20260101_000000-abc123"
    (offline / "files").mkdir(parents=True)
    (offline / "files" / "wandb-summary.json").write_text(json.dumps({"val/cer": 0.5, "_step": 12}))
    (offline / "files" / "config.yaml").write_text("model:\n  value:\n    optimizer:\n      lr: 0.003\n")
    (offline / "run-abc123.wandb").write_bytes(b"")
    table = offline / "files" / "media" / "table" / "val"
    table.mkdir(parents=True)
    (table / "samples_6_0123abcd.table.json").write_text(json.dumps(
        {"columns": ["reference", "prediction"], "data": [["planted reference", "planted prediction"]]}))
    return runs[0], runs[1], sweep


@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
def test_results_notebook_compares_runs_and_reads_a_sweep(two_runs, kernel_env):
    run_a, run_b, sweep = two_runs
    values = {"RUN_DIRS": [str(run_a), str(run_b)], "SWEEP_DIRS": [str(sweep)], "LOG_ROOT": str(kernel_env / "none")}
    nb, _ = run_notebook(ROOT / "notebooks" / "results.ipynb", values, kernel_env / "work")
    check_kernel(nb)
    assert images(nb) >= TINY["results.ipynb"]["images"]
    text = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"])
    for expected in (run_a.name, run_b.name, "model.optimizer.lr=1.0", "simulated",
                     "offline-run-20260101_000000-abc123", "planted prediction"):
        assert expected in text, expected


@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
def test_results_notebook_without_runs_or_sweeps_says_so(kernel_env):
    empty = kernel_env / "empty_logs"
    empty.mkdir()
    nb, _ = run_notebook(ROOT / "notebooks" / "results.ipynb", {"RUN_DIRS": [], "SWEEP_DIRS": [], "LOG_ROOT": str(empty)},
                         kernel_env / "work")
    text = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"])
    assert "no run dirs" in text and "no sweep_summary.json" in text
