"""Hydra callbacks (``conf/hydra/default.yaml``): a clear error for an output dir that cannot
exist, and no secret in any file of a run dir, Hydra's own included.

Hydra writes ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` (and a sweep's
``multirun.yaml``) with the overrides as typed, so ``+wandb_api_key=...`` would land there in
plain text; its job log may receive the launcher's lines naming other jobs' overrides. Each job
rewrites those files without the secret values and filters its log handlers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ocrlab.errors import ConfigError
from ocrlab.utils.io import atomic_write_text
from ocrlab.utils.secrets import scrub, secret_values


def check_output_dir(path: str | Path, key: str) -> None:
    """``path`` can be created as a directory: no part of it is an existing file."""
    path = Path(path).absolute()
    for parent in [path, *path.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{key}: cannot make the run dir {path}: {parent} is a file, not a folder "
                                  "(choose another paths.log_dir)")
            return


class RunDirGuard(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_output_dir(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_output_dir(config.hydra.sweep.dir, "hydra.sweep.dir")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        hydra_cfg = config.hydra
        secrets = secret_values(OmegaConf.to_container(config, resolve=False),
                                list(hydra_cfg.overrides.task) + list(hydra_cfg.overrides.hydra))
        if not secrets:
            return
        files = []
        if hydra_cfg.output_subdir is not None:
            files += sorted((Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir).glob("*.yaml"))
        if hydra_cfg.mode == RunMode.MULTIRUN:
            files.append(Path(hydra_cfg.sweep.dir) / "multirun.yaml")
        for path in files:
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                clean = scrub(text, secrets)
                if clean != text:
                    atomic_write_text(path, clean)
        scrubber = _ScrubFilter(secrets)
        for handler in logging.getLogger().handlers:
            handler.addFilter(scrubber)


class _ScrubFilter(logging.Filter):
    def __init__(self, secrets: set[str]):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


class WriteSweepSummary(Callback):
    """At the end of a multirun: ``sweep_summary.{json,csv,md,png}`` in the sweep dir
    (:mod:`ocrlab.sweeps`) and a non-zero exit when no job succeeded. (The table reaches W&B in
    the jobs' own runs: :class:`~ocrlab.callbacks.SweepTable`.)"""

    def __init__(self, report_file: str = "training_report.json"):
        self.report_file = report_file

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from ocrlab import sweeps

        sweep_dir = Path(config.hydra.sweep.dir)
        summary = sweeps.summarize(sweep_dir, self.report_file)
        if not summary.rows:
            return
        paths = sweeps.write(summary, sweep_dir)
        log = logging.getLogger("ocrlab")
        best = (f"best: job {summary.best.job} ({summary.metric} {summary.best.best_value:.6g})"
                if summary.best else "no job scored")
        log.info("sweep summary: %s (%s)", paths["markdown"], best)
        if summary.all_failed:
            log.error("all %d jobs of the sweep failed: see %s", len(summary.rows), paths["markdown"])
            raise SystemExit(1)
