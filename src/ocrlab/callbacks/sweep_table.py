"""The sweep's table in each job's W&B run (a multirun's jobs share a W&B group)."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl


class SweepTable(pl.Callback):
    """In a multirun, at the end of each job's fit and test (rank zero): the sweep's summary so
    far (:mod:`ocrlab.sweeps`: every job dir of ``sweep_dir``, this job's included, failed ones as
    rows with their error) as the table ``sweep/summary`` of the loggers that take tables (W&B).
    The last job to finish holds the whole sweep; the files of the whole sweep are written at the
    multirun's end (:class:`~ocrlab.utils.hydra_callbacks.WriteSweepSummary`). A table in the jobs'
    own runs, not a run of its own: one W&B run per job. ``sweep_dir`` None (a single run): nothing."""

    def __init__(self, sweep_dir: str | None, report_file: str = "training_report.json"):
        self.sweep_dir = Path(sweep_dir) if sweep_dir else None
        self.report_file = report_file

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.log_table(trainer)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.log_table(trainer)

    def log_table(self, trainer: pl.Trainer) -> None:
        loggers = [lg for lg in trainer.loggers if callable(getattr(lg, "log_table", None))]
        if self.sweep_dir is None or not loggers or not trainer.is_global_zero:
            return
        from ocrlab import sweeps

        summary = sweeps.summarize(self.sweep_dir, self.report_file)
        columns, rows = sweeps.table(summary)
        rows = [[v if v is None or isinstance(v, (int, float, str)) else str(v) for v in row] for row in rows]
        for logger in loggers:
            logger.log_table(key="sweep/summary", columns=columns, data=rows)
