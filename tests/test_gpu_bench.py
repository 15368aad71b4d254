"""The GPU benchmarks (``bench/gpu/<family>.py``) on the CPU: ``--cpu-smoke --quick`` runs each
script's code path (data generation into ``bench/.cache``, ``train(cfg)`` with the step timer,
the table, the JSON) with tiny shapes, 32-true and a few steps; without ``--cpu-smoke`` and
without a GPU a script refuses with exit code 2. One subprocess per script (~15-40 s each on 2
busy cores): slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# family -> the rows its script trains
FAMILIES = {"crnn": ["crnn_thai"], "layoutlmv3": ["base"], "paddleocr_vl": ["real_lora"],
            "trocr": ["teacher", "student"]}
RUN_KEYS = {"model", "strategy", "precision", "precision_used", "devices", "lightning_strategy", "status",
            "samples_per_s", "window_s", "samples", "ms_per_optimizer_step", "peak_gpu_mem_gib", "batch_size",
            "global_batch", "warmup_steps", "timed_steps", "overrides"}


def _run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, check=False)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_cpu_smoke_writes_results(family, tmp_path):
    out = tmp_path / f"gpu_{family}.json"
    proc = _run([f"bench/gpu/{family}.py", "--cpu-smoke", "--quick", "--output", str(out)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    payload = json.loads(out.read_text())
    assert payload["benchmark"] == f"gpu_{family}" and payload["quick"] is True
    results = payload["results"]
    assert results["family"] == family and results["cpu_smoke"] is True
    runs = results["runs"]
    assert [r["model"] for r in runs] == FAMILIES[family]
    for run in runs:
        assert RUN_KEYS <= set(run), RUN_KEYS - set(run)
        assert run["status"] == "ok"
        assert run["samples_per_s"] > 0 and run["window_s"] > 0 and run["samples"] > 0
        assert run["strategy"] == "single" and run["devices"] == 1
        assert run["precision"] == run["precision_used"] == "32-true"
        assert run["lightning_strategy"] == "SingleDeviceStrategy"
        assert run["peak_gpu_mem_gib"] is None  # no GPU: no GPU memory figure
    # the multi-device strategies are skipped with a reason (no GPUs), never silently
    skipped = {s["strategy"] for s in results["skipped"]}
    assert {"ddp", "fsdp", "fsdp2"} <= skipped
    assert all(s["reason"] for s in results["skipped"])
    assert "figures mean nothing" in proc.stdout


def test_refuses_without_a_gpu(tmp_path):
    out = tmp_path / "gpu_crnn.json"
    proc = _run(["bench/gpu/crnn.py", "--quick", "--output", str(out)], env={"CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "no CUDA GPU" in proc.stderr and "--cpu-smoke" in proc.stderr
    assert not out.exists()
