"""The one way to build, load and export a model of any family.

A checkpoint (``.ckpt``) or an export directory names its own class: the model config frozen
into it has a ``_target_`` and carries its label space. So :func:`load_model` rebuilds any
family without the training config, and :func:`export_model` writes any family's export.
Files are read with ``torch.load(weights_only=True)``: no code runs from a model file.

A *sharded* checkpoint (a directory: Lightning's FSDP ``state_dict_type=sharded`` or
``ModelParallelStrategy``'s distributed checkpoint, i.e. ``torch.distributed.checkpoint`` shards
plus ``meta.pt``) loads everywhere a ``.ckpt`` file does: it is consolidated in memory into the
usual checkpoint dict (:func:`consolidate_checkpoint`; ``ocrlab-consolidate`` writes it to a file).
Its ``.metadata`` index is a pickle: it is read with an unpickler that admits only the
``torch.distributed.checkpoint`` metadata classes, so no code runs from it either.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
from pathlib import Path
from typing import Any

from ocrlab.errors import CheckpointError
from ocrlab.lightning_modules.base import OcrModule, build_model
from ocrlab.model_files import CHECKPOINT_KEY, EXPORT_META, read_torch_file, retarget
from ocrlab.onnx_export import check_onnx_option
from ocrlab.utils.io import atomic_directory, replace_refusal

log = logging.getLogger(__name__)


# a sharded checkpoint directory: torch.distributed.checkpoint's index + Lightning's other state
DCP_INDEX = ".metadata"
SHARDED_META = "meta.pt"  # lightning_fabric.utilities.load._METADATA_FILENAME
# where Lightning puts the weights in the shards: FSDPStrategy, ModelParallelStrategy
_SHARDED_WEIGHT_KEYS = ("model", "state_dict")


def is_sharded_checkpoint(path: str | Path) -> bool:
    """A directory of ``torch.distributed.checkpoint`` shards (with or without Lightning's ``meta.pt``)."""
    path = Path(path)
    return path.is_dir() and ((path / DCP_INDEX).is_file() or (path / SHARDED_META).is_file())


def load_checkpoint(path: str | Path, *, weights: bool = True, optimizer: bool = True) -> dict:
    """A Lightning checkpoint written by ocrlab (a ``.ckpt`` file or a sharded checkpoint
    directory), checked; its metadata brought up to date.

    ``weights=False``: what checking a checkpoint needs, cheaply; a sharded one then has meta
    tensors in ``state_dict`` (names, shapes and dtypes; no data) and no optimizer states.
    ``optimizer=False`` leaves the optimizer states out.
    """

    path = Path(path)
    if path.is_dir():

        if (path / EXPORT_META).is_file():
            raise CheckpointError(f"checkpoint {path} is an export directory (it loads with load_model; "
                                  "a checkpoint is a .ckpt file or a sharded checkpoint directory)")
        if not is_sharded_checkpoint(path):
            raise CheckpointError(f"checkpoint {path} is a directory but not a sharded checkpoint (no {DCP_INDEX} "
                                  f"or {SHARDED_META}) nor an export (no {EXPORT_META}): expected a .ckpt file, "
                                  "a sharded checkpoint directory (trainer=fsdp / fsdp2) or an export directory")
        ckpt = consolidate_checkpoint(path, weights=weights, optimizer=optimizer)
    elif not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (expected a .ckpt file or a sharded checkpoint dir)")
    else:
        ckpt = read_torch_file(path, "checkpoint", "a weights-only torch checkpoint (truncated, or not a checkpoint?)",
                               mmap=True)
        if isinstance(ckpt, dict) and not optimizer:
            ckpt.pop("optimizer_states", None)

    if not isinstance(ckpt, dict) or CHECKPOINT_KEY not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"checkpoint {path} is not an ocrlab checkpoint (no '{CHECKPOINT_KEY}' metadata)")
    ckpt[CHECKPOINT_KEY] = _upgrade(ckpt[CHECKPOINT_KEY], path)
    return ckpt


