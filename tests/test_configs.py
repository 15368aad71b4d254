"""Every config combination a user is pointed to composes (cheap: no training)."""

from __future__ import annotations

import pytest
from conftest import CONF, compose_config
from hydra.errors import ConfigCompositionException

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("entry", ["train", "evaluate"])
def test_experiments_compose_for_both_entry_points(experiment, entry, tmp_path):
    overrides = [f"experiment={experiment}"] + (["ckpt_path=x.ckpt"] if entry == "evaluate" else [])
    cfg = compose_config(entry, overrides, tmp_path)
    assert cfg.data._target_ == "ocrlab.datamodules.TextLineDataModule"
    assert cfg.data.image_height == cfg.model.input.height  # data follows the model's input spec
    assert cfg.model.backbone.in_channels == cfg.model.input.channels


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "trainer").glob("*.yaml")))
def test_trainer_options_compose(option, tmp_path):
    cfg = compose_config("train", [f"trainer={option}"], tmp_path)
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"


@pytest.mark.parametrize(("group", "option"), [
    ("debug", "fdr"), ("debug", "overfit"), ("debug", "limit"), ("logger", "many_loggers"),
    ("model", "crnn_small_cnn"), ("model/neck", "reshape"), ("hparams_search", "crnn_thai_optuna"),
    ("callbacks", "none"),
])
def test_group_options_compose(group, option, tmp_path):
    compose_config("train", [f"{group}={option}"], tmp_path)


def test_experiment_values_and_overrides(tmp_path):
    cfg = compose_config("train", ["experiment=crnn_thai", "trainer.max_epochs=3", "data.batch_size=64",
                                   "model.optimizer.lr=5e-4"], tmp_path)
    assert (cfg.trainer.max_epochs, cfg.data.batch_size, cfg.model.optimizer.lr) == (3, 64, 5e-4)
    assert cfg.model.backbone.model_name == "large" and cfg.model.backbone.scale == 0.5
    assert cfg.model.neck.hidden_size == 96 and cfg.model.scheduler.warmup_epochs == 5
    prod = compose_config("train", ["experiment=crnn_thai_prod"], tmp_path)
    assert prod.trainer.max_epochs == 200


def test_unknown_key_is_refused(tmp_path):
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        compose_config("train", ["no_such_key=1"], tmp_path)
    with pytest.raises(ConfigCompositionException, match="lrr"):
        compose_config("train", ["model.optimizer.lrr=1"], tmp_path)
