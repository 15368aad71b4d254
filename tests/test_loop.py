"""The hard-sample loop (``ocrlab-loop``): two rounds on tiny generated invoices, interrupted and
resumed at the stage it reached, the per-round table in its files and in the loggers; a killed
loop leaves no process behind; no secret reaches the loop's files."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, descendants, survivors, tiny_pair_overrides

from ocrlab.config import compose_config

pytestmark = pytest.mark.slow


class Interrupted(Exception):
    pass


def loop_overrides(loop_dir: Path, log_dir: Path) -> list[str]:
    tiny = [o for o in tiny_pair_overrides(Path("unused"), log_dir) if not o.startswith(("data.pairs_dir", "++data.synth"))]
    return [
        "experiment=paddleocr_vl_lora_cpu", *tiny, "rounds=2", f"loop.dir={loop_dir}",
        "data.synth.invoices.num_samples=10", "++data.synth.invoices.dpi=36", "data.synth.invoices.hard_ratio=0.4",
        "data.synth.invoices.workers=1", "loop.hard_documents=6", "loop.val_share=0.2", "loop.holdout.num_samples=4",
        "model.evaluate_base=false", "trainer.max_epochs=1",
    ]


def test_loop_runs_two_rounds_resumes_at_its_stage_and_logs_both(tmp_path):
    from ocrlab.families.paddleocr_vl.loop import STAGES, Loop, LoopStateError

    loop_dir = tmp_path / "loop"
    overrides = loop_overrides(loop_dir, tmp_path / "logs")
    ran: list[tuple[int, str]] = []

    def stop_in_round_1(r: int, stage: str) -> None:
        ran.append((r, stage))
        if (r, stage) == (1, "pairs"):
            raise Interrupted

    with pytest.raises(Interrupted):
        Loop(compose_config("loop", overrides, tmp_path / "run1")).run(stop_in_round_1)
    assert ran == [(0, s) for s in STAGES] + [(1, "generate"), (1, "pairs")]
    state = json.loads((loop_dir / "loop_state.json").read_text())
    assert state["rounds"]["1"]["done"] == ["generate", "pairs"]
    plan = state["rounds"]["0"]["paths"]["plan"]
    assert state["rounds"]["1"]["paths"]["generated_from"] == plan

    # the same command again: round 1 goes on from its training; nothing earlier is redone
    ran.clear()
    rows = Loop(compose_config("loop", overrides, tmp_path / "run2")).run(lambda r, s: ran.append((r, s)))
    assert ran == [(1, "train"), (1, "predict"), (1, "mine")]
    assert [row["round"] for row in rows] == [0, 1]
    assert json.loads((loop_dir / "rounds.json").read_text()) == rows
    for row in rows:
        assert 0.0 <= row["test/overall_score"] <= 1.0 and "mine/hard_share" in row
    # round 0: 10 documents, 2 of them (val_share) for validation; round 1 adds 6 from the plan
    assert (rows[0]["documents"], rows[0]["train_documents"]) == (10, 8)
    assert rows[1]["documents"] == 16 and rows[1]["train_documents"] > 8
    assert rows[0]["targeted_kinds"] == "" and rows[1]["targeted_kinds"]
    # the second round's documents come from the first round's plan: a second dataset part with it
    info = json.loads((loop_dir / "invoices" / "dataset.json").read_text())
    assert len(info["parts"]) == 2 and info["parts"][1]["start"] == 10
    # the held-out set is every round's test split; no training document is a validation one
    for r in (0, 1):
        data = loop_dir / f"round_{r}" / "data"
        ids = {s: {json.loads(x)["id"] for x in (data / f"{s}.jsonl").read_text().splitlines()} for s in ("train", "val")}
        assert not ids["train"] & ids["val"]
        assert (data / "test.jsonl").read_text() == (loop_dir / "round_0" / "data" / "test.jsonl").read_text()
    with open(loop_dir / "rounds.csv", newline="") as f:
        assert [int(r["round"]) for r in csv.DictReader(f)] == [0, 1]

    # another configuration in the same loop dir is refused, naming what changed
    with pytest.raises(LoopStateError, match="model.optimizer.lr"):
        Loop(compose_config("loop", [*overrides, "model.optimizer.lr=0.5"], tmp_path / "run3"))

    # the command: a finished loop is only reported; its rows go to the configured loggers
    out = subprocess.run([str(Path(PYTHON).parent / "ocrlab-loop"), *overrides, "logger=csv"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 round(s)" in out.stdout
    run = next((tmp_path / "logs" / "loop" / "runs").iterdir())
    with open(run / "csv" / "metrics.csv", newline="") as f:
        logged = list(csv.DictReader(f))
    assert sorted(int(r["step"]) for r in logged if r.get("loop/test/overall_score")) == [0, 1]


def test_a_round_trains_on_every_device_and_its_checkpoint_records_the_experiment(tmp_path):
    """trainer=ddp with 2 (gloo) processes: the round's training runs in a process of its own
    whose workers train with it (a worker re-running the loop's command would run the loop)."""
    from ocrlab.families.paddleocr_vl.loop import Loop
    from ocrlab.loading import read_metadata

    loop_dir = tmp_path / "loop"
    overrides = [o for o in loop_overrides(loop_dir, tmp_path / "logs") if not o.startswith("rounds=")]
    overrides += ["rounds=1", "trainer=ddp", "trainer.devices=2", "+wandb_api_key=k3y-never-on-disk"]
    rows = Loop(compose_config("loop", overrides, tmp_path / "run")).run()
    assert [row["round"] for row in rows] == [0] and 0.0 <= rows[0]["test/overall_score"] <= 1.0
    # the config handed to the training process is a config dump: no secret in it, nor in any file of the loop
    assert "k3y-never-on-disk" not in (loop_dir / "round_0" / "train_process" / "training_config.json").read_text()
    assert not files_holding(tmp_path, "k3y-never-on-disk")
    state = json.loads((loop_dir / "loop_state.json").read_text())["rounds"]["0"]
    run = Path(state["paths"]["run"])
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in (run / "train_process_1.log").read_text()  # the worker trained
    report = json.loads((run / "training_report.json").read_text())
    assert report["status"] == "success" and report["device"]["num_devices"] == 2
    # evaluate.py composes a round's checkpoint's experiment: it was recorded without a Hydra job
    assert read_metadata(state["paths"]["checkpoint"])["run"]["experiment"] == "paddleocr_vl_lora_cpu"
    assert Path(state["paths"]["predictions"]).is_file()


def test_loop_needs_generated_data(tmp_path, tiny_pairs):
    from ocrlab.errors import ConfigError
    from ocrlab.families.paddleocr_vl.loop import Loop

    overrides = ["experiment=paddleocr_vl_lora_cpu", *tiny_pair_overrides(tiny_pairs, tmp_path / "logs"),
                 f"loop.dir={tmp_path / 'loop'}"]
    with pytest.raises(ConfigError, match="needs a `synth` section"):
        Loop(compose_config("loop", overrides, tmp_path / "run"))
    with pytest.raises(ConfigError, match="one node"):
        Loop(compose_config("loop", [*loop_overrides(tmp_path / "l2", tmp_path / "logs"), "trainer.num_nodes=2"],
                            tmp_path / "run2"))
    (tmp_path / "l3").mkdir()
    (tmp_path / "l3" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        Loop(compose_config("loop", loop_overrides(tmp_path / "l3", tmp_path / "logs"), tmp_path / "run3"))


def files_holding(root: Path, text: str) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes())


def test_a_secret_given_to_the_loop_reaches_none_of_its_files(tmp_path):
    """``+wandb_api_key=...`` on the loop's command line: neither ``loop_state.json`` (its config
    fingerprint) nor any other file of the loop dir holds it; another secret, or none, is the same
    loop; a changed setting is still refused, naming the key and not the secret."""
    from ocrlab.families.paddleocr_vl.loop import Loop, LoopStateError

    secret = "l00p-s3cret-planted"
    loop_dir = tmp_path / "loop"
    overrides = [o for o in loop_overrides(loop_dir, tmp_path / "logs") if not o.startswith("rounds=")] + ["rounds=1"]

    def stop_after_pairs(r: int, stage: str) -> None:
        if stage == "pairs":
            raise Interrupted

    with pytest.raises(Interrupted):
        Loop(compose_config("loop", [*overrides, f"+wandb_api_key={secret}"], tmp_path / "run1")).run(stop_after_pairs)
    assert (loop_dir / "loop_state.json").is_file()
    assert not files_holding(tmp_path, secret)

    # a state written before secrets were left out resumes, and loses the secret
    state = json.loads((loop_dir / "loop_state.json").read_text())
    state["config"]["wandb_api_key"] = secret
    (loop_dir / "loop_state.json").write_text(json.dumps(state))
    for given in ([f"+wandb_api_key={secret}"], ["+wandb_api_key=an0ther-s3cret"], []):
        loop = Loop(compose_config("loop", [*overrides, *given], tmp_path / "run2"))
        assert loop.state["rounds"]["0"]["done"] == ["generate", "pairs"]
        assert secret not in json.dumps(loop.state)
    with pytest.raises(LoopStateError, match="model.optimizer.lr") as refused:
        Loop(compose_config("loop", [*overrides, f"+wandb_api_key={secret}", "model.optimizer.lr=0.5"],
                            tmp_path / "run3"))
    assert secret not in str(refused.value) and "wandb_api_key" not in str(refused.value)


def test_a_killed_loop_leaves_no_training_process_and_the_rerun_resumes(tmp_path):
    """The ``ocrlab-loop`` command killed (SIGKILL, then SIGTERM on the rerun) while its round trains
    in a process of its own with a DDP worker (2 gloo processes) and a data-loader worker each:
    within seconds no process the loop started is left (none goes on writing the round's run
    dir), and the same command then resumes the round and finishes it."""
    loop_dir = tmp_path / "loop"
    overrides = [o for o in loop_overrides(loop_dir, tmp_path / "logs") if not o.startswith("rounds=")]
    overrides += ["rounds=1", "trainer=ddp", "trainer.devices=2", "data.num_workers=1", "trainer.max_epochs=2"]
    command = [str(Path(PYTHON).parent / "ocrlab-loop"), *overrides]

    def training_tree(proc: subprocess.Popen, data_worker: bool) -> set[int]:
        """The loop's processes once its round trains: the training process (rank 0), its DDP
        worker (rank 1) and, with ``data_worker``, a data-loader worker of either."""
        import psutil

        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                tree = descendants(proc.pid)
                rank0 = psutil.Process(proc.pid).children()
                rank1 = [c for r in rank0 for c in r.children() if c.environ().get("LOCAL_RANK") == "1"]
                workers = tree - {p.pid for p in [*rank0, *rank1]}
                if rank0 and rank1 and (workers or not data_worker):
                    return tree
            time.sleep(0.05)
        raise AssertionError(f"the round's training did not start with its workers (loop exit code {proc.poll()})")

    for sig in (signal.SIGKILL, signal.SIGTERM):
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        tree: set[int] = set()
        try:
            tree = training_tree(proc, data_worker=sig == signal.SIGKILL)
            os.kill(proc.pid, sig)
            assert proc.wait(timeout=60) == -sig
            left = survivors(tree)
            assert not left, f"processes left after the loop got {sig.name}: {left}"
        finally:
            for pid in [proc.pid, *tree]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait()
        state = json.loads((loop_dir / "loop_state.json").read_text())
        assert state["rounds"]["0"]["done"] == ["generate", "pairs"]

    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming the loop in" in done.stdout + done.stderr and "1 round(s)" in done.stdout
    state = json.loads((loop_dir / "loop_state.json").read_text())
    assert state["rounds"]["0"]["done"] == ["generate", "pairs", "train", "predict", "mine"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "sigkill"])
