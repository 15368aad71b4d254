"""OmegaConf resolvers used by ``conf/`` (registered on import; cheap, no torch)."""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf


def project_root() -> str:
    """``$OCRLAB_ROOT``, else the parent of ``$OCRLAB_CONFIG_DIR``, else this checkout."""
    if os.environ.get("OCRLAB_ROOT"):
        return os.environ["OCRLAB_ROOT"]
    if os.environ.get("OCRLAB_CONFIG_DIR"):
        return str(Path(os.environ["OCRLAB_CONFIG_DIR"]).resolve().parent)
    return str(Path(__file__).resolve().parents[3])


def run_id() -> str:
    """``YYYY-MM-DD_HH-MM-SS_<6 hex>``: two jobs started in the same second never collide."""
    return f"{datetime.now():%Y-%m-%d_%H-%M-%S}_{secrets.token_hex(3)}"


def wandb_group() -> str:
    """The experiment name for a single run; ``<experiment>-<sweep dir name>`` for a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    experiment = hc.runtime.choices.get("experiment") or hc.job.config_name
    if hc.mode == RunMode.MULTIRUN:
        return f"{experiment}-{os.path.basename(os.path.normpath(hc.sweep.dir))}"
    return experiment


def sweep_dir() -> str | None:
    """``${ocrlab.sweep_dir:}``: the multirun's sweep dir; None in a single run (or without Hydra)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    return str(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None


def required(what: str = "") -> str:
    """``${ocrlab.required:<what>}``: a value an experiment makes mandatory over a default its
    model config gives (a ``???`` merged onto a value leaves the value). ``train`` refuses it
    before anything runs, naming the key and ``what`` (:func:`ocrlab.utils.run.check_no_missing_values`);
    resolved elsewhere (a config dump, an evaluation that takes the model from its checkpoint) it
    reads ``???``."""
    return "???"


def gpus_per_node(accelerator: str, devices) -> int | None:
    """``${ocrlab.gpus_per_node:${trainer.accelerator},${trainer.devices}}``: one GPU per device for a
    GPU (or ``auto``) trainer, none for a CPU one."""
    return devices if str(accelerator) in ("gpu", "cuda", "auto") and isinstance(devices, int) else None


def register_resolvers() -> None:
    # use_cache: every interpolation of the run id in one process gives the same value
    if not OmegaConf.has_resolver("ocrlab.run_id"):
        OmegaConf.register_new_resolver("ocrlab.run_id", run_id, use_cache=True)
    if not OmegaConf.has_resolver("ocrlab.root"):
        OmegaConf.register_new_resolver("ocrlab.root", project_root)
    if not OmegaConf.has_resolver("ocrlab.required"):
        OmegaConf.register_new_resolver("ocrlab.required", required)
    if not OmegaConf.has_resolver("ocrlab.gpus_per_node"):
        OmegaConf.register_new_resolver("ocrlab.gpus_per_node", gpus_per_node)
    if not OmegaConf.has_resolver("ocrlab.sweep_dir"):
        OmegaConf.register_new_resolver("ocrlab.sweep_dir", sweep_dir)
    if not OmegaConf.has_resolver("ocrlab.wandb_group"):
        OmegaConf.register_new_resolver("ocrlab.wandb_group", wandb_group)


register_resolvers()
