"""Hydra entry points. Heavy imports (torch, Lightning) happen inside the jobs, so ``--help`` and
config composition stay fast."""

from __future__ import annotations

import functools
import logging
import math
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ocrlab.config import ConfigDirError, config_dir

log = logging.getLogger("ocrlab")


def _config_dir() -> str:
    try:
        return config_dir()
    except ConfigDirError as e:
        sys.exit(f"ocrlab: {e}")


_HELP_FLAGS = ("-h", "--help", "--hydra-help")


def _memoize_group_listing() -> None:
    """Make Hydra's ``--help`` list the config groups with one repository copy instead of one per group.

    Hydra lists the groups by calling ``get_group_options`` for every group (the whole tree twice: app
    and Hydra groups), and each call deep-copies the config repository, ConfigStore entries of the
    installed launcher/sweeper plugins included (~10-20 ms a copy here, ~160 copies: seconds). The
    listing never changes the repository, and a help process exits after printing, so a copy per
    (config name, overrides) gives the same text. Skipped if Hydra's internals differ.
    """
    try:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
    except ImportError:
        return
    original = getattr(ConfigLoaderImpl, "_parse_overrides_and_create_caching_repo", None)
    if original is None or getattr(original, "_ocrlab_memoized", False):
        return
    repos: dict = {}

    @functools.wraps(original)
    def memoized(self, config_name, overrides):
        if overrides:  # composing the app's config (with the command's overrides): Hydra's own path
            return original(self, config_name, overrides)
        key = (id(self), config_name)
        if key not in repos:
            repos[key] = original(self, config_name, overrides)
        return repos[key]

    memoized._ocrlab_memoized = True
    ConfigLoaderImpl._parse_overrides_and_create_caching_repo = memoized


def model_without_its_experiment(config_name: str, args: list[str]) -> str | None:
    """Why ``model=<name>`` without ``experiment=`` cannot compose, or None.

    The default experiment sets its own model's sub-groups and data (``override /model/neck``),
    which another model does not have: Hydra would fail on a group the user never named. Found
    by reading the configs (no family is named here): the experiments whose ``/model`` is the
    one picked are listed to choose from."""
    picked = {a.split("=", 1)[0].lstrip("+"): a.split("=", 1)[1] for a in args if "=" in a and not a.startswith("~")}
    if "model" not in picked or "experiment" in picked or "," in picked["model"]:
        return None
    conf = Path(_config_dir())
    default = _default_choice(conf / f"{config_name}.yaml", "experiment")
    if not default:
        return None
    experiments = {p.stem: _experiment_model(conf / "experiment", p.stem) for p in (conf / "experiment").glob("*.yaml")}
    needed = {k.split("/")[-1] for k in _defaults(conf / "experiment" / f"{default}.yaml") if k.startswith("/model/")}
    if experiments.get(default) in (None, picked["model"]) or needed <= _model_groups(conf / "model", picked["model"]):
        return None
    fitting = sorted(name for name, model in experiments.items() if model == picked["model"])
    choose = (f"pick one of its experiments: {', '.join(f'experiment={n}' for n in fitting)}" if fitting
              else f"no experiment uses model={picked['model']}: write one (conf/experiment/, see the README)")
    return (f"model={picked['model']} was picked without an experiment, and the default experiment "
            f"({default}) belongs to model={experiments[default]} (its data and model sub-groups do not fit "
            f"another model): {choose}")


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _defaults(path: Path) -> dict[str, str]:
    """A config file's defaults list as ``{group: option}`` (``override`` dropped, ``/`` kept)."""
    out = {}
    for entry in _read_yaml(path).get("defaults") or []:
        if isinstance(entry, dict):
            out.update({key.split(" ")[-1]: value for key, value in entry.items() if isinstance(value, str)})
    return out


def _default_choice(path: Path, group: str) -> str | None:
    """The option of ``group`` in a config file's defaults list (``- group: option``)."""
    return next((v for k, v in _defaults(path).items() if k.lstrip("/") == group), None)


def _model_groups(directory: Path, name: str, seen: tuple[str, ...] = ()) -> set[str]:
    """The sub-groups a model config has (``backbone``, ``neck``, ...), with those of the model
    configs it builds on."""
    groups = {k for k in _defaults(directory / f"{name}.yaml") if not k.startswith("/")}
    for entry in _read_yaml(directory / f"{name}.yaml").get("defaults") or []:
        if isinstance(entry, str) and entry != "_self_" and entry not in seen and (directory / f"{entry}.yaml").is_file():
            groups |= _model_groups(directory, entry, (*seen, name))
    return groups


