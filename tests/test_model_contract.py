"""The contract every model config keeps: it builds from its config, trains a step, saves, and
reloads through the one loader (checkpoint and export) predicting exactly the same."""

from __future__ import annotations

import pytest
import torch
from conftest import CONF, FAMILY_MODELS, compose_config, experiment_overrides, model_and_data

from ocrlab.loading import export_model, load_checkpoint, load_model
from ocrlab.training import train

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


@pytest.mark.parametrize("model", MODELS)
def test_model_builds_trains_saves_and_reloads_the_same(model, request, tmp_path):
    # without the default experiment: it would set keys of its own model
    target = compose_config("train", [f"model={model}", "~experiment"], tmp_path / "compose").model._target_
    if target not in FAMILY_MODELS:
        pytest.fail(f"model={model}: no experiment for {target} in conftest.FAMILY_MODELS")
    overrides = [*experiment_overrides(FAMILY_MODELS[target], request, tmp_path / "logs"), f"model={model}",
                 "trainer.max_epochs=1", "trainer.max_steps=2", "++trainer.limit_val_batches=1", "test=false"]
    cfg = compose_config("train", overrides, tmp_path / "run")
    before = {k: v.clone() for k, v in compose_and_build_state(cfg).items()}
    _, objects = train(cfg)
    trained, datamodule = objects["model"].eval(), objects["datamodule"]
    assert any(not torch.equal(before[k], v) for k, v in trained.state_dict().items() if k in before), "no step"

    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    meta = load_checkpoint(ckpt)["ocrlab"]
    # a model may save itself as the model it trains (a distilled student: a plain model, no teacher)
    from hydra.utils import get_class

    saved = meta["model_config"]["_target_"]
    assert saved == target or issubclass(get_class(target), get_class(saved)), saved
    assert meta["run"]["experiment"] == FAMILY_MODELS[target]
    batch = next(iter(datamodule.val_dataloader()))
    with torch.no_grad():
        expected = trained.predict_step(batch, 0)
        from_ckpt = load_model(ckpt)
        assert type(from_ckpt) is get_class(saved) and isinstance(trained, type(from_ckpt))
        assert from_ckpt.predict_step(batch, 0) == expected
        export = export_model(ckpt, tmp_path / "export")
        assert load_model(export).predict_step(batch, 0) == expected
    for k, v in trained.state_dict().items():
        assert torch.equal(v, from_ckpt.state_dict()[k]), k


def compose_and_build_state(cfg) -> dict[str, torch.Tensor]:
    """The freshly built model's weights under the run's seed (what training starts from)."""
    import pytorch_lightning as pl

    pl.seed_everything(cfg.seed, workers=True)
    return model_and_data(cfg, stage=None)[0].state_dict()
