"""``instantiate`` with errors that name the config key.

Hydra passes override values through as written, so ``trainer.max_steps=abc`` reaches the
Trainer as a string and fails deep inside with a bare ``TypeError``. Before instantiating, each
value is checked against the annotation of the parameter it feeds (simple types, ``Optional``,
unions and ``Literal`` only; anything richer is left to the target), and a failure inside the
target is re-raised with the key it came from. ocrlab's own errors pass through unchanged:
they already name the file or key at fault.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

from ocrlab.errors import ConfigError, OcrlabError

_SIMPLE = (int, float, str, bool)


def instantiate_checked(node: Any, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(node, **kwargs)``; type errors name ``key.<param>``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from omegaconf import DictConfig, OmegaConf

    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    check_types(plain, key)
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = _root_cause(e)
        if isinstance(cause, OcrlabError):
            raise cause from e
        raise ConfigError(f"{key}: {cause if cause is not None else e}") from e


def check_types(node: Any, key: str) -> None:
    """Walk a plain config; for each ``_target_`` node, check values against annotations."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            check_types(item, f"{key}[{i}]")
        return
    if not isinstance(node, dict):
        return
    hints = _hints(node.get("_target_")) if "_target_" in node else {}
    for name, value in node.items():
        if not isinstance(name, str) or name.startswith("_"):
            continue
        where = f"{key}.{name}"
        if name in hints and not isinstance(value, dict | list):
            expected = _expected(hints[name])
            if expected is not None and not _matches(value, expected):
                raise ConfigError(f"{where}={value!r}: expected {_describe(expected)}")
        check_types(value, where)


def _root_cause(e: BaseException) -> BaseException | None:
    from hydra.errors import InstantiationException

    cause = e.__cause__
    while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
        cause = cause.__cause__
    return cause


def _hints(target: Any) -> dict[str, Any]:
    if not isinstance(target, str):
        return {}
    try:
        from hydra.utils import get_object

        obj = get_object(target)
        fn = obj.__init__ if inspect.isclass(obj) else obj
        hints = typing.get_type_hints(fn)
        params = inspect.signature(fn).parameters
    except Exception:  # unresolvable annotations: the target checks its own arguments
        return {}
    return {k: v for k, v in hints.items() if k in params}


def _expected(hint: Any) -> tuple | None:
    """The accepted simple types / literal values of an annotation, or None (not checked)."""
    origin = typing.get_origin(hint)
    if hint in _SIMPLE:
        return (hint,)
    if hint is type(None):
        return (type(None),)
    if origin is typing.Literal:
        return tuple(("literal", v) for v in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        out: list = []
        for arg in typing.get_args(hint):
            sub = _expected(arg)
            if sub is None:
                return None  # a union with a rich type: not ours to judge
            out += sub
        return tuple(out)
    return None


def _matches(value: Any, expected: tuple) -> bool:
    for e in expected:
        if isinstance(e, tuple):  # a Literal value
            if value == e[1] and type(value) is type(e[1]):
                return True
        elif e is float and isinstance(value, int | float) and not isinstance(value, bool) or e is int and isinstance(value, int) and not isinstance(value, bool) or e not in (int, float) and isinstance(value, e):
            return True
    return False


def _describe(expected: tuple) -> str:
    parts = []
    for e in expected:
        if isinstance(e, tuple):
            parts.append(repr(e[1]))
        else:
            parts.append("null" if e is type(None) else e.__name__)
    return " or ".join(dict.fromkeys(parts))