def _experiment_model(directory: Path, name: str, seen: tuple[str, ...] = ()) -> str | None:
    """The ``/model`` an experiment overrides, following experiments it builds on."""
    model = _default_choice(directory / f"{name}.yaml", "model")
    if model:
        return model
    for entry in _read_yaml(directory / f"{name}.yaml").get("defaults") or []:
        if isinstance(entry, str) and entry != "_self_" and entry not in seen and (directory / f"{entry}.yaml").is_file():
            return _experiment_model(directory, entry, (*seen, name))
    return None


def hydra_app(config_name: str):
    """``hydra.main`` on the project's config dir, with a faster ``--help`` (see above)."""

    def decorate(fn):
        app = hydra.main(version_base="1.3", config_path=_config_dir(), config_name=config_name)(fn)

        @functools.wraps(fn)
        def main() -> None:
            if any(a in _HELP_FLAGS for a in sys.argv[1:]):
                _memoize_group_listing()
            else:
                problem = model_without_its_experiment(config_name, sys.argv[1:])
                if problem:
                    sys.exit(f"ocrlab: {problem}")
            app()

        main.hydra_app = app  # Hydra's own entry point, without the faster --help
        return main

    return decorate


def run_job(job, cfg: DictConfig, name: str):
    """Run one job; in a multirun a failure is logged and the sweep goes on (NaN objective)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from ocrlab.utils.run import apply_extras

    apply_extras(cfg)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun:  # the next job must start its own worker processes (ocrlab.strategies)
        from ocrlab.strategies import end_of_job, job_state

        before = job_state()
    try:
        return job(cfg)
    except Exception:
        if multirun:
            log.exception("%s job %s failed; the sweep goes on", name, HydraConfig.get().job.num)
            return None
        raise
    finally:
        if multirun:
            end_of_job(*before)


@hydra_app("train")
def train_main(cfg: DictConfig) -> float | None:
    """Train a model: ``python train.py experiment=crnn_thai model.optimizer.lr=5e-4``."""

    def job(cfg: DictConfig):
        from ocrlab.training import train
        from ocrlab.utils.run import print_metrics

        metrics, objects = train(cfg)
        if objects["trainer"].is_global_zero:
            print_metrics(f"{cfg.task_name}: final metrics ({cfg.paths.output_dir})", metrics)
        return metrics

    metrics = run_job(job, cfg, "train")
    if metrics is None:
        return math.nan
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        log.warning("optimized_metric %r was not logged (no validation ran?); logged: %s", name, sorted(metrics))
        return math.nan
    return metrics[name]


@hydra_app("evaluate")
def _evaluate_app(cfg: DictConfig) -> None:
    def job(cfg: DictConfig):
        from ocrlab.evaluation import evaluate
        from ocrlab.utils.run import print_metrics

        metrics, objects = evaluate(cfg)
        for name, result in objects["results"].items():
            print_metrics(f"{name} ({objects['output_dir']})", result)
        if objects.get("comparison") is not None:
            print(objects["comparison"].markdown())
        return metrics

    run_job(job, cfg, "evaluate")


def evaluate_main() -> None:
    """Evaluate a checkpoint: ``python evaluate.py ckpt_path=... data.test_files=[...]``.

    Without ``experiment=``, the experiment recorded in the checkpoint is composed, so the data
    overrides apply to the data config the model was trained with.
    """
    sys.argv[1:] = with_checkpoint_experiment(sys.argv[1:])
    _evaluate_app()


def with_checkpoint_experiment(args: list[str]) -> list[str]:
    """``args`` plus ``experiment=<the checkpoint's>`` when none is given and one is recorded."""
    if any(a in (*_HELP_FLAGS, "-m", "--multirun", "-c", "--cfg") for a in args):
        return args
    if any(a.split("=", 1)[0].lstrip("+~") == "experiment" for a in args):
        return args
    ckpt = next((a.split("=", 1)[1] for a in args if a.split("=", 1)[0].lstrip("+") == "ckpt_path"), None)
    if not ckpt or "," in ckpt or not Path(ckpt).exists():
        return args  # evaluation itself reports a missing checkpoint, naming it
    from ocrlab.errors import CheckpointError
    from ocrlab.loading import read_metadata

    try:
        experiment = (read_metadata(ckpt).get("run") or {}).get("experiment")
    except CheckpointError:
        return args
    if not experiment:
        return args
    if not any((d / "experiment" / f"{experiment}.yaml").is_file() for d in _config_dirs(args)):
        # Hydra's logging is not set up yet: plain stderr
        print(f"[ocrlab] the checkpoint was trained with experiment={experiment}, which neither this config dir "
              "nor hydra.searchpath has: composing the default one (give experiment=... or data=... to choose)",
              file=sys.stderr)
        return args
    print(f"[ocrlab] composing experiment={experiment}, recorded in {ckpt}", file=sys.stderr)
    return [*args, f"experiment={experiment}"]


