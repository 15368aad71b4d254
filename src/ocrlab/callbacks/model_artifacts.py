"""W&B model artifacts (``logger=wandb logger.wandb.log_model=true``): the best and last
checkpoints and the family's export, with the run's config and git commit."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

log = logging.getLogger(__name__)


class ModelArtifacts(pl.Callback):
    """At the end of fit, on rank zero, for each W&B logger with ``log_model`` set: a ``model``
    artifact ``checkpoint-<run id>`` of ``best.ckpt`` (aliases ``best``) and of ``last.ckpt``
    (``last``, ``latest``), and ``export-<run id>`` of the family's export of the best checkpoint
    (``ocrlab.loading.export_model`` with ``export_options``: e.g. ``{onnx: true}``, ``{merge: true}``),
    written to ``export_dir``. Each carries ``config.yaml`` and the git commit in its metadata.
    (Lightning's own checkpoint logging is off in :class:`ocrlab.loggers.WandbLogger`: it took one
    checkpoint callback of several and no export.)"""

    def __init__(self, checkpoint_dir: str, export_dir: str, config_file: str | None = None,
                 export_options: dict[str, Any] | None = None):
        self.checkpoint_dir = Path(checkpoint_dir)
        self.export_dir = Path(export_dir)
        self.config_file = Path(config_file) if config_file else None
        self.export_options = dict(export_options or {})

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loggers = [lg for lg in trainer.loggers if getattr(lg, "_log_model", False) and hasattr(lg, "experiment")
                   and hasattr(lg.experiment, "log_artifact")]
        if not loggers or not trainer.is_global_zero:
            return
        from ocrlab.loading import export_model

        checkpoints = {name: self.checkpoint_dir / f"{name}.ckpt" for name in ("best", "last")}
        checkpoints = {k: v for k, v in checkpoints.items() if v.exists()}
        source = checkpoints.get("best") or checkpoints.get("last")
        export = export_model(source, self.export_dir, overwrite=True, **self.export_options) if source else None
        meta = {"git_commit": _git_commit(), "checkpoint": str(source) if source else None,
                "global_step": trainer.global_step, "export_options": self.export_options}
        for logger in loggers:
            run = logger.experiment
            for name, path in checkpoints.items():
                aliases = ["best"] if name == "best" else ["last", "latest"]
                self._log(run, f"checkpoint-{run.id}", path, aliases, meta)
            if export is not None:
                self._log(run, f"export-{run.id}", export, ["best", "latest"], meta)
            log.info("W&B artifacts logged: %s%s", ", ".join(f"{n}.ckpt" for n in checkpoints),
                     f", export {export}" if export else "")

    def _log(self, run: Any, name: str, path: Path, aliases: list[str], meta: dict) -> None:
        import wandb

        artifact = wandb.Artifact(name, type="model", metadata=meta)
        if path.is_dir():
            artifact.add_dir(str(path), name=path.name)
        else:
            artifact.add_file(str(path))
        if self.config_file is not None and self.config_file.is_file():
            artifact.add_file(str(self.config_file), name="config.yaml")
        run.log_artifact(artifact, aliases=aliases)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
