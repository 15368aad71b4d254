"""``train(cfg)`` in a process of its own, for a config composed by another process.

The hard-sample loop trains every round this way: a strategy that starts worker processes (DDP,
FSDP over ``trainer.devices``) re-runs the command of the process it is in, and the workers of a
training started inside ``ocrlab-loop`` would re-run the whole loop. Here the command is
``python -m ocrlab.child_training <dir>``, which every worker runs as well: each reads the same
fully resolved config from ``<dir>/training_config.json`` and trains; rank 0 writes the result
(metrics, best checkpoint) to ``<dir>/training_result.json``. A fresh process per training also
hands each round's memory back to the system.

The training process ends with the process that started it, however that ends: it runs in a
process group of its own (:func:`ocrlab.utils.processes.run_process_group`); Ctrl-C or SIGTERM
to the launcher is passed on to the group, which gets a grace period, then SIGKILL; a launcher
killed outright (SIGKILL) leaves an orphan that kills its own group within a second. Its DDP
workers end with it as well (each watches its parent, the training process).

The launching process's config-group choices (``run_info``: the experiment a checkpoint records
for ``evaluate.py``) travel with the config, since no Hydra job runs in the new process.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ocrlab.utils.io import atomic_write_json
from ocrlab.utils.processes import PARENT_ENV, exit_with_parent, parent_pid_from_env, run_process_group

log = logging.getLogger(__name__)

CONFIG_FILE, RESULT_FILE = "training_config.json", "training_result.json"


class ChildTrainingError(RuntimeError):
    """The training process failed; the message names its exit code and log."""


def train_in_child_process(cfg: DictConfig, directory: str | Path) -> dict[str, Any]:
    """Run ``train(cfg)`` as ``python -m ocrlab.child_training directory`` and wait for it;
    returns ``{"metrics": {...}, "best_model_path": str}``. Its output goes to this process's
    stdout/stderr and to ``<cfg.paths.output_dir>/train.log``."""
    from ocrlab.strategies import LAUNCHER_ENV
    from ocrlab.utils.run import plain_config, run_info

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # resolved, secrets blanked as in the run's config.yaml (W&B reads its key from the environment)
    plain = plain_config(cfg)
    plain.pop("hydra", None)  # the launching job's runtime; interpolations are resolved already
    atomic_write_json(directory / CONFIG_FILE, {"config": plain, "run_info": run_info()})
    result = directory / RESULT_FILE
    result.unlink(missing_ok=True)
    # what a launcher set for its workers: this training starts its own
    env = {k: v for k, v in os.environ.items() if k not in (*LAUNCHER_ENV, "GROUP_RANK", "RANK")}
    command = [sys.executable, "-m", "ocrlab.child_training", str(directory)]
    log.info("training in a new process: %s", " ".join(command))
    # its own process group, which ends with this process however it ends (run_process_group, main)
    code = run_process_group(command, env=env)
    log_file = Path(plain["paths"]["output_dir"]) / "train.log"
    if code != 0:
        raise ChildTrainingError(f"the training process failed (exit code {code}); its log: {log_file}")
    if not result.is_file():
        raise ChildTrainingError(f"the training process ended without writing {result}; its log: {log_file}")
    return json.loads(result.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> None:
    # ends with its parent: the training process (its group's leader) ends its whole group, its
    # DDP workers and data-loader workers with it; a DDP worker ends with the training process
    exit_with_parent(parent_pid_from_env(), group=True)
    os.environ[PARENT_ENV] = str(os.getpid())  # what the workers this process starts watch
    # logging first: pytorch_lightning, imported with no root handler, keeps its records to itself
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m ocrlab.child_training <dir holding training_config.json>")
    directory = Path(args[0])
    spec = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    cfg = OmegaConf.create(spec["config"])
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    _log_to(Path(cfg.paths.output_dir) / ("train.log" if rank == 0 else f"train_process_{rank}.log"))

    from ocrlab.training import train
    from ocrlab.utils.run import apply_extras, record_run_info

    record_run_info(spec.get("run_info") or {})
    apply_extras(cfg)
    metrics, objects = train(cfg)
    trainer = objects["trainer"]
    if trainer.is_global_zero:
        callback = trainer.checkpoint_callback
        atomic_write_json(directory / RESULT_FILE, {"metrics": metrics,
                                                    "best_model_path": getattr(callback, "best_model_path", "") or ""})


def _log_to(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in (logging.StreamHandler(), logging.FileHandler(path, encoding="utf-8")):
        handler.setFormatter(fmt)
        root.addHandler(handler)


if __name__ == "__main__":
    main()
