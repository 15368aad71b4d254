"""PaddleOCR-VL LoRA training overhead: ocrlab's ``train(cfg)`` (Lightning) vs a plain Hugging Face ``Trainer`` + peft.

Both sides train the same network: ``PaddleOCRVL`` built by ``build_model`` from the composed
``experiment=paddleocr_vl_lora_cpu`` config (the ``small`` preset with random weights wrapped in
the experiment's peft LoRA: rank 8, alpha 32, dropout 0.05 on the language model's attention and
MLP), same seed, so the same initial weights (checked); on the same batches (the
``InstructionPairsDataModule`` train dataloader with the module's ``VLChatCollator``: same rows,
padding and order; checked); with the same optimizer and schedule (the model's configured AdamW
and warmup-cosine factories over the same steps), the same gradient clipping
(``trainer.gradient_clip_val``), on the CPU in fp32.

* ocrlab: ``ocrlab.training.train(cfg)``, what ``python train.py experiment=paddleocr_vl_lora_cpu``
  runs: the configured callbacks (checkpoints, model summary, training report, export directories,
  hard-sample mining) minus the progress bar, the CSV logger (loss and learning rate every step,
  gradient norm every ``log_every_n_steps``). Validation, sanity check, test and the
  starting-weights evaluation are off.
* Hugging Face: ``transformers.Trainer(model=<the PeftModel itself>)``: its own
  ``compute_loss`` (``model(**batch).loss``, the model's causal-LM loss on the answer labels);
  ``get_train_dataloader`` returns the data module's train loader (through
  ``accelerator.prepare``, as the Trainer does with its own); optimizer and scheduler passed in
  (``optimizers=``); ``report_to=[]``, ``save_strategy="no"``, no logging inside the run,
  ``use_cpu``, ``disable_tqdm``, ``dataloader_num_workers=0``. Per-step losses and batch keys are
  read by forward hooks on the PeftModel (one ``float(loss)`` a step, as the Lightning timer does).

Timing: the end of every optimizer step is stamped (Lightning: a last callback's
``on_train_batch_end``; HF: a ``TrainerCallback``'s ``on_step_end``); throughput from the end of
step ``--warmup`` to the end of the last step, each step with its data fetch (image processing and
tokenization in the main process). One untimed HF run first; then ``--repeats`` pairs, HF first in
even repeats and ocrlab first in odd ones; medians compared.

    python bench/vl_overhead.py           # small preset, batch 2, 3 + 20 steps, 3 pairs: ~5 min on 2 cores
    python bench/vl_overhead.py --quick   # tiny preset: smoke run
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import vl_common

NAME = "vl_overhead"
EXPERIMENT = vl_common.LORA_EXPERIMENT
TARGET_RATIO = 0.97


def main() -> None:
    parser = common.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--json", dest="output", type=Path, default=None, help="same as --output")
    parser.add_argument("--preset", default="small", choices=("tiny", "small", "real"), help="model/net preset")
    parser.add_argument("--batch-size", type=int, default=None, help="pairs per batch (None: the experiment's)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before the window (>= 1)")
    parser.add_argument("--repeats", type=int, default=3, help="HF/ocrlab pairs, alternated")
    parser.add_argument("--documents", type=int, default=40,
                        help="generated invoices (5 pairs each; 80%% of the documents go to train, which must "
                             "hold warmup + steps batches)")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads on both sides (the experiment's torch_threads is 1)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for both sides (repeatable)")
    args = parser.parse_args()
    common.apply_quick(args, parser, {"preset": "tiny", "steps": 3, "warmup": 1, "repeats": 1, "documents": 10})
    if args.warmup < 1 or args.steps < 1 or args.repeats < 1 or args.threads < 1:
        parser.error("--warmup, --steps, --repeats and --threads must be >= 1")
    common.warn_if_busy()
    common.set_torch_threads(args.threads)

    import torch
    from omegaconf import OmegaConf

    from ocrlab.families.paddleocr_vl.net import count_parameters
    from ocrlab.loading import build_model

    pairs_dir, data_info = vl_common.ensure_pairs(args.documents, args.data_seed, progress=not args.quick)
    n_steps = args.warmup + args.steps
    overrides = [*common.run_overrides(EXPERIMENT), *vl_common.data_overrides(pairs_dir, args.batch_size),
                 *vl_common.cpu_training_overrides(n_steps, args.threads), f"model/net={args.preset}",
                 "trainer.enable_progress_bar=false", "~callbacks.progress_bar", *args.override]
    cfg = common.compose_config(overrides, common.new_run_dir(NAME))
    datamodule, first, available = common.attached_datamodule(cfg, build_model, n_steps, NAME, "--documents")
    parameters = count_parameters(first.net)
    trainable = count_parameters(first.net, trainable_only=True)
    del first

    runs = common.alternate_sides(NAME, lambda steps: hf_run(cfg, datamodule, steps), lambda: ocrlab_run(overrides),
                                  n_steps, args.warmup, args.repeats, "steps_per_s", "steps/s")
    sides = common.compare_sides(runs, "steps_per_s")
    hf, ocr, pair_ratios, ratio = sides["hf"], sides["ocrlab"], sides["pair_ratios"], sides["ratio"]
    same_batches, same_init, same_losses, loss_gap = (sides["same_batches"], sides["same_init"],
                                                      sides["same_losses"], sides["loss_gap"])
    same_threads = len({r["torch_threads"] for r in runs}) == 1
    first_losses = {side: [r["losses"][0] for r in runs if r["side"] == side] for side in ("hf", "ocrlab")}
    timed = runs[0]["batches"][args.warmup:]
    results = {
        "hf_steps_per_s_median": common.median(hf),
        "ocrlab_steps_per_s_median": common.median(ocr),
        "hf_pairs_per_s_median": common.median([r["samples_per_s"] for r in runs if r["side"] == "hf"]),
        "ocrlab_pairs_per_s_median": common.median([r["samples_per_s"] for r in runs if r["side"] == "ocrlab"]),
        "ratio_ocrlab_to_hf": ratio,
        "pair_ratios": pair_ratios,
        "pair_ratio_median": common.median(pair_ratios),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "same_batches_every_run": same_batches,
        "same_initial_weights_every_run": same_init,
        "same_torch_threads_every_run": same_threads,
        "same_losses_every_run": same_losses,
        "max_loss_difference": loss_gap,
        "first_batch_loss": first_losses,
        "timed_batches": {"padded_length_mean": sum(b[1] for b in timed) / len(timed),
                          "answer_tokens_mean": sum(b[3] for b in timed) / len(timed),
                          "image_tokens_mean": sum(b[4] for b in timed) / len(timed)},
        "batch_size": int(cfg.data.batch_size),
        "runs": runs,
        "data": {**data_info, "train_pairs": len(datamodule.datasets["train"]), "train_batches": available},
        "model": {"experiment": EXPERIMENT, "preset": args.preset, "parameters": parameters,
                  "trainable_parameters": trainable, "lora": OmegaConf.to_container(cfg.model.lora)},
        "transformers": common.package_version("transformers"),
        "peft": common.package_version("peft"),
        "accelerate": common.package_version("accelerate"),
    }
    method = {
        "timed_window": f"end of step {args.warmup} -> end of step {n_steps} ({args.steps} optimizer steps, "
                        "each with its data fetch: image processing, tokenization, collation in the main process)",
        "ocrlab": "ocrlab.training.train(cfg): Lightning Trainer, the experiment's callbacks without the progress "
                  "bar + vl_common.VLStepTimer stamping on_train_batch_end; logger=csv; limit_val_batches=0, "
                  "num_sanity_val_steps=0, test=false, model.evaluate_base=false, enable_progress_bar=false",
        "hf": "transformers.Trainer(model=the PeftModel, optimizers=(the model's AdamW over its trainable "
              f"parameters, its warmup_cosine scheduler over {n_steps} steps)); the Trainer's own compute_loss; "
              "get_train_dataloader -> accelerator.prepare(the data module's train loader); "
              "TrainingArguments(report_to=[], save_strategy='no', eval_strategy='no', logging_steps=1e6, "
              "use_cpu=True, disable_tqdm=True, dataloader_num_workers=0, max_grad_norm=trainer.gradient_clip_val, "
              "max_steps, seed); a TrainerCallback stamps on_step_end; forward hooks on the PeftModel record each "
              "step's batch key and loss; the global torch RNG is put back after Trainer.__init__'s set_seed so "
              "LoRA dropout draws as in Lightning",
        "loss": "ocrlab: PaddleOCRVL._loss = net(**inputs, labels, use_cache=False).loss (mean over answer tokens); "
                "HF: net(**batch, num_items_in_batch).loss (sum / answer tokens): the same value",
        "order": "one untimed HF run (warmup + 1 steps) first, then per repeat HF, ocrlab (even repeats) or ocrlab, "
                 "HF (odd); medians over repeats; ratio = median(ocrlab steps/s) / median(HF steps/s)",
        "checks": "batch key = (rows, padded length, sum of token ids, answer tokens, image tokens) of every step; "
                  "initial weights = sum of all parameters; losses = every step's loss on both sides",
        "overrides": overrides,
    }
    common.print_table(
        f"{NAME}: training steps/s over {args.steps} LoRA steps (PaddleOCR-VL {args.preset}, batch "
        f"{cfg.data.batch_size}, median of {args.repeats})",
        ["path", "steps/s (median)", "ms/step (median)", "runs (steps/s)"],
        [["Hugging Face Trainer + peft", common.median(hf),
          common.median([r["ms_per_step"] for r in runs if r["side"] == "hf"]), ", ".join(f"{v:.3f}" for v in hf)],
         ["ocrlab train(cfg)", common.median(ocr),
          common.median([r["ms_per_step"] for r in runs if r["side"] == "ocrlab"]),
          ", ".join(f"{v:.3f}" for v in ocr)],
         ["ratio ocrlab / HF", ratio, None, ", ".join(f"{v:.3f}" for v in pair_ratios)]],
        caption=f"target ratio >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}; same batches on "
                f"every run: {same_batches}; same initial weights: {same_init}; same losses: {same_losses} "
                f"(max difference {loss_gap:.2e}; first batch HF {first_losses['hf'][0]:.5f}, ocrlab "
                f"{first_losses['ocrlab'][0]:.5f}); {trainable:,} of {parameters:,} parameters trainable; "
                f"timed batches: {results['timed_batches']['padded_length_mean']:.0f} tokens padded, "
                f"{results['timed_batches']['answer_tokens_mean']:.0f} answer tokens on average; torch threads "
                f"{torch.get_num_threads()}" + ("\n--quick: tiny smoke run, the figures mean nothing" if args.quick else ""),
    )
    common.write_results(NAME, args, results, method)


# -- the two sides ------------------------------------------------------------------------------
def ocrlab_run(overrides: list[str]) -> dict:
    """``train(cfg)`` with a VLStepTimer callback."""
    _, timer, total, out = common.train_with_timer(NAME, overrides, vl_common.VLStepTimer)
    import torch

    return {"ends": timer.ends, "sizes": timer.sizes, "batches": timer.batches, "losses": timer.losses,
            "initial_weights": timer.initial_weights, "call_s": total, "run_dir": str(out),
            "torch_threads": torch.get_num_threads()}


def hf_run(cfg, datamodule, n_steps: int) -> dict:
    """A ``transformers.Trainer`` run of ``n_steps`` on the data module's train loader."""
    import pytorch_lightning as pl
    import torch

    from ocrlab.label_spaces import fit_label_spaces
    from ocrlab.loading import build_model

    model_cfg = fit_label_spaces(cfg.model, datamodule)
    pl.seed_everything(cfg.seed, workers=True)
    module = build_model(model_cfg)
    rng = torch.get_rng_state()  # as in train(cfg): LoRA dropout draws from here on
    model = module.net  # the PeftModel: what a plain HF + peft script trains
    initial = common.weights_checksum(model)
    keys: list[tuple] = []
    losses: list[float] = []
    hooks = [model.register_forward_pre_hook(lambda m, a, kw: keys.append(vl_common.batch_key(kw)), with_kwargs=True),
             model.register_forward_hook(lambda m, a, out: losses.append(float(out.loss.detach())))]
    ends, total, out = common.hf_trainer_steps(model, module, cfg, datamodule, n_steps, NAME, rng)
    for hook in hooks:
        hook.remove()
    if not (len(keys) == len(losses) == len(ends)):
        raise RuntimeError(f"{len(keys)} forward calls, {len(losses)} losses for {len(ends)} steps")
    return {"ends": ends, "sizes": [k[0] for k in keys], "batches": keys, "losses": losses,
            "initial_weights": initial, "call_s": total, "run_dir": str(out), "torch_threads": torch.get_num_threads()}

if __name__ == "__main__":
    main()
