"""A test-only callback (importable by job processes through PYTHONPATH): sends this process the
cluster's preemption signal once, at a given step of a run that did not resume."""

import os

import pytorch_lightning as pl


class SignalAtStep(pl.Callback):
    def __init__(self, step: int, signum: int):
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step and trainer.ckpt_path is None:
            os.kill(os.getpid(), self.signum)
