"""LayoutLMv3 training overhead: ocrlab's ``train(cfg)`` (Lightning) vs a plain Hugging Face ``Trainer``.

Both sides train the same ``LayoutMultitaskNet`` (``LayoutLMv3Multitask`` built by ``build_model``
from the composed ``experiment=layoutlmv3_multitask_cpu`` config, same seed, so the same initial
weights: checked) on the same batches (the ``DocumentDataModule`` train dataloader: same
documents, windows, padding and order; checked), with the same optimizer and schedule (the
model's configured AdamW and warmup-cosine factories), the same gradient clipping
(``trainer.gradient_clip_val``), on the CPU in fp32, for the same number of steps.

* ocrlab: ``ocrlab.training.train(cfg)``, i.e. what ``python train.py`` runs: the configured
  callbacks (checkpoints, model summary, training report) minus the progress bar, the CSV logger
  (the module logs its losses and learning rate every step, the gradient norm every
  ``log_every_n_steps``). Validation, sanity check and test are off.
* Hugging Face: ``transformers.Trainer`` on a small ``nn.Module`` around the same network whose
  ``forward(**batch)`` returns ``{"loss": ...}``: the module's own window merge and
  ``LayoutLMv3Multitask._loss``. ``get_train_dataloader`` returns the data module's train loader
  (through ``accelerator.prepare``, as the Trainer does with its own); the optimizer and
  scheduler are passed in (``optimizers=``); ``report_to=[]``, ``save_strategy="no"``, no
  logging inside the run, ``use_cpu``, ``disable_tqdm``, ``dataloader_num_workers=0``.

Timing: the end of every optimizer step is stamped (Lightning: a last callback's
``on_train_batch_end``; HF: a ``TrainerCallback``'s ``on_step_end``). Throughput is taken from the
end of step ``--warmup`` to the end of the last step, so both count the same steps, each with its
data fetch. One untimed HF run warms the process up; then the two alternate ``--repeats`` times
(HF first in even repeats, ocrlab first in odd ones); medians are compared.

    python bench/layoutlmv3_overhead.py           # small encoder, 512 tokens, batch 8: ~5-10 min on 2 cores (estimate)
    python bench/layoutlmv3_overhead.py --quick   # tiny encoder: smoke run
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NAME = "layoutlmv3_overhead"
EXPERIMENT = "layoutlmv3_multitask_cpu"
TARGET_RATIO = 0.97


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--json", dest="output", type=Path, default=None, help="same as --output")
    parser.add_argument("--encoder", default="small", choices=("base", "small", "tiny"), help="model/encoder config")
    parser.add_argument("--max-length", type=int, default=512, help="model.max_length (tokens per window)")
    parser.add_argument("--batch-size", type=int, default=8, help="documents per batch (data.batch_size)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before the window (>= 1)")
    parser.add_argument("--repeats", type=int, default=3, help="HF/ocrlab pairs, alternated")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="an existing business-document dataset (default: generated into bench/.cache/data)")
    parser.add_argument("--num-samples", type=int, default=200,
                        help="generated documents (80%% go to train, which must hold warmup + steps batches)")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="data generation processes")
    parser.add_argument("--threads", type=int, default=None, help="torch threads; None leaves torch's default (one per core)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for both sides (repeatable)")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"encoder": "tiny", "max_length": 128, "steps": 3, "warmup": 1, "repeats": 1,
                                      "batch_size": 4, "num_samples": 60, "workers": 1, "threads": 1})
    if args.warmup < 1 or args.steps < 1 or args.repeats < 1:
        parser.error("--warmup, --steps and --repeats must be >= 1")
    common.warn_if_busy()
    common.set_torch_threads(args.threads)

    import torch

    from ocrlab.loading import build_model

    data_dir, data_info = (args.data_dir.resolve(), {"path": str(args.data_dir.resolve()), "generated_now": False}) \
        if args.data_dir else ensure_business_docs(args.num_samples, args.data_seed, args.workers, not args.quick)
    n_steps = args.warmup + args.steps
    overrides = [*common.run_overrides(EXPERIMENT), f"data.data_dir={data_dir}", "data.synth=null",
                 f"model/encoder={args.encoder}", f"model.max_length={args.max_length}",
                 f"model.stride={min(128, args.max_length // 4)}", f"data.batch_size={args.batch_size}",
                 "data.num_workers=0", "trainer.accelerator=cpu", "trainer.precision=32-true",
                 "trainer.accumulate_grad_batches=1", "test=false", "++trainer.max_time=null",
                 "++trainer.limit_val_batches=0", "++trainer.num_sanity_val_steps=0",
                 f"trainer.max_steps={n_steps}", "trainer.enable_progress_bar=false", "~callbacks.progress_bar",
                 *([f"torch_threads={args.threads}"] if args.threads else []), *args.override]
    cfg = common.compose_config(overrides, common.new_run_dir(NAME))
    datamodule, first, available = common.attached_datamodule(cfg, build_model, n_steps, NAME, "--num-samples")
    parameters = sum(p.numel() for p in first.parameters())
    del first

    runs = common.alternate_sides(NAME, lambda steps: hf_run(cfg, datamodule, steps), lambda: ocrlab_run(overrides),
                                  n_steps, args.warmup, args.repeats, "samples_per_s", "docs/s")
    sides = common.compare_sides(runs, "samples_per_s")
    hf, ocr, pair_ratios, ratio = sides["hf"], sides["ocrlab"], sides["pair_ratios"], sides["ratio"]
    same_batches, same_init, same_losses, loss_gap = (sides["same_batches"], sides["same_init"],
                                                      sides["same_losses"], sides["loss_gap"])
    windows = [b[1] for b in runs[0]["batches"][args.warmup:]]
    results = {
        "hf_docs_per_s_median": common.median(hf),
        "ocrlab_docs_per_s_median": common.median(ocr),
        "ratio_ocrlab_to_hf": ratio,
        "pair_ratios": pair_ratios,
        "pair_ratio_median": common.median(pair_ratios),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "same_batches_every_run": same_batches,
        "same_initial_weights_every_run": same_init,
        "same_losses_every_run": same_losses,
        "max_loss_difference": loss_gap,
        "windows_per_timed_step_mean": sum(windows) / len(windows),
        "batch_size": args.batch_size,
        "runs": runs,
        "data": {**data_info, "train_documents": len(datamodule.datasets["train"]), "train_batches": available},
        "model": {"experiment": EXPERIMENT, "encoder": args.encoder, "max_length": args.max_length,
                  "parameters": parameters},
        "transformers": common.package_version("transformers"),
        "accelerate": common.package_version("accelerate"),
    }
    method = {
        "timed_window": f"end of step {args.warmup} -> end of step {n_steps} ({args.steps} optimizer steps, "
                        "each with its data fetch); samples = documents (a batch is --batch-size documents, "
                        "however many 512-token windows they need)",
        "ocrlab": "ocrlab.training.train(cfg): Lightning Trainer, configured callbacks without the progress bar "
                  "(model_checkpoint, last_checkpoint, periodic_checkpoint, model_summary, training_report) + "
                  "common.DocumentStepTimer stamping on_train_batch_end; logger=csv; limit_val_batches=0, "
                  "num_sanity_val_steps=0, test=false, enable_progress_bar=false",
        "hf": "transformers.Trainer(model=wrapper(net), optimizers=(the model's AdamW, its warmup_cosine "
              f"scheduler over {n_steps} steps)); get_train_dataloader -> accelerator.prepare(the data module's "
              "train loader); TrainingArguments(report_to=[], save_strategy='no', eval_strategy='no', "
              "logging_steps=1e6, use_cpu=True, disable_tqdm=True, dataloader_num_workers=0, "
              "max_grad_norm=trainer.gradient_clip_val, max_steps, seed); a TrainerCallback stamps on_step_end; "
              "the global torch RNG is put back after Trainer.__init__'s set_seed so dropout draws as in Lightning",
        "loss": "wrapper.forward = net(...) -> merge_windows -> LayoutLMv3Multitask._loss (the module's own code)",
        "order": "one untimed HF run (warmup + 1 steps) first, then per repeat HF, ocrlab (even repeats) or ocrlab, "
                 "HF (odd); medians over repeats; ratio = median(ocrlab) / median(HF)",
        "checks": "batches signature = (documents, windows, padded length, sum of token ids) of every step; "
                  "initial weights = sum of all parameters; losses = every step's loss",
        "overrides": overrides,
    }
    common.print_table(
        f"{NAME}: documents/s over {args.steps} training steps (LayoutLMv3 {args.encoder}, {args.max_length} tokens, "
        f"batch {args.batch_size}, median of {args.repeats})",
        ["path", "docs/s (median)", "ms/step (median)", "runs (docs/s)"],
        [["Hugging Face Trainer", common.median(hf),
          common.median([r["ms_per_step"] for r in runs if r["side"] == "hf"]), ", ".join(f"{v:.2f}" for v in hf)],
         ["ocrlab train(cfg)", common.median(ocr),
          common.median([r["ms_per_step"] for r in runs if r["side"] == "ocrlab"]), ", ".join(f"{v:.2f}" for v in ocr)],
         ["ratio ocrlab / HF", ratio, None, ", ".join(f"{v:.3f}" for v in pair_ratios)]],
        caption=f"target ratio >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}; same batches on "
                f"every run: {same_batches}; same initial weights: {same_init}; same losses: {same_losses} "
                f"(max difference {loss_gap:.2e}); {parameters:,} parameters; "
                f"{results['windows_per_timed_step_mean']:.1f} windows per step; torch threads {torch.get_num_threads()}"
                + ("\n--quick: tiny smoke run, the figures mean nothing" if args.quick else ""),
    )
    common.write_results(NAME, args, results, method)


# -- the two sides ------------------------------------------------------------------------------
def ocrlab_run(overrides: list[str]) -> dict:
    """``train(cfg)`` with a DocumentStepTimer callback."""
    _, timer, total, out = common.train_with_timer(NAME, overrides, common.DocumentStepTimer)
    return {"ends": timer.ends, "sizes": timer.sizes, "batches": timer.batches, "losses": timer.losses,
            "initial_weights": timer.initial_weights, "call_s": total, "run_dir": str(out)}


def hf_run(cfg, datamodule, n_steps: int) -> dict:
    """A ``transformers.Trainer`` run of ``n_steps`` on the data module's train loader."""
    import pytorch_lightning as pl
    import torch

    from ocrlab.families.layoutlmv3.module import LayoutLMv3Multitask
    from ocrlab.families.layoutlmv3.net import merge_windows
    from ocrlab.label_spaces import fit_label_spaces
    from ocrlab.loading import build_model

    class LossModel(torch.nn.Module):
        """The network + the ocrlab module's window merge and loss; ``forward(**batch)`` -> ``{"loss"}``."""

        def __init__(self, module: LayoutLMv3Multitask):
            super().__init__()
            self.net = module.net
            self.loss_weights = dict(module.loss_weights)  # what LayoutLMv3Multitask._loss reads
            self.records: list[tuple] = []

        def forward(self, input_ids, bbox, attention_mask, labels, window_doc, word_index, num_words, doc_type,
                    po_subtype, pixel_values=None, id=None, words=None, word_labels=None):
            batch = {"input_ids": input_ids, "labels": labels, "doc_type": doc_type, "po_subtype": po_subtype,
                     "num_words": num_words}
            doc, sub, tok = self.net(input_ids, bbox, attention_mask, pixel_values)
            doc, sub, _ = merge_windows(doc, sub, tok, window_doc, word_index, len(num_words),
                                        [int(n) for n in num_words])
            loss = LayoutLMv3Multitask._loss(self, tok, doc, sub, batch)["loss"]
            self.records.append((common.document_batch_key(batch), float(loss.detach())))
            return {"loss": loss}

    model_cfg = fit_label_spaces(cfg.model, datamodule)
    pl.seed_everything(cfg.seed, workers=True)
    module = build_model(model_cfg)
    rng = torch.get_rng_state()  # as in train(cfg): dropout draws from here on
    model = LossModel(module)
    initial = common.weights_checksum(model)
    ends, total, out = common.hf_trainer_steps(model, module, cfg, datamodule, n_steps, NAME, rng)
    if len(model.records) != len(ends):
        raise RuntimeError(f"{len(model.records)} forward calls for {len(ends)} steps")
    batches = [key for key, _ in model.records]
    return {"ends": ends, "sizes": [b[0] for b in batches], "batches": batches,
            "losses": [loss for _, loss in model.records], "initial_weights": initial, "call_s": total,
            "run_dir": str(out)}


# -- data -----------------------------------------------------------------------------------------
def ensure_business_docs(num_samples: int, seed: int, workers: int, progress: bool) -> tuple[Path, dict]:
    """Generated business documents in ``bench/.cache/data/business_docs-<hash of the spec>``
    (written on first use with ``write_dataset``, the code path of ``ocrlab-synth business-docs``)."""
    from ocrlab.synth.business_docs import BusinessDocGenerator
    from ocrlab.synth.dataset import write_dataset

    generator = BusinessDocGenerator(seed=seed)
    spec = {"generator": generator.spec(), "num_samples": num_samples}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    path = common.CACHE_DIR / "data" / f"business_docs-{digest}"
    existed = path.is_dir()
    start = time.perf_counter()
    write_dataset(generator, path, num_samples, workers=max(1, workers), progress=progress)
    return path, {"path": str(path), "spec": {"seed": seed, "num_samples": num_samples}, "generated_now": not existed,
                  "generation_s": None if existed else round(time.perf_counter() - start, 2)}


if __name__ == "__main__":
    main()
