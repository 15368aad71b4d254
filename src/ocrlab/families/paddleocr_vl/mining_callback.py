"""Hard-sample mining after each validation (seed step 9, as a callback).

Reads the scored answers the model keeps from its last validation (``pl_module.val_records``:
what :class:`~ocrlab.families.paddleocr_vl.extraction.ExtractionScorer` records; the vision-language family
keeps them) and writes the analysis of :func:`ocrlab.families.paddleocr_vl.mining.analyse_records`: documents with at
least ``min_errors`` field errors, error patterns by block, field, hard kind, locale and currency,
and a synthesis plan that ``ocrlab-synth invoices --plan`` accepts as is. ``path`` is rewritten
after every validation (atomically); ``history_dir`` keeps one file per step when set. The share
of hard documents is logged (``mining/hard_share``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl

from ocrlab.errors import ConfigError

log = logging.getLogger(__name__)


class HardSampleMining(pl.Callback):
    def __init__(self, path: str, min_errors: int = 3, history_dir: str | None = None):
        if min_errors < 1:
            raise ConfigError(f"callbacks.hard_sample_mining.min_errors={min_errors}: expected >= 1")
        self.path = Path(path)
        self.min_errors = int(min_errors)
        self.history_dir = Path(history_dir) if history_dir else None
        self.last_analysis: dict | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        records = getattr(pl_module, "val_records", None)
        if records is None:
            raise ConfigError(f"callbacks.hard_sample_mining: the model {type(pl_module).__name__} keeps no scored "
                              "validation answers (val_records): mining needs an extraction model")
        if not records:
            return
        from ocrlab.families.paddleocr_vl.mining import analyse_records, summary_lines, write_analysis

        # every rank holds the gathered records: the same analysis everywhere, rank 0 writes it
        analysis = analyse_records(records, self.min_errors)
        self.last_analysis = analysis
        if trainer.is_global_zero:
            write_analysis(analysis, self.path)
            if self.history_dir is not None:
                write_analysis(analysis, self.history_dir / f"hard_samples_step{trainer.global_step:06d}.json")
            for line in summary_lines(analysis):
                log.info("mining: %s", line)
        for logger in trainer.loggers:
            logger.log_metrics({"mining/hard_share": analysis["summary"]["hard_share"]}, step=trainer.global_step)