def consolidate_checkpoint(path: str | Path, *, weights: bool = True, optimizer: bool = True) -> dict:
    """A sharded checkpoint directory -> the checkpoint dict a ``.ckpt`` file holds, in memory
    (the whole model, and with ``optimizer`` its optimizer states, on this process's CPU).

    ``meta.pt`` holds all but weights and optimizer states (the ``ocrlab`` metadata among them:
    ``on_save_checkpoint`` writes it into the dict Lightning saves there). The shards hold the
    weights (key ``model`` from ``FSDPStrategy``, ``state_dict`` from ``ModelParallelStrategy``)
    and ``optimizer_<i>``; those, keyed by parameter name, are re-keyed by position as a plain
    optimizer's ``state_dict()`` is (both FSDP and single-process resumes load that form).
    """
    import torch

    path = Path(path)
    meta_file, index = path / SHARDED_META, path / DCP_INDEX
    if not meta_file.is_file():
        raise CheckpointError(f"sharded checkpoint {path} has no {SHARDED_META} (a torch.distributed.checkpoint "
                              "directory not written by Lightning: no training state or ocrlab metadata)")
    if not index.is_file():
        raise CheckpointError(f"sharded checkpoint {path} has no {DCP_INDEX} (incomplete: interrupted while saving?)")
    extra = read_torch_file(meta_file, "", "weights-only torch data")
    if not isinstance(extra, dict):
        raise CheckpointError(f"{meta_file} is not a checkpoint's metadata (a {type(extra).__name__})")
    reader = _SafeReader(path)
    try:
        metadata = reader.read_metadata()
    except Exception as e:
        raise CheckpointError(f"{index} cannot be read as a torch.distributed.checkpoint index: "
                              f"{type(e).__name__}: {e}") from e
    paths = {fqn: tuple(metadata.planner_data.get(fqn) or fqn.split(".", 1)) for fqn in metadata.state_dict_metadata}
    tops = {p[0] for p in paths.values()}
    weight_key = next((k for k in _SHARDED_WEIGHT_KEYS if k in tops), None)
    if weight_key is None:
        raise CheckpointError(f"sharded checkpoint {path} holds no weights (none of {list(_SHARDED_WEIGHT_KEYS)} "
                              f"in its index; it has {sorted(tops)})")
    optimizers = sorted((k for k in tops if re.fullmatch(r"optimizer_\d+", str(k))), key=lambda k: int(k[10:]))
    ckpt = {k: v for k, v in extra.items() if k not in ("state_dict", "optimizer_states")}
    if not weights:
        from torch.distributed.checkpoint.metadata import TensorStorageMetadata

        ckpt["state_dict"] = {
            ".".join(map(str, p[1:])): torch.empty(item.size, dtype=item.properties.dtype, device="meta")
            for fqn, item in metadata.state_dict_metadata.items()
            if (p := paths[fqn])[0] == weight_key and isinstance(item, TensorStorageMetadata)}
        return ckpt
    from torch.distributed.checkpoint import CheckpointException
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    loaded: dict = {}
    try:
        _load_state_dict(loaded, storage_reader=reader, no_dist=True,
                         planner=_SafeLoadPlanner(keys={weight_key, *(optimizers if optimizer else ())}))
    except (Exception, CheckpointException) as e:  # CheckpointException is a BaseException
        cause = next(iter(getattr(e, "failures", {}).values()), e)  # {rank: (exception, traceback)}
        cause = cause[0] if isinstance(cause, tuple) and cause else cause
        raise CheckpointError(f"sharded checkpoint {path} cannot be read (a shard missing or truncated?): "
                              f"{type(cause).__name__}: {cause}") from e
    ckpt["state_dict"] = dict(loaded[weight_key])
    if optimizer and optimizers:
        ckpt["optimizer_states"] = [_positional_optimizer_state(loaded[k]) for k in optimizers]
    return ckpt


def consolidate_to_file(path: str | Path, output: str | Path, *, optimizer: bool = True,
                        overwrite: bool = False) -> Path:
    """Write a sharded checkpoint directory as one ``.ckpt`` file (atomically: the file appears
    complete or not at all). ``overwrite`` replaces an existing ocrlab checkpoint file; any other
    existing ``output`` is refused, naming what it is."""
    import torch

    from ocrlab.utils.io import atomic_write

    path, output = Path(path), Path(output)
    if not is_sharded_checkpoint(path):
        raise CheckpointError(f"{path} is not a sharded checkpoint directory (expected {DCP_INDEX} and "
                              f"{SHARDED_META} inside, as trainer=fsdp / fsdp2 write them)")
    if output.is_dir():
        raise CheckpointError(f"output {output} is a directory (expected a .ckpt file path)")
    if output.exists() or output.is_symlink():
        try:  # --overwrite replaces an earlier checkpoint, never a file of another kind
            load_checkpoint(output, weights=False, optimizer=False)
        except CheckpointError as e:
            raise FileExistsError(f"output {output} exists and is not an ocrlab checkpoint ({e}): --overwrite "
                                  "replaces only an earlier checkpoint file, nothing else; choose another --output "
                                  "or move that file away yourself") from e
        if not overwrite:
            raise FileExistsError(f"{output} already exists (pass --overwrite to replace it)")
    ckpt = load_checkpoint(path, optimizer=optimizer)  # checked: an ocrlab checkpoint
    atomic_write(output, lambda f: torch.save(ckpt, f))
    log.info("consolidated %s into %s", path, output)
    return output


def _positional_optimizer_state(state: dict) -> dict:
    """An optimizer state keyed by parameter name (FSDP's form) -> keyed by position, as
    ``torch.optim.Optimizer.state_dict()`` writes it."""
    groups = state.get("param_groups") or []
    if not all(isinstance(p, str) for g in groups for p in g.get("params", [])):
        return state
    ids: dict[str, int] = {}
    new_groups = [{**g, "params": [ids.setdefault(name, len(ids)) for name in g["params"]]} for g in groups]
    return {"state": {ids[name]: s for name, s in (state.get("state") or {}).items() if name in ids},
            "param_groups": new_groups}


class _IndexUnpickler(pickle.Unpickler):
    """Unpickles a ``torch.distributed.checkpoint`` index: its own metadata classes, torch sizes
    and dtypes, paths; any other global is refused (no code runs from a checkpoint)."""

    def find_class(self, module: str, name: str):
        import torch

        allowed = (module.startswith("torch.distributed.checkpoint.")
                   or (module == "torch" and (name == "Size" or isinstance(getattr(torch, name, None), torch.dtype)))
                   or (module == "torch.serialization" and name == "_get_layout")
                   or (module == "pathlib" and name in ("PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath")))
        if not allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a checkpoint index")
        return super().find_class(module, name)


def _safe_dcp_classes():
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner

    class Reader(FileSystemReader):
        def read_metadata(self, *args: Any, **kwargs: Any):
            from torch.distributed.checkpoint.metadata import StorageMeta

            with open(Path(self.path) / DCP_INDEX, "rb") as f:
                metadata = _IndexUnpickler(f).load()
            if getattr(metadata, "storage_meta", None) is None:
                metadata.storage_meta = StorageMeta()
            metadata.storage_meta.load_id = self.load_id
            return metadata

    class Planner(_EmptyStateDictLoadPlanner):
        # torch's planner unpickles non-tensor entries with weights_only=False
        def load_bytes(self, read_item, value) -> None:
            import torch
            from torch.distributed.checkpoint._traverse import set_element

            obj = torch.load(value, weights_only=True)
            if self.flatten_state_dict:
                set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], obj)
            else:
                self.state_dict[read_item.dest_index.fqn] = obj

    return Reader, Planner


def _SafeReader(path: Path):
    return _safe_dcp_classes()[0](path)


def _SafeLoadPlanner(keys: set[str]):
    return _safe_dcp_classes()[1](keys=keys)


def read_metadata(path: str | Path) -> dict:
    """The ocrlab metadata of a checkpoint (file or sharded dir) or export dir (model config,
    label space, run)."""
    path = Path(path)
    if path.is_dir() and not is_sharded_checkpoint(path):
        return _read_export_meta(path)

    return load_checkpoint(path, weights=False)[CHECKPOINT_KEY]


def load_model(path: str | Path, device: str = "cpu"):
    """The trained model of a ``.ckpt`` file, a sharded checkpoint dir or an export dir, in eval mode."""
    path = Path(path)
    if path.is_dir() and not is_sharded_checkpoint(path):
        meta = _read_export_meta(path)
        module = _model_class(meta, path).load_export(path, meta)
    else:

        ckpt = load_checkpoint(path, optimizer=False)
        module = build_model(ckpt[CHECKPOINT_KEY]["model_config"])
        module.load_weights(ckpt["state_dict"])
        module.run_info = dict(ckpt[CHECKPOINT_KEY].get("run") or {})
    return module.eval().to(device)


def export_model(path: str | Path, output: str | Path, overwrite: bool = False, **options: Any) -> Path:
    """Write the family's self-contained export of a checkpoint (or export) into ``output``.

    Written into a temporary sibling directory and renamed at the end: ``output`` appears
    complete or not at all. An existing ``output`` may be an empty directory; with ``overwrite``
    an earlier export (it holds ``ocrlab_model.json``), which is replaced. Anything else is refused
    (``FileExistsError`` naming what it holds), with or without ``overwrite``: nothing the export
    did not write is deleted.
    """

    output = Path(output)
    _check_export_target(output, overwrite)  # before the model loads: fails fast
    module = load_model(path)
    write_export(module, output, overwrite, **options)
    log.info("exported %s (%s) to %s", path, type(module).__name__, output)
    return output


def write_export(module, output: str | Path, overwrite: bool = False, **options: Any) -> Path:
    """``module``'s export written into ``output`` as :func:`export_model` writes it: complete or
    not at all, replacing only an earlier export (with ``overwrite``), never anything else."""
    output = Path(output)
    _check_export_target(output, overwrite)
    check_onnx_option(module, options)  # before anything is written
    atomic_directory(output, lambda d: module.export(d, **options), replace=True, marker=EXPORT_META,
                     what="an ocrlab export")
    return output


def _check_export_target(output: Path, overwrite: bool) -> None:
    refusal = replace_refusal(output, EXPORT_META, "an ocrlab export")
    if refusal is not None:
        raise FileExistsError(f"export dir {refusal}: --overwrite (overwrite=True) replaces only an earlier export, "
                              "nothing else; choose another output dir or move that directory away yourself")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise FileExistsError(f"export dir {output} already exists (pass --overwrite, or overwrite=True, to replace it)")


def _read_export_meta(directory: Path) -> dict:

    meta_path = directory / EXPORT_META
    if not meta_path.is_file():
        raise CheckpointError(f"{directory} is not an ocrlab export ({EXPORT_META} is missing) nor a sharded "
                              f"checkpoint ({DCP_INDEX} and {SHARDED_META} are missing)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{meta_path} is not valid JSON: {e}") from e
    return _upgrade(meta, meta_path)


def _model_class(meta: dict, where: Path):
    from hydra.utils import get_class

    target = (meta.get("model_config") or {}).get("_target_")
    if not target:
        raise CheckpointError(f"{where}: no model config with a _target_ (not written by ocrlab's build_model)")
    try:
        cls = get_class(target)
    except Exception as e:
        raise CheckpointError(f"{where}: model class {target!r} cannot be imported: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, OcrModule)):
        raise CheckpointError(f"{where}: model class {target!r} is not an ocrlab OcrModule")
    return cls


def _upgrade(meta: dict, where: Path) -> dict:
    """Map the class paths of earlier releases to today's (:func:`ocrlab.model_files.retarget`), then let the
    model's own class bring older metadata formats up to date."""
    if not isinstance(meta, dict) or not meta.get("model_config"):
        raise CheckpointError(f"{where}: no model config (not written by ocrlab's build_model)")
    meta = retarget(meta)
    return _model_class(meta, where).upgrade_metadata(meta)
