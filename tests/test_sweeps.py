"""Sweep summaries: a row per job (failed ones too), the best job, the plot, the W&B table; a
sweep whose every job fails still writes its summary and exits non-zero."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import run_cli, tiny_overrides
from omegaconf import OmegaConf

from ocrlab import sweeps


def _job(sweep, num: int, overrides: list[str], report: dict | None, log: str = "") -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if report is not None:
        (job / "training_report.json").write_text(json.dumps(report))
    if log:
        (job / "train.log").write_text(log)


def _report(value: float | None, status: str = "success", error: str | None = None) -> dict:
    best = {"epoch": 1, "step": 20, "val/cer": value} if value is not None else None
    return {"status": status, "error": error, "monitor": {"name": "val/cer", "mode": "min"}, "best_metrics": best}


def test_summary_of_job_dirs(tmp_path):
    _job(tmp_path, 0, ["model.optimizer.lr=0.001", "seed=1"], _report(0.30))
    _job(tmp_path, 1, ["model.optimizer.lr=0.0005", "seed=1"], _report(0.20))
    _job(tmp_path, 2, ["model.optimizer.lr=0.01", "seed=1"], _report(None, "failed", "ValueError: boom"))
    _job(tmp_path, 10, ["model.optimizer.lr=0.1", "seed=1"], None, log="[x] RuntimeError: CUDA out of memory\n")
    summary = sweeps.summarize(tmp_path)
    assert [r.job for r in summary.rows] == [0, 1, 2, 10]  # numeric order, not 0, 1, 10, 2
    assert summary.swept == ["model.optimizer.lr"] and summary.metric == "val/cer" and summary.mode == "min"
    assert summary.best.job == 1 and summary.best.best_value == 0.20 and summary.best.best_step == 20
    assert summary.rows[2].status == "failed" and summary.rows[2].error == "ValueError: boom"
    assert summary.rows[3].status == "no report" and "CUDA out of memory" in summary.rows[3].error
    assert not summary.all_failed
    paths = sweeps.write(summary, tmp_path)
    assert json.loads(paths["json"].read_text())["best"]["job"] == 1
    assert paths["csv"].read_text().splitlines()[0].startswith("job,model.optimizer.lr,status,best val/cer")
    assert "Best: job 1" in paths["markdown"].read_text() and paths["plot"].stat().st_size > 1000


def _grid(tiny_lines, tmp_path, lrs: str, logger: str = "csv", extra: tuple[str, ...] = ()):
    overrides = [*(o for o in tiny_overrides(tiny_lines, tmp_path / "logs") if not o.startswith("logger=")),
                 "experiment=crnn_thai_cpu", "trainer.max_epochs=-1", "trainer.max_steps=4",
                 "trainer.val_check_interval=2", "trainer.check_val_every_n_epoch=null", "test=false",
                 f"logger={logger}", *extra]
    out = run_cli(["train.py", "-m", *overrides, f"model.optimizer.lr={lrs}"], timeout=900,
                  env={"WANDB_MODE": "offline"})
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    return out, sweep


@pytest.mark.slow
def test_grid_summary_with_a_failed_job_and_wandb_table(tiny_lines, tmp_path):
    out, sweep = _grid(tiny_lines, tmp_path, "-1.0,1e-3", logger="wandb")
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((sweep / sweeps.JSON_FILE).read_text())
    rows = summary["rows"]
    assert [r["params"]["model.optimizer.lr"] for r in rows] == ["-1.0", "0.001"]
    assert rows[0]["status"] == "failed" and "learning rate" in rows[0]["error"].lower()
    assert rows[1]["status"] == "success" and rows[1]["best_value"] is not None
    assert summary["best"]["job"] == 1 and summary["metric"] == "val/cer"
    assert (sweep / sweeps.PLOT_FILE).is_file() and (sweep / sweeps.CSV_FILE).is_file()
    # one W&B run per job; the last one's holds the sweep's table, the failed job a row of it
    assert len(list(sweep.rglob("offline-run-*"))) == 2
    tables = list(sweep.glob("1/wandb/offline-run-*/files/media/table/sweep/summary_*.table.json"))
    assert tables, sorted(str(p) for p in sweep.rglob("*.table.json"))[:40]
    table = json.loads(max(tables).read_text())
    assert len(table["data"]) == 2 and "status" in table["columns"]
    status = table["columns"].index("status")
    assert [row[status] for row in table["data"]] == ["failed", "success"]


@pytest.mark.slow
def test_sweep_whose_every_job_fails_writes_its_summary_and_exits_non_zero(tiny_lines, tmp_path):
    out, sweep = _grid(tiny_lines, tmp_path, "-1.0,-2.0")
    assert out.returncode != 0
    rows = json.loads((sweep / sweeps.JSON_FILE).read_text())["rows"]
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert "all 2 jobs of the sweep failed" in out.stderr + out.stdout


@pytest.mark.slow
def test_optuna_search_summary(tiny_lines, tmp_path):
    overrides = [*tiny_overrides(tiny_lines, tmp_path / "logs"), "experiment=crnn_thai_cpu", "trainer.max_epochs=-1",
                 "trainer.max_steps=4", "trainer.val_check_interval=2", "trainer.check_val_every_n_epoch=null",
                 "test=false", "hparams_search=crnn_thai_optuna", "hydra.sweeper.n_trials=3",
                 "hydra.sweeper.sampler.n_startup_trials=3", "data.batch_size=8"]
    out = run_cli(["train.py", "-m", *overrides], timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    summary = json.loads((sweep / sweeps.JSON_FILE).read_text())
    assert len(summary["rows"]) == 3 and all(r["status"] == "success" for r in summary["rows"])
    assert "model.optimizer.lr" in summary["swept"]
    best = min(summary["rows"], key=lambda r: r["best_value"])
    assert summary["best"]["job"] == best["job"]


@pytest.mark.parametrize(("search", "experiment", "direction"), [
    ("crnn_thai_optuna", "crnn_thai_cpu", "minimize"), ("layoutlmv3_optuna", "layoutlmv3_multitask_cpu", "maximize"),
    ("paddleocr_vl_optuna", "paddleocr_vl_lora_cpu", "maximize"), ("trocr_optuna", "trocr_distill_cpu", "minimize")])
def test_every_family_has_an_optuna_search_on_its_own_metric(search, experiment, direction):
    from hydra import compose, initialize_config_dir

    from ocrlab.config import config_dir

    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("train", [f"hparams_search={search}", f"experiment={experiment}"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert "optuna" in sweeper._target_.lower() and sweeper.direction == direction
    assert cfg.optimized_metric == f"{cfg.monitor.name}_best"  # what the search optimizes is what is monitored
    assert (cfg.monitor.mode == "min") == (direction == "minimize")
    for key in sweeper.params:  # every searched knob exists in the family's config
        assert OmegaConf.select(cfg, key) is not None, key
