"""Writes the family's test report (:class:`~ocrlab.reports.Report`) after a test run."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl

from ocrlab.reports import Report
from ocrlab.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


class TestReports(pl.Callback):
    """After ``trainer.test``, on rank zero: the module's :attr:`~ocrlab.lightning_modules.OcrModule.test_report`
    into ``<run dir>/<dirname>/`` (files, figures as PNG) and to every logger that takes tables
    (``log_table``) and images (``log_image``): W&B."""

    def __init__(self, dirname: str = "reports"):
        self.dirname = dirname

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        report = getattr(pl_module, "test_report", None)
        if not trainer.is_global_zero or not isinstance(report, Report):
            return
        write_report(report, Path(trainer.default_root_dir) / self.dirname, trainer.loggers)


def write_report(report: Report, directory: Path, loggers=()) -> None:
    """``report``'s files and figures into ``directory``; its tables and figures to ``loggers``."""
    from ocrlab.loggers import confusion_plot, table_image

    for name, content in report.files.items():
        if name.endswith(".json"):
            atomic_write_json(directory / name, content)
        else:
            atomic_write_text(directory / name, str(content))
    for name, figure in report.figures.items():
        png = figure.draw(directory / name)
        for logger in loggers if figure.log else ():
            if callable(getattr(logger, "log_image", None)):
                logger.log_image(key=figure.key, images=[str(png)])
    for key, table in report.tables.items():
        images = [table.columns.index(c) for c in table.image_columns]
        for logger in loggers:
            if not callable(getattr(logger, "log_table", None)):
                continue
            rows = [[table_image(logger, _in(directory, v)) if i in images else v for i, v in enumerate(row)]
                    for row in table.rows]
            logger.log_table(key=key, columns=list(table.columns), data=rows)
    for key, confusion in report.confusion_matrices.items():
        for logger in loggers:
            plot = confusion_plot(logger, confusion)
            if plot is not None:
                logger.experiment.log({key: plot})
    log.info("test reports written to %s (%s)", directory, ", ".join([*report.files, *report.figures]))


def _in(directory: Path, path: str | None) -> str | None:
    return None if path is None else str(directory / path) if not Path(path).is_absolute() else str(path)
