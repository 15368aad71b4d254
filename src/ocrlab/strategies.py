"""Distributed strategies chosen by config (``conf/trainer/ddp.yaml``, ``fsdp.yaml``, ``fsdp2.yaml``).

Lightning's own strategies, with what ocrlab needs on top, for every family alike:

* the processes a strategy starts run *this Hydra job* (its overrides, its run dir) as a single
  run, also inside a multirun (Lightning's own command repeats the whole sweep in every worker
  and points it at a new run dir: Hydra issue #2070);
* :class:`FSDPStrategy` takes its wrap units from the model (``layer_classes``, the family's
  transformer blocks), can checkpoint activations on that unit (``activation_checkpointing:
  true``) and runs on CPUs (gloo) as well as GPUs;
* :class:`ModelParallelStrategy` (FSDP2): ``data_parallel_size: auto`` means all the devices the
  tensor-parallel groups leave; the sharding itself is ``OcrModule.configure_model``.

Nothing here knows a family: a model offers ``layer_classes`` / ``fsdp_units()`` / ``fsdp_root()``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import DDPStrategy as _LightningDDPStrategy
from pytorch_lightning.strategies import FSDPStrategy as _LightningFSDPStrategy
from pytorch_lightning.strategies import ModelParallelStrategy as _LightningModelParallelStrategy
from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

from ocrlab.errors import ConfigError

log = logging.getLogger(__name__)

# hydra overrides that only make sense for the sweep, or that the worker's command sets itself
_SWEEP_ONLY = ("hydra.mode", "hydra.sweep", "hydra.sweeper", "hydra.launcher", "hydra/sweeper", "hydra/launcher",
               "hydra.run.dir", "hydra.output_subdir", "hydra.job.name", "hydra.job.num", "hydra.job.id")
# command-line flags of a Hydra app that a worker needs too (each takes a value)
_KEPT_FLAGS = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd")
# what Lightning's launcher sets in the launching process (see end_of_job)
LAUNCHER_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


# -- processes -------------------------------------------------------------------------------
def _hydra_quote(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _kept_flags(argv: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in _KEPT_FLAGS and i + 1 < len(argv):
            out += argv[i : i + 2]
            i += 2
            continue
        if arg.startswith(tuple(f"{f}=" for f in _KEPT_FLAGS if f.startswith("--"))):
            out.append(arg)
        i += 1
    return out


def hydra_worker_command(local_rank: int) -> tuple[list[str], str]:
    """The command (and cwd) that runs the current Hydra job again as worker ``local_rank``.

    The job's own overrides (in a multirun: this job's values, not the sweep's lists), its
    output dir as ``hydra.run.dir`` and no ``.hydra`` subdir: every rank works in rank 0's run
    dir, and a worker never starts a sweep of its own.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from hydra.utils import get_original_cwd, to_absolute_path

    import __main__

    hc = HydraConfig.get()
    if getattr(__main__, "__spec__", None) is None:
        command = [sys.executable, to_absolute_path(sys.argv[0])]
    else:
        command = [sys.executable, "-m", __main__.__spec__.name]
    command += _kept_flags(sys.argv[1:])
    command += list(hc.overrides.task)
    command += [o for o in hc.overrides.hydra if not o.lstrip("+~").split("=", 1)[0].startswith(_SWEEP_ONLY)]
    command += [f"hydra.run.dir={_hydra_quote(hc.runtime.output_dir)}", "hydra.output_subdir=null",
                f"hydra.job.name={hc.job.name}_process_{local_rank}"]
    if hc.mode == RunMode.MULTIRUN:  # ${hydra:job.num} and the like resolve as in rank 0
        command += [f"hydra.job.num={hc.job.num}", f"hydra.job.id={_hydra_quote(hc.job.id)}"]
    return command, get_original_cwd()


class HydraJobLauncher(_SubprocessScriptLauncher):
    """Lightning's subprocess launcher; under Hydra its workers run :func:`hydra_worker_command`."""

    def _call_children_scripts(self) -> None:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return super()._call_children_scripts()
        # what Lightning's launcher does, with another command for the workers
        self._check_can_spawn_children()
        self.procs = []
        os.environ["MASTER_ADDR"] = self.cluster_environment.main_address
        os.environ["MASTER_PORT"] = str(self.cluster_environment.main_port)
        os.environ["NODE_RANK"] = str(self.cluster_environment.node_rank())
        os.environ["LOCAL_RANK"] = str(self.cluster_environment.local_rank())
        os.environ["WORLD_SIZE"] = f"{self.num_processes * self.num_nodes}"
        for local_rank in range(1, self.num_processes):
            env = os.environ.copy()
            env["LOCAL_RANK"] = f"{local_rank}"
            if os.environ.get("PL_GLOBAL_SEED") is None:
                env.pop("PL_GLOBAL_SEED", None)
            command, cwd = hydra_worker_command(local_rank)
            log.debug("starting worker %d: %s", local_rank, command)
            self.procs.append(subprocess.Popen(command, env=env, cwd=cwd))
        return None