def _config_dirs(args: list[str]) -> list[Path]:
    """This project's config dir, then the ``file://`` dirs of a ``hydra.searchpath=[...]`` override
    (where a family kept outside the source tree has its config entries)."""
    dirs = [Path(_config_dir())]
    for a in args:
        key, _, value = a.partition("=")
        if key.lstrip("+") == "hydra.searchpath":
            for entry in value.strip("[]").split(","):
                entry = entry.strip().strip("'\"")
                if entry.startswith("file://"):
                    dirs.append(Path(entry[len("file://"):]))
    return dirs


def export_main(argv: list[str] | None = None) -> None:
    """``ocrlab-export <ckpt or export dir> --output <dir>``: any family's self-contained export."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="ocrlab-export",
        description="Write a trained model's self-contained export directory (the model's own format "
                    "inside; it loads with ocrlab.loading.load_model and needs no training config).")
    parser.add_argument("checkpoint", help="a .ckpt file written by train.py, a sharded checkpoint directory "
                                           "(trainer=fsdp / fsdp2), or an export directory")
    parser.add_argument("--output", "-o", required=True, help="the export directory to write")
    parser.add_argument("--onnx", action="store_true", help="also write an ONNX graph (families that have one)")
    parser.add_argument("--int8", action="store_true", help="also write an int8-quantized ONNX graph (with --onnx)")
    parser.add_argument("--merge", action="store_true", help="merge adapters (LoRA) into the weights: a plain "
                                                              "transformers model directory (families with adapters)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier export in --output (a directory "
                                                                  "holding ocrlab_model.json); any other non-empty "
                                                                  "directory or file there is refused, never deleted")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
    from ocrlab.errors import OcrlabError
    from ocrlab.loading import export_model

    try:
        out = export_model(args.checkpoint, args.output, overwrite=args.overwrite, onnx=args.onnx, int8=args.int8,
                           merge=args.merge)
    except (OcrlabError, FileExistsError, ValueError) as e:
        sys.exit(f"ocrlab-export: {e}")
    print(out)


def consolidate_main(argv: list[str] | None = None) -> None:
    """``ocrlab-consolidate <sharded checkpoint dir> --output <file.ckpt>``: one ``.ckpt`` file."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="ocrlab-consolidate",
        description="Gather a sharded checkpoint directory (trainer=fsdp with state_dict_type=sharded, or "
                    "trainer=fsdp2) into one .ckpt file: weights, optimizer states and ocrlab metadata. It loads "
                    "like any checkpoint (evaluate.py, ocrlab-export, resuming). The whole model is gathered in "
                    "this process's CPU memory.")
    parser.add_argument("checkpoint", help="the sharded checkpoint directory (e.g. <run>/checkpoints/last.ckpt)")
    parser.add_argument("--output", "-o", required=True, help="the .ckpt file to write")
    parser.add_argument("--no-optimizer", action="store_true", help="leave the optimizer states out (weights only: "
                                                                   "for evaluation and export; cannot resume)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier checkpoint file at --output "
                                                                  "(any other file there is refused, never deleted)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
    from ocrlab.errors import OcrlabError
    from ocrlab.loading import consolidate_to_file

    try:
        out = consolidate_to_file(args.checkpoint, args.output, optimizer=not args.no_optimizer,
                                  overwrite=args.overwrite)
    except (OcrlabError, FileExistsError) as e:
        sys.exit(f"ocrlab-consolidate: {e}")
    print(out)
