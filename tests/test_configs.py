"""Every config combination a user is pointed to composes (cheap: no training)."""

from __future__ import annotations

import pytest
from conftest import CONF, compose_config
from hydra.errors import ConfigCompositionException
from hydra.utils import get_class
from omegaconf import OmegaConf

from ocrlab.datamodules import OcrDataModule
from ocrlab.lightning_modules import OcrModule

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
# groups every family shares: no metric name, data key or model key of one family in them (the
# defaults list may name the default experiment's choices)
SHARED = ["train.yaml", "evaluate.yaml", "callbacks", "trainer", "logger", "debug", "paths", "hydra", "extras"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("entry", ["train", "evaluate"])
def test_experiments_compose_for_both_entry_points(experiment, entry, tmp_path):
    overrides = [f"experiment={experiment}"] + (["ckpt_path=x.ckpt"] if entry == "evaluate" else [])
    cfg = compose_config(entry, overrides, tmp_path)
    assert issubclass(get_class(cfg.data._target_), OcrDataModule)
    assert issubclass(get_class(cfg.model._target_), OcrModule)
    if entry == "train":
        assert cfg.monitor.mode in ("min", "max") and cfg.monitor.name
        assert cfg.optimized_metric == f"{cfg.monitor.name}_best"
        # every consumer of the monitor follows the one top-level setting
        assert cfg.callbacks.model_checkpoint.monitor == cfg.monitor.name
        assert cfg.callbacks.training_report.monitor == cfg.monitor.name
        assert cfg.callbacks.model_checkpoint.mode == cfg.monitor.mode


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize(("data", "mandatory"), [("paddle_labels", ["data_dir", "train_files", "val_files"]),
                                                  ("correction_samples", ["correction_samples_dir"]),
                                                  ("image_annotation_dirs", ["data_dir", "train_dirs", "val_dirs"]),
                                                  ("document_annotations", ["data_dir"]),
                                                  ("instruction_pairs", ["pairs_dir"])])
def test_own_data_keeps_its_mandatory_keys_under_every_experiment(experiment, data, mandatory, tmp_path):
    cfg = compose_config("train", [f"experiment={experiment}", f"data={data}"], tmp_path)
    for key in mandatory:
        assert OmegaConf.is_missing(cfg.data, key), f"data.{key} lost its ??? under experiment={experiment}"
    assert "synth" not in cfg.data  # a config that names your files never generates data


def test_shared_configs_name_no_family_metric():
    files = [p for name in SHARED for p in ([CONF / name] if name.endswith(".yaml") else (CONF / name).rglob("*.yaml"))]
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        for word in ("val/", "test/", "cer", "charset", "crnn"):
            lines = [line for line in text.splitlines() if word in line and "experiment=" not in line
                     and not line.lstrip().startswith(("#", "- "))]
            assert not lines, f"{path.relative_to(CONF)} names {word!r}: {lines[0]}"


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "trainer").glob("*.yaml")))
def test_trainer_options_compose(option, tmp_path):
    cfg = compose_config("train", [f"trainer={option}"], tmp_path)
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"


@pytest.mark.parametrize(("group", "option"), [
    ("debug", "fdr"), ("debug", "overfit"), ("debug", "limit"), ("logger", "many_loggers"),
    ("model", "crnn_small_cnn"), ("model/neck", "reshape"), ("model/charset", "paddle_dict"),
    ("model/charset", "from_label_files"), ("hparams_search", "crnn_thai_optuna"), ("callbacks", "none"),
    ("data", "thai_lines"), ("data", "paddle_labels"), ("data", "correction_samples"),
    ("data", "image_annotation_dirs"),
])
def test_group_options_compose(group, option, tmp_path):
    compose_config("train", [f"{group}={option}"], tmp_path)


def test_experiment_values_and_overrides(tmp_path):
    cfg = compose_config("train", ["experiment=crnn_thai", "trainer.max_epochs=3", "data.batch_size=64",
                                   "model.optimizer.lr=5e-4"], tmp_path)
    assert (cfg.trainer.max_epochs, cfg.data.batch_size, cfg.model.optimizer.lr) == (3, 64, 5e-4)
    assert cfg.model.backbone.model_name == "large" and cfg.model.backbone.scale == 0.5
    assert cfg.model.neck.hidden_size == 96 and cfg.model.scheduler.warmup_epochs == 5
    assert cfg.model.charset._target_ == "ocrlab.text.Charset.thai"  # the model owns its label space
    prod = compose_config("train", ["experiment=crnn_thai_prod"], tmp_path)
    assert prod.trainer.max_epochs == 200


def test_unknown_key_is_refused(tmp_path):
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        compose_config("train", ["no_such_key=1"], tmp_path)
    with pytest.raises(ConfigCompositionException, match="lrr"):
        compose_config("train", ["model.optimizer.lrr=1"], tmp_path)