class _HydraJobProcesses:
    """Mixin: the strategy starts its workers with :class:`HydraJobLauncher`."""

    def _configure_launcher(self) -> None:
        super()._configure_launcher()  # type: ignore[misc]
        launcher = getattr(self, "_launcher", None)
        if type(launcher) is _SubprocessScriptLauncher:  # not spawn/fork (DDP's start_method)
            self._launcher = HydraJobLauncher(launcher.cluster_environment, launcher.num_processes, launcher.num_nodes)


def end_of_job(env_before: Mapping[str, str | None], group_before: bool) -> None:
    """Leave the process as the job found it, so the next job of a multirun starts its own
    workers: destroy the process group this job created and restore the launcher's variables
    (with ``LOCAL_RANK`` still set, Lightning takes the workers as started already)."""
    if not group_before and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    for key in LAUNCHER_ENV:
        if env_before.get(key) is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = env_before[key]


def job_state() -> tuple[dict[str, str | None], bool]:
    """What :func:`end_of_job` restores."""
    initialized = torch.distributed.is_available() and torch.distributed.is_initialized()
    return {k: os.environ.get(k) for k in LAUNCHER_ENV}, initialized


# -- strategies ------------------------------------------------------------------------------
def contiguous_parameters(module: torch.nn.Module, strategy: str) -> list[str]:
    """Make ``module``'s parameters contiguous before FSDP shards them; returns their names.

    FSDP (1 and 2) saves its shards in the contiguous memory format only: a parameter kept in
    another one (``model.channels_last=true``: the NHWC convolution weights of a CPU recipe) trained
    an epoch and then failed at the first checkpoint ("Only torch.contiguous_format memory_format
    is currently supported"). The values do not change; a model that converts its inputs to a
    memory format in its forward still does, and its convolutions then take contiguous weights.
    """
    names = []
    for name, param in module.named_parameters():
        if not param.is_contiguous():
            param.data = param.data.contiguous()
            names.append(name)
    if names:
        from pytorch_lightning.utilities import rank_zero_info

        rank_zero_info(f"{strategy}: {len(names)} parameter(s) in another memory format than the contiguous one "
                       f"(e.g. {names[0]}; model.channels_last=true) are made contiguous: FSDP shards and saves "
                       "that format only. Same values; inputs keep the model's format")
    return names


class DDPStrategy(_HydraJobProcesses, _LightningDDPStrategy):
    """Lightning's ``DDPStrategy`` (same arguments); workers reuse the job's run dir."""


def _mixed_precision(value: Any) -> Any:
    """``{param_dtype: bfloat16, reduce_dtype: float32, ...}`` (dtype names) -> FSDP's ``MixedPrecision``."""
    if value is None or not isinstance(value, Mapping):
        return value
    from torch.distributed.fsdp import MixedPrecision

    kwargs = {}
    for key, v in value.items():
        if key.endswith("_dtype") and isinstance(v, str):
            dtype = getattr(torch, v, None)
            if not isinstance(dtype, torch.dtype):
                raise ConfigError(f"trainer.strategy.mixed_precision.{key}={v!r}: not a torch dtype name")
            v = dtype
        kwargs[str(key)] = v
    try:
        return MixedPrecision(**kwargs)
    except TypeError as e:
        raise ConfigError(f"trainer.strategy.mixed_precision: {e}") from e


