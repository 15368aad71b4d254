"""The one way to build a model from its config, used by training, evaluation and inference."""

from __future__ import annotations

from typing import Any

from ocrlab.text.charset import Charset


def build_model(model_cfg: Any, charset: Charset):
    """Instantiate a model config (``DictConfig`` or plain dict) with the shared charset.

    The resolved config is kept on the module and saved in its checkpoints.
    """
    from hydra.utils import instantiate
    from omegaconf import DictConfig, OmegaConf

    plain = OmegaConf.to_container(model_cfg, resolve=True) if isinstance(model_cfg, DictConfig) else dict(model_cfg)
    module = instantiate(plain, charset=charset)
    module.build_config = plain
    return module
