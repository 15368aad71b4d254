"""The LightningModule every family builds on.

What is the same for every model lives here: optimizer and schedule from config, the gradient
norm, RNG state for exact resume, and the checkpoint metadata that lets one loader rebuild any
family without the training config (the resolved model config with its ``_target_``, the
label space frozen into it, the run's config choices, RNG).

A family subclass implements the steps (``training_step``, ``validation_step``, ``test_step``,
``predict_step``: a batch -> its predictions) and declares its label space (:meth:`label_space`);
see the README's "Adding a family".
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch

from ocrlab.errors import CheckpointError, ConfigError
from ocrlab.lightning_modules.resume import (
    check_architecture,
    check_label_space,
    finish_interrupted_epoch,
    rng_states,
    set_rng_states,
)
from ocrlab.model_files import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_KEY,
    EXPORT_META,
    EXPORT_WEIGHTS,
    read_torch_file,
    retarget,
)
from ocrlab.reports import Report
from ocrlab.strategies import gradient_norm
from ocrlab.utils.io import atomic_write, atomic_write_json

log = logging.getLogger(__name__)



class OcrModule(pl.LightningModule):
    """Shared base: ``optimizer`` and ``scheduler`` are ``_partial_`` factories from config."""

    #: what a baseline must do to be compared with this family (``evaluate.py baseline=...``)
    task: ClassVar[str] = ""
    #: what ``evaluate.py compare=[...]`` tabulates for this task: column -> test metric key
    #: ({}: every test metric), and what one test row is (its speed columns: ms per <unit>, <unit>s/s)
    comparison_columns: ClassVar[dict[str, str]] = {}
    test_unit: ClassVar[str] = "sample"
    #: quantized inference modes (``evaluate.py quantize=<mode>``) -> what each does; {}: none
    quantization_modes: ClassVar[dict[str, str]] = {}
    #: set by :meth:`quantized`: the mode and what was done (a quantized model is not saved)
    quantization: dict[str, Any] | None = None

    def __init__(self, optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None):
        super().__init__()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        # the resolved model config, set by ocrlab.loading.build_model; saved (frozen) in checkpoints
        self.model_config: dict | None = None
        # what the entry point knows about the run (config-group choices), saved in checkpoints
        self.run_info: dict = {}
        # warnings about individual samples (kind -> count), read by the training report
        self.sample_warnings: Counter[str] = Counter()
        # the last test run's rows, one dict per sample: the columns of evaluate.py's predictions files
        self.test_rows: list[dict[str, Any]] = []
        # the last test run's report (files, tables, figures), built on every rank at the test
        # epoch's end; written by the shared TestReports callback (None: metrics only)
        self.test_report: Report | None = None
        # set by on_load_checkpoint when resuming at an epoch's end (finish_interrupted_epoch)
        self._resumed_at_epoch_end = False

    # -- the label space ---------------------------------------------------------------------
    #: the model config keys (and attribute names) of what this model predicts over and reads
    #: with: charset, tokenizer, label map, processor
    label_space_keys: ClassVar[tuple[str, ...]] = ()

    def label_space(self) -> dict[str, Any]:
        """``{model config key: object}`` of :attr:`label_space_keys`. Each object has
        ``to_config()``: a ``_target_`` config that rebuilds it exactly, without the files it
        was first built from (saved in checkpoints)."""
        return {key: getattr(self, key) for key in self.label_space_keys}

    @classmethod
    def label_spaces_to_fit(cls, model_cfg: dict) -> list[str]:
        """The keys of ``model_cfg`` (resolved) that :func:`ocrlab.label_spaces.fit_label_spaces`
        may have to learn from data (those whose object is a ``LearnedLabelSpace``). A family
        whose config ignores an entry in some setting (a pretrained directory that brings its
        own tokenizer) leaves it out then."""
        return [key for key in cls.label_space_keys if isinstance(model_cfg.get(key), dict)]

    @classmethod
    def label_spaces_from_weights(cls, model_cfg: dict) -> dict[str, dict]:
        """Learned label-space configs fixed by the weights ``model_cfg`` starts from (another
        checkpoint's tokenizer); those are not learned again. Default: none."""
        return {}

    def frozen_config(self) -> dict:
        """The model config with its label space frozen in: instantiating it rebuilds this
        model's architecture and label space anywhere."""
        if self.model_config is None:
            raise CheckpointError(f"{type(self).__name__} was not built by ocrlab.loading.build_model: "
                                  "it has no model config to save")
        cfg = copy.deepcopy(self.model_config)
        for key, obj in self.label_space().items():
            cfg[key] = obj.to_config()
        return cfg

    # -- what a data module takes from the model ---------------------------------------------
    def data_encoder(self) -> Any:
        """What a data module needs from this model to turn samples into batches (its label space
        and input spec), as one object of the kind that data module reads: text lines take a
        :class:`~ocrlab.datamodules.line_images.LineEncoding`, a family's own data module the kind
        it defines. The data module checks the kind and names both classes otherwise. None: this
        model reads no data module's samples."""
        return None

    # -- sharding (FSDP) ----------------------------------------------------------------------
    @property
    def layer_classes(self) -> frozenset[type[torch.nn.Module]]:
        """The repeated blocks (transformer layers; an encoder-decoder has two kinds): FSDP1's wrap
        units and the units of activation checkpointing (``ocrlab.strategies.FSDPStrategy``).
        Empty: the model is one unit."""
        return frozenset()

    def fsdp_units(self) -> list[torch.nn.Module]:
        """The modules FSDP2 shards one by one before :meth:`fsdp_root` (a transformer family's
        blocks: each is gathered only while it runs). ``[]``: the root is the only unit.
        (FSDP1, ``ocrlab.strategies.FSDPStrategy``, wraps instances of :attr:`layer_classes`.)"""
        return []

    def fsdp_root(self) -> torch.nn.Module | None:
        """The network FSDP2 shards as a whole after :meth:`fsdp_units`: ``self.net`` if there is
        one. It must hold every trainable parameter. Call it as ``self.net(...)``: FSDP2 gathers
        the parameters in its ``__call__``; other methods called on it (e.g. ``generate``) are
        named in :attr:`fsdp_forward_methods`."""
        net = getattr(self, "net", None)
        return net if isinstance(net, torch.nn.Module) else None

    #: methods of :meth:`fsdp_root` besides ``__call__`` that run it (``generate``): under FSDP2
    #: they gather its parameters as ``__call__`` does (``register_fsdp_forward_method``)
    fsdp_forward_methods: ClassVar[tuple[str, ...]] = ()

    def call_gathered(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``getattr(self, method)(*args, **kwargs)`` outside the steps (``on_train_start``, a
        callback) with the network usable under every strategy. FSDP1 keeps the root unit's own
        parameters (those outside every block of ``layer_classes``) sharded between forwards: the
        call goes through the wrapper's forward, as Lightning routes the steps (every rank must
        make the same calls: the gathers are collectives). FSDP2 gathers in the root's
        ``__call__`` and :attr:`fsdp_forward_methods`; DDP and one device need nothing."""
        from torch.distributed.fsdp import FullyShardedDataParallel

        trainer = self._trainer
        wrapper = trainer.strategy.model if trainer is not None else None
        if isinstance(wrapper, FullyShardedDataParallel) and wrapper.module is self:
            return trainer.strategy._forward_redirection(wrapper, self, method, *args, **kwargs)
        return getattr(self, method)(*args, **kwargs)

    def configure_model(self) -> None:
        """FSDP2 under Lightning's ``ModelParallelStrategy`` (``trainer=fsdp2``): ``fully_shard``
        each of :meth:`fsdp_units`, then :meth:`fsdp_root`, over the data-parallel mesh. Under
        any other strategy (no device mesh) nothing happens. Lightning may call this more than
        once (fit, then test): modules already sharded are left as they are."""
        try:
            mesh = self.device_mesh
        except (AttributeError, RuntimeError):  # no mesh before the processes are initialized
            mesh = None
        if mesh is None:
            return
        from torch.distributed.fsdp import FSDPModule, fully_shard
        from torch.distributed.tensor import DTensor

        names = tuple(mesh.mesh_dim_names or ())
        if "tensor_parallel" in names and mesh["tensor_parallel"].size() > 1:
            raise ConfigError(f"trainer.strategy.tensor_parallel_size={mesh['tensor_parallel'].size()}: "
                              f"{type(self).__name__} has no tensor-parallel plan (use tensor_parallel_size=1)")
        dp_mesh = mesh["data_parallel"] if "data_parallel" in names else mesh
        root = self.fsdp_root()
        if root is None:
            raise ConfigError(f"{type(self).__name__} has no network to shard: FSDP2 needs fsdp_root() "
                              "(by default the attribute `net`)")
        if isinstance(root, FSDPModule):
            return
        from ocrlab.strategies import contiguous_parameters

        contiguous_parameters(self, "trainer=fsdp2")
        for unit in self.fsdp_units():
            if not isinstance(unit, FSDPModule):
                fully_shard(unit, mesh=dp_mesh)
        fully_shard(root, mesh=dp_mesh)
        from torch.distributed.fsdp import register_fsdp_forward_method

        for name in self.fsdp_forward_methods:
            if not callable(getattr(root, name, None)):
                raise ConfigError(f"{type(self).__name__}.fsdp_forward_methods: {type(root).__name__} has no "
                                  f"method {name!r}")
            register_fsdp_forward_method(root, name)
        # a parameter outside the root would get no gradient synchronization at all
        outside = [n for n, p in self.named_parameters() if p.requires_grad and not isinstance(p, DTensor)]
        if outside:
            raise ConfigError(f"{type(self).__name__}: trainable parameters outside fsdp_root() are not sharded "
                              f"and would not be synchronized across ranks: {outside[:5]}")

    # -- optimization ------------------------------------------------------------------------
    def optimizer_parameters(self) -> Iterable[torch.nn.Parameter] | list[dict]:
        """What the optimizer updates. Taken from the strategy's wrapped model when there is
        one (FSDP flattens or shards parameters there), else from this module."""
        model = self.trainer.model if self._trainer is not None and self.trainer.model is not None else self
        return [p for p in model.parameters() if p.requires_grad]

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.optimizer_parameters())
        if self.scheduler_factory is None:
            return optimizer
        estimated = int(self.trainer.estimated_stepping_batches)  # also sets up the train loader
        # a step budget is the schedule's length, whatever stops the run earlier (trainer.max_epochs,
        # max_time, a kill): a run stopped early and resumed then follows the uninterrupted run's schedule
        max_steps = self.trainer.max_steps
        total = max_steps if max_steps is not None and max_steps > 0 else estimated
        if total > estimated:
            log.info("the learning-rate schedule spans trainer.max_steps=%d steps; the run's other limits "
                     "(max_epochs=%s) end it after %d (resume from its last.ckpt to go on)", total,
                     self.trainer.max_epochs, estimated)
        batches = self.trainer.num_training_batches
        # an iterable dataset of unknown length: one "epoch" is the whole run
        per_epoch = math.ceil(batches / self.trainer.accumulate_grad_batches) if math.isfinite(batches) else total
        scheduler = self.scheduler_factory(optimizer, total_steps=total, steps_per_epoch=max(1, per_epoch))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """Lightning's clipping, except by norm under FSDP1: there only the wrapper's
        ``clip_grad_norm_`` computes the norm over all shards (Lightning refuses it)."""
        model = self.trainer.model
        if gradient_clip_val and gradient_clip_algorithm in (None, "norm"):
            from torch.distributed.fsdp import FullyShardedDataParallel

            if isinstance(model, FullyShardedDataParallel):
                model.clip_grad_norm_(gradient_clip_val)
                return
        self.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val,
                            gradient_clip_algorithm=gradient_clip_algorithm)

    def log_step_stats(self, batch_size: int) -> None:
        """Every family's training step calls this: lr; samples/s over all ranks (the batch over the
        time since the previous call: a whole step); peak GPU memory (GiB)."""
        stats = {"train/lr": self.optimizers().param_groups[0]["lr"]}
        now, last = time.perf_counter(), getattr(self, "_last_step_time", None)
        self._last_step_time = now
        if last is not None and now > last:
            stats["train/samples_per_s"] = batch_size * self.trainer.world_size / (now - last)
        if self.device.type == "cuda":
            stats["train/peak_memory_gib"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        self.log_dict(stats, on_step=True, on_epoch=False, batch_size=batch_size)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.trainer.global_step % max(1, self.trainer.log_every_n_steps) == 0:
            norm = gradient_norm(self)
            if norm is not None:
                self.log("train/grad_norm", norm, on_step=True, on_epoch=False)

    # -- quantized inference ------------------------------------------------------------------
    def quantized(self, mode: str) -> OcrModule:
        """This model converted in place for quantized inference (``mode``: one of
        :attr:`quantization_modes`); returns ``self``. Afterwards :attr:`quantization` holds the
        mode, what was done and the trainer settings the model needs (``trainer``: e.g. the
        accelerator its kernels run on). For inference only: it is not saved or exported."""
        from ocrlab.quantization import check_mode

        check_mode(type(self).__name__, self.quantization_modes, mode, self.quantization)
        self.quantization = {"mode": mode, "description": self.quantization_modes[mode], **self._quantize(mode)}
        return self

    def _quantize(self, mode: str) -> dict[str, Any]:
        """The family's conversion for ``mode`` (already checked against :attr:`quantization_modes`):
        in place; returns what was done, with ``trainer`` (the trainer settings it needs)."""
        raise NotImplementedError(f"{type(self).__name__} lists quantization_modes but has no _quantize")

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint_metadata(self) -> dict:
        """What a checkpoint carries besides weights; families may add keys (call super)."""
        if self.quantization is not None:
            raise CheckpointError(f"this {type(self).__name__} was quantized for inference "
                                  f"(quantize={self.quantization['mode']}): its weights are not the model's; "
                                  "save or export the model loaded without quantize")
        return {
            "format": CHECKPOINT_FORMAT,
            "model_config": self.frozen_config(),
            "label_space": {k: obj.to_config() for k, obj in self.label_space().items()},
            "run": self.run_info,
        }

    @classmethod
    def upgrade_metadata(cls, meta: dict) -> dict:
        """Older checkpoint formats -> the current one (a family overrides this for its own)."""
        return meta

    def checkpoint_state_keys(self) -> set[str]:
        """The state-dict entries this model's checkpoints hold: all of them. A model whose frozen
        weights come from a directory its config names (LoRA adapters on a local base) may keep only
        the others; it then loads non-strictly (``strict_loading``) and this names what must be there."""
        return set(self.state_dict())

    def load_weights(self, state: dict) -> None:
        """Load a checkpoint's ``state_dict`` (every entry of :meth:`checkpoint_state_keys` required)."""
        missing = sorted(self.checkpoint_state_keys() - set(state))
        if missing:
            raise CheckpointError(f"the checkpoint lacks {len(missing)} of this {type(self).__name__}'s weights "
                                  f"(e.g. {missing[:3]})")
        self.load_state_dict(state, strict=self.strict_loading)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # every rank calls this (Lightning saves on all ranks): each rank's RNG is kept, so a
        # resumed distributed run draws what the uninterrupted one would (dropout on rank 1 too)
        rng = rng_states()
        meta = {**self.checkpoint_metadata(), "rng": rng}
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            per_rank: list = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(per_rank, rng)
            meta["rng_per_rank"] = per_rank
        checkpoint[CHECKPOINT_KEY] = meta

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        meta = checkpoint.get(CHECKPOINT_KEY)
        if meta is None:
            raise CheckpointError("checkpoint has no ocrlab metadata (model config, label space): "
                                  "not an ocrlab checkpoint")
        meta = type(self).upgrade_metadata(retarget(meta))
        check_label_space(self, meta, "resuming from checkpoint")
        state = checkpoint.get("state_dict")
        if state is not None:
            check_architecture(self, meta, state)
        per_rank = meta.get("rng_per_rank") or []
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self._trainer is not None else (0, 1)
        # another number of ranks than the saving run: rank 0's state, as before
        rng = per_rank[rank] if len(per_rank) == world else meta.get("rng")
        if rng:
            set_rng_states(rng)
        self._resumed_at_epoch_end = finish_interrupted_epoch(checkpoint)

    def on_train_start(self) -> None:
        """After a resume at an epoch's end (:func:`finish_interrupted_epoch`), the next epoch
        starts as in an uninterrupted run. A family overriding this hook calls ``super()``.
        (The schedules step per optimizer step, :meth:`configure_optimizers`: a scheduler stepped
        per epoch, which Lightning steps after ``on_train_epoch_end``, would miss that step.)"""
        if self._resumed_at_epoch_end:
            self._resumed_at_epoch_end = False
            # Lightning keeps its loops "restarting" after any resume with a step budget
            # (max_steps): the epoch loop would then train one more batch in the finished epoch
            # when no validation is due at its last batch, or skip a validation and step the
            # schedule once more when one is. The epoch is finished: nothing is to be restarted.
            self.trainer.fit_loop.epoch_loop.restarting = False

    #: model config keys that change how the model computes but not its weights (e.g. a memory
    #: format), each with what resuming across a change of it does: logged when a run resumes
    resume_notes: ClassVar[dict[str, str]] = {}

    # -- ONNX (families with a graph: ocrlab.onnx_export) --------------------------------------
    #: the ONNX graph's output names (() : this family exports no ONNX graph)
    onnx_outputs: ClassVar[tuple[str, ...]] = ()

    @property
    def onnx_dynamic_axes(self) -> dict[str, dict[int, str]]:
        """Input/output name -> {axis: name} of the axes that vary (batch, sequence)."""
        return {}

    def onnx_graph(self) -> torch.nn.Module:
        """The module traced into the ONNX graph: called with :meth:`example_inputs`' names, it
        returns the ``onnx_outputs`` (a tuple). The model itself unless a family wraps it; a
        text-line family's graph takes batch keys and returns what its ``decode`` reads
        (:class:`ocrlab.inference.OnnxTextRecognizer` runs it so)."""
        return self

    def example_inputs(self, batch_size: int = 1, length: int | None = None) -> dict[str, torch.Tensor]:
        """Named random inputs of this model's shapes, ``length`` positions (None: the longest the
        model takes): the ONNX trace and its check on another shape, latency benchmarks."""
        raise NotImplementedError(f"{type(self).__name__} has no example inputs (it exports no ONNX graph)")

    # -- export ------------------------------------------------------------------------------
    def export(self, directory: str | Path, **options: Any) -> Path:
        """A self-contained export directory: ``weights.pt`` + ``ocrlab_model.json``.

        Families with another format inside (HF ``save_pretrained``, PEFT adapters, ONNX)
        override this and :meth:`load_export`; ``options`` are the export CLI's flags.
        """
        unsupported = sorted(k for k, v in options.items() if v)
        if unsupported:
            raise ValueError(f"{type(self).__name__} has no export option {unsupported}: "
                             "this family exports weights and config only")
        directory = Path(directory)
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        atomic_write(directory / EXPORT_WEIGHTS, lambda f: torch.save(state, f))
        atomic_write_json(directory / EXPORT_META, self.checkpoint_metadata())
        return directory

    @classmethod
    def load_export(cls, directory: Path, meta: dict) -> OcrModule:
        """Rebuild from an export directory written by :meth:`export`."""
        weights = directory / EXPORT_WEIGHTS
        if not weights.is_file():
            raise CheckpointError(f"{directory} is not a complete ocrlab export: {EXPORT_WEIGHTS} is missing")
        state = read_torch_file(weights, "", "weights-only torch weights")
        module = build_model(meta["model_config"])
        module.load_state_dict(state)
        return module


def build_model(model_cfg: Any):
    """Instantiate a model config (``DictConfig`` or plain dict) into an ``OcrModule``.

    The resolved config is kept on the module (``model_config``) and saved, frozen, in its
    checkpoints and exports.
    """
    from omegaconf import DictConfig, OmegaConf

    from ocrlab.label_spaces import learned_keys, not_fitted_error
    from ocrlab.utils.instantiate import instantiate_checked

    plain = OmegaConf.to_container(model_cfg, resolve=True) if isinstance(model_cfg, DictConfig) else dict(model_cfg)
    for key in learned_keys(plain):
        raise not_fitted_error(key, plain)
    module = instantiate_checked(plain, "model")
    if not isinstance(module, OcrModule):
        raise ConfigError(f"model._target_ {plain.get('_target_')!r} built a {type(module).__name__}, "
                          "expected a subclass of ocrlab.lightning_modules.OcrModule")
    module.model_config = plain
    return module