def test_a_process_group_ends_with_the_process_that_waits_for_it(tmp_path, sig):
    """What the loop's training stage stands on (ocrlab.utils.processes), on a stand-in for the
    training process that starts a worker of its own: Ctrl-C, SIGTERM or SIGKILL to the waiting
    process ends both within seconds, and the waiting process ends by that signal."""
    (tmp_path / "child.py").write_text(textwrap.dedent("""
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (see below)
        from ocrlab.utils.processes import PARENT_ENV, exit_with_parent, parent_pid_from_env
        exit_with_parent(parent_pid_from_env(), group=True, poll_s=0.1)
        os.environ[PARENT_ENV] = str(os.getpid())
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(f"{os.getpid()} {worker.pid}")
        os.replace(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(120)
    """))
    pids = tmp_path / "pids"
    # Ctrl-C as in a terminal: a process started from a background job inherits SIGINT ignored
    waiting = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "from ocrlab.utils.processes import run_process_group; run_process_group(sys.argv[1:])")
    proc = subprocess.Popen([sys.executable, "-c", waiting, sys.executable, str(tmp_path / "child.py"), str(pids)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not pids.exists():
            time.sleep(0.02)
        started = [int(x) for x in pids.read_text().split()]
        os.kill(proc.pid, sig)
        assert proc.wait(timeout=30) == -sig
        assert not survivors(set(started)), f"left after {sig.name}"
    finally:
        for pid in [proc.pid, *started]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
