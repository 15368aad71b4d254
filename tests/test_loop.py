"""The hard-sample loop (``ocrlab-loop``): two rounds on tiny generated invoices, interrupted and
resumed at the stage it reached, the per-round table in its files and in the loggers."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, tiny_pair_overrides

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
    from ocrlab.loop import STAGES, Loop, LoopStateError

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
    from ocrlab.loading import read_metadata
    from ocrlab.loop import Loop

    loop_dir = tmp_path / "loop"
    overrides = [o for o in loop_overrides(loop_dir, tmp_path / "logs") if not o.startswith("rounds=")]
    overrides += ["rounds=1", "trainer=ddp", "trainer.devices=2", "+wandb_api_key=k3y-never-on-disk"]
    rows = Loop(compose_config("loop", overrides, tmp_path / "run")).run()
    assert [row["round"] for row in rows] == [0] and 0.0 <= rows[0]["test/overall_score"] <= 1.0
    # the config handed to the training process is a config dump: no secret in it
    assert "k3y-never-on-disk" not in (loop_dir / "round_0" / "train_process" / "training_config.json").read_text()
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
    from ocrlab.loop import Loop

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