class FSDPStrategy(_HydraJobProcesses, _LightningFSDPStrategy):
    """Lightning's ``FSDPStrategy`` with the wrap unit from the model, and CPU support.

    Arguments are Lightning's (``sharding_strategy``, ``state_dict_type``, ``cpu_offload``,
    ``mixed_precision``, ``auto_wrap_policy``, ``activation_checkpointing_policy``, FSDP kwargs),
    except:

    * ``auto_wrap_policy``: when not given, the model's ``layer_classes`` (the family's
      transformer blocks: an encoder-decoder's two kinds) if it has any, else the whole model is
      one unit;
    * ``activation_checkpointing``: ``true`` recomputes the activations of each wrap unit
      (``layer_classes``) in the backward pass (Lightning's argument of that name, a list of
      classes, is deprecated there);
    * ``mixed_precision`` may be a mapping of dtype names (``{param_dtype: bfloat16}``); without
      it, ``trainer.precision`` decides, as in Lightning;
    * ``use_orig_params`` (Lightning's default ``true``) must stay ``true`` for a model with
      frozen parameters (LoRA): refused otherwise, before anything is wrapped.
    """

    def __init__(self, *args: Any, activation_checkpointing: bool = False, mixed_precision: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, mixed_precision=_mixed_precision(mixed_precision), **kwargs)
        self.checkpoint_layers = bool(activation_checkpointing)

    def setup(self, trainer: pl.Trainer) -> None:
        module = self.lightning_module
        if self.kwargs.get("use_orig_params") is False and len({p.requires_grad for p in module.parameters()}) > 1:
            # FSDP1 flattens each unit's parameters into one tensor, trainable or frozen as a whole
            raise ConfigError(f"trainer.strategy.use_orig_params=false: {type(module).__name__} has frozen and "
                              "trainable parameters (e.g. LoRA adapters on a frozen base), which FSDP can only "
                              "shard with use_orig_params=true")
        layers = tuple(module.layer_classes)
        if self.kwargs.get("auto_wrap_policy") is None and layers:
            from torch.distributed.fsdp.wrap import ModuleWrapPolicy

            self.kwargs["auto_wrap_policy"] = ModuleWrapPolicy(set(layers))
        if self.checkpoint_layers and not self._activation_checkpointing_kwargs:
            if not layers:
                raise ConfigError(f"trainer.strategy.activation_checkpointing=true: {type(module).__name__} has no "
                                  "layer_classes (the blocks to checkpoint); set activation_checkpointing_policy")
            self._activation_checkpointing_kwargs = {"check_fn": lambda m: isinstance(m, layers)}
        super().setup(trainer)

    def _setup_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """Lightning's, except on CPU (FSDP needs ``device_id=cpu`` there; Lightning passes the
        device index, ``None`` for a CPU), and the second time round (``trainer.test`` after
        ``trainer.fit``): the root wrapper made for fit is used again. Lightning hands over the
        bare LightningModule then, whose blocks are wrapped already and whose own parameters
        are views into the (resharded) root's flat parameter: it would skip the root and load
        the test checkpoint into size-0 views."""
        from torch.distributed.fsdp import FullyShardedDataParallel

        root = getattr(self, "_fsdp_root", None)
        if root is not None and root.module is model:
            return root
        wrapped = any(isinstance(m, FullyShardedDataParallel) for m in model.modules())
        if not wrapped:
            contiguous_parameters(model, "trainer=fsdp")
        if self.root_device.type != "cpu" or wrapped:
            model = super()._setup_model(model)
            self._fsdp_root = model if isinstance(model, FullyShardedDataParallel) else None
            return model
        from lightning_fabric.strategies.fsdp import (
            _move_torchmetrics_to_device,
            _setup_activation_checkpointing,
        )

        model = FullyShardedDataParallel(module=model, cpu_offload=self.cpu_offload,
                                         mixed_precision=self.mixed_precision_config,
                                         sharding_strategy=self.sharding_strategy, device_id=torch.device("cpu"),
                                         **self.kwargs)
        _move_torchmetrics_to_device(model, self.root_device)
        _setup_activation_checkpointing(model, self._activation_checkpointing_kwargs)
        self._fsdp_root = model
        return model


class ModelParallelStrategy(_HydraJobProcesses, _LightningModelParallelStrategy):
    """Lightning's ``ModelParallelStrategy`` (FSDP2 through ``OcrModule.configure_model``).

    ``data_parallel_size: auto`` with an int ``tensor_parallel_size`` is world size / that
    (Lightning's ``auto`` is the number of nodes, which with ``tensor_parallel_size: 1`` fits one
    device only).
    """

    def setup_environment(self) -> None:
        tp = self._tensor_parallel_size
        if self._data_parallel_size == "auto" and isinstance(tp, int):
            world = self.num_nodes * self.num_processes
            if tp < 1 or world % tp:
                raise ConfigError(f"trainer.strategy.tensor_parallel_size={tp} does not divide the "
                                  f"{world} devices (trainer.devices x trainer.num_nodes)")
            self._data_parallel_size = world // tp
        super().setup_environment()


def gradient_norm(module: pl.LightningModule) -> torch.Tensor | None:
    """The 2-norm of all of ``module``'s gradients (before clipping); under FSDP over every rank's
    shard (a collective: every rank calls it). ``None`` when there is no gradient."""
    import math

    from pytorch_lightning.utilities import grad_norm
    from torch.distributed.fsdp import FullyShardedDataParallel
    from torch.distributed.tensor import DTensor

    model = module.trainer.model
    if isinstance(model, FullyShardedDataParallel):
        return model.clip_grad_norm_(math.inf)  # FSDP1's norm over all shards; scales by 1
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return None
    if any(isinstance(g, DTensor) for g in grads):  # FSDP2
        norm = torch.nn.utils.get_total_norm(grads, 2.0)
        return norm.full_tensor() if isinstance(norm, DTensor) else norm
    return grad_norm(module, norm_type=2).get("grad_2.0_norm_total")
