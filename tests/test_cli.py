"""The entry scripts as a user runs them: --help, errors, multirun + W&B, DDP, evaluate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import compose_config, run_cli, run_overrides, tiny_overrides

FAKE_WANDB_KEY = "0123456789abcdef0123456789abcdef01234567"


def _files_containing(root: Path, needle: str) -> list[Path]:
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and needle.encode() in p.read_bytes():
            hits.append(p)
    return hits


def test_help_lists_config_groups():
    out = run_cli(["train.py", "--help"], timeout=60)
    assert out.returncode == 0, out.stderr
    for group in ("experiment:", "trainer:", "logger:", "debug:", "hparams_search:", "model/backbone:"):
        assert group in out.stdout
    # the faster group listing (one repository copy, ocrlab.cli._memoize_group_listing) prints
    # exactly Hydra's own help, with and without overrides
    hydra_own = "import sys; from ocrlab.cli import train_main; sys.argv[1:] = sys.argv[2:]; train_main.hydra_app()"
    for args in (["--help"], ["--help", "experiment=layoutlmv3_multitask_cpu", "trainer.max_steps=3"]):
        fast = out if args == ["--help"] else run_cli(["train.py", *args], timeout=60)
        plain = run_cli(["-c", hydra_own, "train.py", *args], timeout=60)
        assert plain.returncode == 0, plain.stderr
        assert fast.stdout == plain.stdout


def test_unknown_override_key_fails_with_hydra_error():
    out = run_cli(["train.py", "no_such_key=1"], timeout=60)
    assert out.returncode != 0
    assert "Could not override 'no_such_key'" in out.stderr


def test_multirun_two_jobs_two_run_dirs_two_wandb_runs_no_secret(tiny_lines, tmp_path):
    args = ["train.py", "-m", "experiment=crnn_thai_cpu", "debug=fdr", "seed=1,2",
            *tiny_overrides(tiny_lines, tmp_path / "logs"), "logger=wandb"]
    out = run_cli(args, env={"WANDB_API_KEY": FAKE_WANDB_KEY, "WANDB_MODE": "offline"})
    assert out.returncode == 0, out.stderr[-3000:]
    sweeps = list((tmp_path / "logs" / "debug" / "multiruns").iterdir())
    assert len(sweeps) == 1
    jobs = sorted(p for p in sweeps[0].iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1"]
    runs = sorted(tmp_path.rglob("offline-run-*"))
    assert len(runs) == 2 and {r.parent.parent for r in runs} == set(jobs)  # one W&B run per job dir
    for job, seed in zip(jobs, (1, 2), strict=True):
        assert (job / "config.yaml").is_file()
        report = json.loads((job / "training_report.json").read_text())
        assert report["status"] == "success" and report["hyperparameters"]["seed"] == seed
        group = report["hyperparameters"]["logger"]["wandb"]["group"]
        assert group == f"crnn_thai_cpu-{sweeps[0].name}"
    assert _files_containing(tmp_path, FAKE_WANDB_KEY) == []


def test_secret_override_reaches_no_file_of_the_run_dir(tiny_lines, tmp_path):
    secret = "planted-secret-Zq81xVv0"
    args = ["train.py", "-m", "experiment=crnn_thai_cpu", "debug=fdr", "seed=1,2", f"+wandb_api_key={secret}",
            *tiny_overrides(tiny_lines, tmp_path / "logs"), "logger=wandb"]
    out = run_cli(args, env={"WANDB_MODE": "offline", "HF_TOKEN": "env-secret-Kd92mmQ"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(list(tmp_path.rglob("offline-run-*"))) == 2
    assert len(list(tmp_path.rglob("overrides.yaml"))) == 2  # Hydra's own files are there, scrubbed
    assert _files_containing(tmp_path, secret) == []
    assert _files_containing(tmp_path, "env-secret-Kd92mmQ") == []


def test_run_dir_below_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    out = run_cli(["train.py", f"paths.log_dir={tmp_path / 'afile' / 'logs'}"], timeout=60)
    assert out.returncode != 0
    assert "is a file, not a folder" in out.stderr and "afile" in out.stderr


def test_failed_job_does_not_stop_the_sweep(tiny_lines, tmp_path):
    # Adam refuses a negative learning rate: job 0 fails, job 1 must still run
    args = ["train.py", "-m", "experiment=crnn_thai_cpu", "debug=fdr", "model.optimizer.lr=-1,1e-3",
            *tiny_overrides(tiny_lines, tmp_path / "logs")]
    out = run_cli(args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "failed; the sweep goes on" in out.stdout + out.stderr
    sweep = next((tmp_path / "logs" / "debug" / "multiruns").iterdir())
    ok = json.loads((sweep / "1" / "training_report.json").read_text())
    assert ok["status"] == "success"


@pytest.fixture(scope="module")
def ddp_run(tiny_lines, tmp_path_factory):
    """Two CPU processes (gloo): train one epoch, then resume to two."""
    logs = tmp_path_factory.mktemp("ddp")
    common = ["experiment=crnn_thai_cpu", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
              "trainer.deterministic=true", *tiny_overrides(tiny_lines, logs)]
    first = run_cli(["train.py", *common, "trainer.max_epochs=1", "test=false"])
    assert first.returncode == 0, first.stderr[-3000:]
    run_dir = next((logs / "train" / "runs").iterdir())
    return logs, common, run_dir


def test_ddp_two_cpu_processes_trains_and_resumes(ddp_run):
    logs, common, run_dir = ddp_run
    report = json.loads((run_dir / "training_report.json").read_text())
    assert report["device"]["num_devices"] == 2 and report["device"]["strategy"] == "DDPStrategy"
    # 48 lines, batch 8, 2 ranks -> 3 steps per epoch
    assert report["global_step"] == 3
    resumed = run_cli(["train.py", *common, "trainer.max_epochs=2",
                       f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run2 = next(p for p in (logs / "train" / "runs").iterdir() if p != run_dir)
    report2 = json.loads((run2 / "training_report.json").read_text())
    assert report2["global_step"] == 6 and [h["epoch"] for h in report2["history"]] == [0, 1]
    assert "test/cer" in report2["test_metrics"]


def test_evaluate_without_experiment_uses_the_checkpoints(ddp_run, tiny_lines, tmp_path):
    _, _, run_dir = ddp_run
    out = run_cli(["evaluate.py", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
                   f"data.test_files=[{tiny_lines / 'test.txt'}]", f"paths.log_dir={tmp_path}"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "composing experiment=crnn_thai_cpu" in out.stdout + out.stderr
    eval_dir = next((tmp_path / "eval" / "runs").iterdir())
    assert json.loads((eval_dir / "metrics.json").read_text())["test/lines"] == 16


def test_evaluate_never_generates_into_a_misspelt_data_dir(ddp_run, tmp_path):
    """The checkpoint's experiment generates its data when missing; evaluation does not: a misspelt
    data dir is an error naming it, and nothing is created there."""
    _, _, run_dir = ddp_run
    typo = tmp_path / "lnies"
    out = run_cli(["evaluate.py", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", f"data.data_dir={typo}",
                   f"paths.log_dir={tmp_path / 'logs'}"], timeout=120)
    assert out.returncode != 0
    assert f"{typo} does not exist" in out.stderr, out.stderr[-2000:]
    assert not typo.exists()


def test_export_cli_writes_a_self_contained_dir(ddp_run, tiny_lines, tmp_path):
    from ocrlab.inference import TextRecognizer

    _, _, run_dir = ddp_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    out = run_cli(["export.py", str(ckpt), "--output", str(tmp_path / "exp")], timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == ["ocrlab_model.json", "weights.pt"]
    images = sorted((tiny_lines / "images" / "test").glob("*.png"))[:4]
    assert TextRecognizer.load(tmp_path / "exp").recognize(images) == TextRecognizer.load(ckpt).recognize(images)
    again = run_cli(["export.py", str(ckpt), "--output", str(tmp_path / "exp")], timeout=120)
    assert again.returncode != 0 and "already exists" in again.stderr
    merge = run_cli(["export.py", str(ckpt), "--output", str(tmp_path / "exp2"), "--merge"], timeout=120)
    assert merge.returncode != 0 and "no export option ['merge']" in merge.stderr
    assert not (tmp_path / "exp2").exists()


def test_baseline_of_another_task_is_refused(ddp_run):
    from omegaconf import OmegaConf

    from ocrlab.errors import ConfigError
    from ocrlab.evaluation import _baseline
    from ocrlab.loading import load_model

    _, _, run_dir = ddp_run
    model = load_model(run_dir / "checkpoints" / "last.ckpt")
    cfg = OmegaConf.create({"baseline": {"_target_": "conftest.OtherTaskBaseline"}})
    with pytest.raises(ConfigError, match="serves the task 'documents'.*serves 'text_lines'"):
        _baseline(cfg, model)


def test_evaluate_writes_metrics_predictions_and_tesseract_baseline(ddp_run, tiny_lines, tmp_path):
    _, _, run_dir = ddp_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    # another experiment than the checkpoint's: the model, charset and input spec come from the checkpoint
    out = run_cli(["evaluate.py", "experiment=crnn_thai", "model.input.height=48", f"ckpt_path={ckpt}",
                   f"data.test_files=[{tiny_lines / 'test.txt'}]", "data.synth=null",
                   f"paths.log_dir={tmp_path}", "baseline=tesseract"])
    assert out.returncode == 0, out.stderr[-3000:]
    eval_dir = next((tmp_path / "eval" / "runs").iterdir())
    keys = {"test/cer", "test/wer", "test/acc", "test/ned", "test/ms_per_line"}
    model = json.loads((eval_dir / "metrics.json").read_text())
    tess = json.loads((eval_dir / "metrics_tesseract.json").read_text())
    assert keys <= set(model) and keys <= set(tess)
    assert model["test/lines"] == tess["test/lines"] == 16
    assert tess["test/cer"] < 0.5  # Tesseract reads clean-ish rendered Thai reasonably
    with open(eval_dir / "predictions.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == 16 and {"reference", "prediction", "cer", "tesseract_prediction"} <= set(rows[0])
    # the same rows as JSON, values exact (mining and other tools read this file)
    lines = (eval_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    as_json = [json.loads(line) for line in lines]
    assert [r["prediction"] for r in as_json] == [r["prediction"] for r in rows]
    assert float(rows[0]["cer"]) == pytest.approx(as_json[0]["cer"])


@pytest.mark.parametrize(
    ("override", "pattern"),
    [("ckpt_path={tmp}/nope.ckpt", r"checkpoint .*nope.ckpt does not exist"),
     ("data.test_files=[{tmp}/nope.txt]", r"label file .*nope.txt does not exist")],
    ids=["missing-ckpt", "missing-labels"],
)
def test_evaluate_bad_inputs(ddp_run, tiny_lines, tmp_path, override, pattern):
    import re

    _, _, run_dir = ddp_run
    args = {"ckpt_path": f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
            "data.test_files": f"data.test_files=[{tiny_lines / 'test.txt'}]"}
    key = override.split("=", 1)[0]
    args[key] = override.format(tmp=tmp_path)
    out = run_cli(["evaluate.py", "experiment=crnn_thai_cpu", *args.values(), "data.synth=null",
                   f"paths.log_dir={tmp_path}"], timeout=120)
    assert out.returncode != 0
    assert re.search(pattern, out.stdout + out.stderr), out.stderr[-2000:]


def test_optuna_sweep_runs_and_reports_best(tiny_lines, tmp_path):
    args = ["train.py", "-m", "hparams_search=crnn_thai_optuna", "experiment=crnn_thai_cpu", "debug=fdr",
            "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=2",
            *tiny_overrides(tiny_lines, tmp_path / "logs")]
    out = run_cli(args)
    assert out.returncode == 0, out.stderr[-3000:]
    results = list((tmp_path / "logs").rglob("optimization_results.yaml"))
    assert len(results) == 1
    text = results[0].read_text()
    assert "best_params" in text and "best_value" in text


def test_a_model_picked_without_its_experiment_names_the_experiments_to_pick(tmp_path):
    """``train.py model=<another family's model>`` under the default experiment: a message naming
    that model's experiments, not a Hydra error about a group the user never named; a model of
    the default experiment's own kind still composes."""
    out = run_cli(["train.py", "model=layoutlmv3", *run_overrides(tmp_path / "logs")], timeout=120)
    assert out.returncode != 0
    assert "model=layoutlmv3 was picked without an experiment" in out.stderr
    assert "experiment=layoutlmv3_multitask_cpu" in out.stderr and "Could not override" not in out.stderr
    composed = run_cli(["train.py", "model=crnn_small_cnn", "--cfg", "job"], timeout=120)
    assert composed.returncode == 0, composed.stderr[-2000:]
    assert "ocrlab.families.crnn.SmallCNN" in composed.stdout


