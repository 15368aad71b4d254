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


def needs_fitting(obj: Any) -> bool:
    return isinstance(obj, LearnedLabelSpace)


def not_fitted_error(key: str, obj: Any) -> ConfigError:
    return ConfigError(f"model.{key} ({type(obj).__name__}) is learned from the training data and is not fitted: "
                       "build the model from ocrlab.label_spaces.fit_label_spaces(model_cfg, datamodule) "
                       "(train.py does), or give a fitted one (a checkpoint's label space)")


def fit_label_spaces(model_cfg: Any, datamodule: Any, stored: dict[str, Any] | None = None) -> dict:
    """The model config (a new plain dict; ``model_cfg`` is not changed) with every learned label
    space fitted: taken from ``stored`` (a checkpoint's ``label_space`` configs, when resuming) or
    from the weights the config starts from (the model class's ``label_spaces_from_weights``),
    else learned from ``datamodule``'s training split, which is prepared (generated when missing)
    first. Nothing is read or generated when no label space is learned."""
    from hydra.utils import get_class, instantiate
    from omegaconf import DictConfig, OmegaConf

    plain = OmegaConf.to_container(model_cfg, resolve=True) if isinstance(model_cfg, DictConfig) else \
        copy.deepcopy(dict(model_cfg))
    target = plain.get("_target_")
    try:
        cls = get_class(target)
    except Exception as e:
        raise ConfigError(f"model._target_ {target!r}: cannot import it ({e})") from e
    learned = {key: obj for key in cls.label_spaces_to_fit(plain)
               if needs_fitting(obj := instantiate(plain[key], _convert_="all"))}
    if not learned:
        return plain
    given = {**cls.label_spaces_from_weights(plain), **(stored or {})}
    for key in learned.keys() & given.keys():
        plain[key] = copy.deepcopy(given[key])
        log.info("model.%s: the label space the weights were trained with", key)
    todo = {k: v for k, v in learned.items() if k not in given}
    if todo:
        _prepare_training_split(datamodule)
    for key, obj in todo.items():
        fitted = _fit_when_ready(key, obj, datamodule)
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
