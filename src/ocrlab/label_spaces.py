"""The one step between data and model: label spaces learned from the training data.

A run goes one way: config -> data prepared (generated when missing) -> label spaces fitted ->
model built -> trained -> reported. A model's label space (a charset, a tokenizer, a label map;
the keys its class declares in ``label_space_keys``) is either complete in its config (a built-in
charset, a dictionary file, a checkpoint's frozen copy) or *learned*: its object is then a
:class:`LearnedLabelSpace`, and :func:`fit_label_spaces` replaces it in the model config by what
it learns from the prepared training split, before the model exists. No label space is finished
lazily halfway through training, and no model config reads data paths: what is learned is read
through the data module's declared readers (``training_texts()`` and the like).

A run that resumes a checkpoint, or starts from another checkpoint's weights, takes the learned
label spaces from there instead (the weights were trained with them).
"""

from __future__ import annotations

import copy
import logging
import os
import time
from typing import Any, Protocol, runtime_checkable

from ocrlab.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)

#: how long a process that is not its node's first waits for the first to prepare the data
WAIT_FOR_DATA_S = 3600.0
WAIT_STEP_S = 5.0


@runtime_checkable
class LearnedLabelSpace(Protocol):
    """A label space to be learned from the training data (built from config, not fitted yet)."""

    def fit(self, datamodule: Any) -> Any:
        """The fitted label space (an object with ``to_config()``), learned from the prepared
        training split of ``datamodule`` through its declared readers."""
        ...


def learned_keys(model_cfg: dict) -> list[str]:
    """The label-space keys of a resolved model config still to be learned from data: those its
    model class may learn (``label_spaces_to_fit``) whose ``_target_`` is a
    :class:`LearnedLabelSpace` class. Read from the targets: nothing is built."""
    from hydra.utils import get_object

    try:
        keys = get_object(model_cfg.get("_target_")).label_spaces_to_fit(model_cfg)
    except Exception:  # noqa: BLE001 -- a bad model target is reported where it is built, naming it
        return []
    return [key for key in keys if _learned_class(model_cfg[key].get("_target_"))]


def _learned_class(target: Any) -> bool:
    from hydra.utils import get_object

    try:
        obj = get_object(target)
    except Exception:  # noqa: BLE001 -- instantiating the entry names a bad target
        return False
    return isinstance(obj, type) and issubclass(obj, LearnedLabelSpace)


def not_fitted_error(key: str, model_cfg: dict) -> ConfigError:
    target = str(model_cfg[key].get("_target_", "")).rsplit(".", 1)[-1]
    return ConfigError(f"model.{key} ({target}) is learned from the training data and is not fitted: "
                       "build the model from ocrlab.label_spaces.fit_label_spaces(model_cfg, datamodule) "
                       "(train.py does), or give a fitted one (a checkpoint's label space)")


def fit_label_spaces(model_cfg: Any, datamodule: Any, stored: dict[str, Any] | None = None) -> dict:
    """The model config (a new plain dict; ``model_cfg`` is not changed) with every learned label
    space fitted: taken from ``stored`` (a checkpoint's ``label_space`` configs, when resuming) or
    from the weights the config starts from (the model class's ``label_spaces_from_weights``),
    else learned from ``datamodule``'s training split, which is prepared (generated when missing)
    first. Nothing is read or generated when no label space is learned."""
    from hydra.utils import get_object
    from omegaconf import DictConfig, OmegaConf

    from ocrlab.utils.instantiate import instantiate_checked

    plain = OmegaConf.to_container(model_cfg, resolve=True) if isinstance(model_cfg, DictConfig) else \
        copy.deepcopy(dict(model_cfg))
    learned = learned_keys(plain)
    if not learned:
        return plain
    given = {**get_object(plain["_target_"]).label_spaces_from_weights(plain), **(stored or {})}
    for key in [k for k in learned if k in given]:
        plain[key] = copy.deepcopy(given[key])
        log.info("model.%s: the label space the weights were trained with", key)
    todo = [k for k in learned if k not in given]
    if todo:
        _prepare_training_split(datamodule)
    for key in todo:
        fitted = _fit_when_ready(key, instantiate_checked(plain[key], f"model.{key}"), datamodule)
        plain[key] = fitted.to_config()
        log.info("model.%s learned from the training data: %s", key, _size(fitted))
    return plain


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def _prepare_training_split(datamodule: Any) -> None:
    """The first process of each node makes the training split exist (as Lightning's
    ``prepare_data``); the others wait for it in :func:`_fit_when_ready`. Under Lightning's own
    launcher the other processes start only after this step ran in the first."""
    if _local_rank() == 0:
        datamodule.prepare_splits(("train",))


def _fit_when_ready(key: str, obj: Any, datamodule: Any) -> Any:
    deadline = time.monotonic() + WAIT_FOR_DATA_S
    while True:
        try:
            return obj.fit(datamodule)
        except DatasetError as e:
            # datasets appear whole (atomic writes): until then a non-first process finds none
            if _local_rank() == 0 or time.monotonic() > deadline:
                raise
            log.info("model.%s: waiting for the first process to prepare the training data (%s)", key, e)
            time.sleep(WAIT_STEP_S)


def _size(obj: Any) -> str:
    try:
        return f"{type(obj).__name__} of {len(obj)} entries"
    except TypeError:
        return type(obj).__name__
