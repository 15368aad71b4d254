"""Finding and composing ocrlab's Hydra configs outside the CLI (tests, notebooks, benchmarks)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, open_dict

from ocrlab.utils.resolvers import project_root  # importing registers the resolvers conf/ uses


class ConfigDirError(FileNotFoundError):
    pass


def config_dir() -> str:
    """``$OCRLAB_CONFIG_DIR``, else ``conf/`` of the checkout (editable install)."""
    env = os.environ.get("OCRLAB_CONFIG_DIR")
    path = Path(env) if env else Path(project_root()) / "conf"
    if not (path / "train.yaml").is_file():
        raise ConfigDirError(f"config dir {path} has no train.yaml; set OCRLAB_CONFIG_DIR to your conf/ folder")
    return str(path)


def compose_config(config_name: str = "train", overrides: Sequence[str] = (),
                   output_dir: str | Path | None = None) -> DictConfig:
    """Compose as ``train.py``/``evaluate.py`` would, with the Hydra runtime set so that
    ``${hydra:...}`` interpolations resolve; ``output_dir`` plays the run dir."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    output_dir = Path(output_dir) if output_dir is not None else Path(cfg.paths.log_dir) / "interactive"
    output_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg
