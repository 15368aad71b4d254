"""The one way to build, load and export a model of any family.

A checkpoint (``.ckpt``) or an export directory names its own class: the model config frozen
into it has a ``_target_`` and carries its label space. So :func:`load_model` rebuilds any
family without the training config, and :func:`export_model` writes any family's export.
Files are read with ``torch.load(weights_only=True)``: no code runs from a model file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ocrlab.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)


def build_model(model_cfg: Any):
    """Instantiate a model config (``DictConfig`` or plain dict) into an ``OcrModule``.

    The resolved config is kept on the module (``model_config``) and saved, frozen, in its
    checkpoints and exports.
    """
    from omegaconf import DictConfig, OmegaConf

    from ocrlab.lightning_modules.base import OcrModule
    from ocrlab.utils.instantiate import instantiate_checked

    plain = OmegaConf.to_container(model_cfg, resolve=True) if isinstance(model_cfg, DictConfig) else dict(model_cfg)
    module = instantiate_checked(plain, "model")
    if not isinstance(module, OcrModule):
        raise ConfigError(f"model._target_ {plain.get('_target_')!r} built a {type(module).__name__}, "
                          "expected a subclass of ocrlab.lightning_modules.OcrModule")
    module.model_config = plain
    return module


def load_checkpoint(path: str | Path) -> dict:
    """A Lightning checkpoint written by ocrlab, checked; its metadata brought up to date."""
    import torch

    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory (expected a .ckpt file; "
                              "an export directory loads with load_model)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (expected a .ckpt file)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # any unpickling failure means the same to the user
        raise CheckpointError(f"checkpoint {path} cannot be read as a weights-only torch checkpoint "
                              f"(truncated, or not a checkpoint?): {type(e).__name__}: {e}") from e
    from ocrlab.lightning_modules.base import CHECKPOINT_KEY

    if not isinstance(ckpt, dict) or CHECKPOINT_KEY not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"checkpoint {path} is not an ocrlab checkpoint (no '{CHECKPOINT_KEY}' metadata)")
    ckpt[CHECKPOINT_KEY] = _upgrade(ckpt[CHECKPOINT_KEY], path)
    return ckpt


def read_metadata(path: str | Path) -> dict:
    """The ocrlab metadata of a checkpoint or export dir (model config, label space, run)."""
    path = Path(path)
    if path.is_dir():
        return _read_export_meta(path)
    from ocrlab.lightning_modules.base import CHECKPOINT_KEY

    return load_checkpoint(path)[CHECKPOINT_KEY]


def load_model(path: str | Path, device: str = "cpu"):
    """The trained model of a ``.ckpt`` file or an export directory, in eval mode."""
    path = Path(path)
    if path.is_dir():
        meta = _read_export_meta(path)
        module = _model_class(meta, path).load_export(path, meta)
    else:
        from ocrlab.lightning_modules.base import CHECKPOINT_KEY

        ckpt = load_checkpoint(path)
        module = build_model(ckpt[CHECKPOINT_KEY]["model_config"])
        module.load_state_dict(ckpt["state_dict"])
        module.run_info = dict(ckpt[CHECKPOINT_KEY].get("run") or {})
    return module.eval().to(device)


def export_model(path: str | Path, output: str | Path, overwrite: bool = False, **options: Any) -> Path:
    """Write the family's self-contained export of a checkpoint (or export) into ``output``.

    Written into a temporary sibling directory and renamed at the end: ``output`` appears
    complete or not at all.
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"export dir {output} already exists (pass --overwrite to replace it)")
    module = load_model(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        module.export(partial, **options)
        if output.exists():
            shutil.rmtree(output)
        os.replace(partial, output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    log.info("exported %s (%s) to %s", path, type(module).__name__, output)
    return output


def _read_export_meta(directory: Path) -> dict:
    from ocrlab.lightning_modules.base import EXPORT_META

    meta_path = directory / EXPORT_META
    if not meta_path.is_file():
        raise CheckpointError(f"{directory} is not an ocrlab export: {EXPORT_META} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{meta_path} is not valid JSON: {e}") from e
    return _upgrade(meta, meta_path)


def _model_class(meta: dict, where: Path):
    from hydra.utils import get_class

    from ocrlab.lightning_modules.base import OcrModule

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
    """Let the model's own class bring older metadata formats up to date."""
    if not isinstance(meta, dict) or not meta.get("model_config"):
        raise CheckpointError(f"{where}: no model config (not written by ocrlab's build_model)")
    return _model_class(meta, where).upgrade_metadata(meta)