def test_missing_mandatory_values_are_named_together_with_the_experiments_command(tmp_path):
    """An experiment that needs the user's paths (layoutlmv3_domain: documents and a general model)
    run without them: one error naming every missing value, that they are local paths, and the
    command the experiment's config documents; no Hydra interpolation trace."""
    out = run_cli(["train.py", "experiment=layoutlmv3_domain", "debug=fdr", f"paths.log_dir={tmp_path}"], timeout=120)
    assert out.returncode != 0
    assert "Missing mandatory value(s): data.data_dir" in out.stderr, out.stderr[-2000:]
    assert "a local path on this machine" in out.stderr and "InterpolationToMissingValueError" not in out.stderr
    assert "python train.py experiment=layoutlmv3_domain model.init_from=" in out.stderr


def test_an_experiment_for_a_local_model_refuses_to_run_without_it(tmp_path):
    """paddleocr_vl_lora fine-tunes a real checkpoint: without model.pretrained it is refused at
    once, naming the key (a '???' merged onto the model config's null would leave null, and an fdr
    run would build a random 0.9B model for the better part of an hour). Resolved outside train
    (a config dump) the key reads '???'; an explicit null still builds the random model."""
    from ocrlab.utils.run import check_no_missing_values, plain_config

    out = run_cli(["train.py", "experiment=paddleocr_vl_lora", "debug=fdr", f"paths.log_dir={tmp_path}"], timeout=120)
    assert out.returncode != 0
    assert "Missing mandatory value(s): model.pretrained (model.pretrained: a local path" in out.stderr, out.stderr[-2000:]
    cfg = compose_config("train", ["experiment=paddleocr_vl_lora"], tmp_path / "run")
    assert plain_config(cfg)["model"]["pretrained"] == "???"
    check_no_missing_values(compose_config("train", ["experiment=paddleocr_vl_lora", "model.pretrained=null"],
                                           tmp_path / "run"))
