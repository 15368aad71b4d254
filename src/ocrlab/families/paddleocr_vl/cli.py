"""``ocrlab-loop``: the hard-sample loop's entry point (``conf/loop.yaml``), on the shared Hydra
app and job runner of :mod:`ocrlab.cli`."""

from __future__ import annotations

from omegaconf import DictConfig

from ocrlab.cli import hydra_app, run_job


@hydra_app("loop")
def loop_main(cfg: DictConfig) -> None:
    """The hard-sample loop: ``ocrlab-loop experiment=paddleocr_vl_lora_cpu rounds=3``
    (generate -> pairs -> train -> predict -> mine, per round; resumes where it stopped)."""

    def job(cfg: DictConfig):
        from ocrlab.families.paddleocr_vl.loop import Loop, log_rows, print_rows
        from ocrlab.utils.run import finish_loggers, instantiate_group

        loop = Loop(cfg)
        rows = loop.run()
        # after the rounds: each round's training run has its own W&B run while it trains
        loggers = instantiate_group(cfg.get("logger"), "logger")
        try:
            log_rows(rows, loggers)
        finally:
            finish_loggers(loggers)
        print_rows(rows, f"ocrlab-loop: {len(rows)} round(s) in {loop.dir} (rounds.json, rounds.csv)")
        return rows

    run_job(job, cfg, "loop")
