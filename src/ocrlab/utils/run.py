"""What every entry point does around its job: environment, instantiation helpers, closing."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def prepare_environment() -> None:
    """Offline W&B unless the user chose (``WANDB_MODE`` wins); no tokenizer thread storm."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def instantiate_group(group: DictConfig | None, what: str) -> list[Any]:
    """Instantiate each ``_target_`` entry of a ``callbacks``/``logger`` group (``null`` -> none)."""
    from ocrlab.utils.instantiate import instantiate_checked

    if not group:
        return []
    if not isinstance(group, DictConfig):
        raise TypeError(f"{what} config must be a mapping of named entries, got {type(group).__name__}")
    out = []
    for name, conf in group.items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            log.info("instantiating %s %s <%s>", what, name, conf._target_)
            out.append(instantiate_checked(conf, f"{what}.{name}"))
    return out


def plain_config(cfg: DictConfig) -> dict:
    """The resolved config as plain containers, secrets redacted (also where a secret's value sits
    inside another string): for reports and loggers."""
    from ocrlab.utils.secrets import without_secrets

    return without_secrets(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False))


# an experiment's mandatory value over a model default (ocrlab.utils.resolvers.required)
REQUIRED = "${ocrlab.required:"
# keys whose value is a place on this machine: nothing is ever downloaded in their stead
_PATH_KEY_ENDINGS = ("_dir", "_path", "path", "_file", "_files", "init_from", "pretrained", "teacher")


def check_no_missing_values(cfg: DictConfig) -> None:
    """Every mandatory value (``???``) given, or one error naming all that are missing, which of
    them are local paths, and the experiment's documented command when its config file has one."""
    from ocrlab.errors import ConfigError

    missing = sorted(k for k in _missing_keys(OmegaConf.to_container(cfg, resolve=False)) if not k.startswith("hydra."))
    if not missing:
        return
    paths = [k for k in missing if k.endswith(_PATH_KEY_ENDINGS)]
    what = (f" ({', '.join(paths)}: {'a local path' if len(paths) == 1 else 'local paths'} on this machine; "
            "nothing is downloaded)") if paths else ""
    usage = _documented_command(run_info().get("experiment"))
    raise ConfigError(f"Missing mandatory value(s): {', '.join(missing)}{what}: give them on the command line"
                      + (f", as the experiment's config documents: {usage}" if usage else ""))


def _missing_keys(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose value is ``???``, read without resolving interpolations (one pointing at
    a missing value would raise before the missing key itself could be named)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    out = []
    for key, value in items:
        name = f"{prefix}{key}"
        if value == "???" or (isinstance(value, str) and value.startswith(REQUIRED)):
            out.append(name)
        else:
            out += _missing_keys(value, f"{name}.")
    return out


def _documented_command(experiment: str | None) -> str | None:
    """The first ``python train.py experiment=<name> ...`` line of the experiment's config file."""
    if not experiment:
        return None
    from ocrlab.config import config_dir

    try:
        text = (Path(config_dir()) / "experiment" / f"{experiment}.yaml").read_text(encoding="utf-8")
    except OSError:
        return None
    lines = [line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")]
    return next((line for line in lines if line.startswith(f"python train.py experiment={experiment} ")), None)


_RECORDED_RUN_INFO: dict | None = None


def record_run_info(info: dict) -> None:
    """The run info of a job composed in another process (``ocrlab.child_training``), where no
    Hydra job runs to read it from."""
    global _RECORDED_RUN_INFO
    _RECORDED_RUN_INFO = dict(info)


def run_info() -> dict:
    """What a checkpoint should remember of the run: the config-group choices (experiment,
    data, model, ...), so ``evaluate.py`` can compose the same data config from it."""
    if _RECORDED_RUN_INFO is not None:
        return dict(_RECORDED_RUN_INFO)
    try:
        from hydra.core.hydra_config import HydraConfig

        choices = dict(HydraConfig.get().runtime.choices)
    except Exception:  # no Hydra run (a notebook building the config by hand)
        return {}
    return {"experiment": choices.get("experiment"),
            "choices": {k: v for k, v in choices.items() if not k.startswith("hydra/") and v is not None}}


def finish_loggers(loggers: list[Any]) -> None:
    """Close W&B runs so each multirun job is its own run."""
    for lg in loggers:
        finalize = getattr(lg, "finalize", None)
        if finalize is not None:
            try:
                finalize("success")
            except Exception:  # closing must not hide the job's own result
                log.exception("could not finalize logger %s", type(lg).__name__)
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish()
    except ImportError:
        pass


def apply_extras(cfg: DictConfig) -> None:
    """``extras`` group: warnings filter and a printed config tree (rank zero only)."""
    extras = cfg.get("extras") or {}
    if extras.get("ignore_warnings"):
        import warnings

        warnings.filterwarnings("ignore")
    if extras.get("print_config") and int(os.environ.get("LOCAL_RANK", "0")) == 0:
        from rich.console import Console
        from rich.syntax import Syntax

        Console(stderr=True).print(Syntax(OmegaConf.to_yaml(cfg, resolve=False), "yaml", theme="ansi_dark"))


def print_metrics(title: str, metrics: dict[str, float]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k in sorted(metrics):
        table.add_row(k, f"{metrics[k]:.4f}")
    Console().print(table)
