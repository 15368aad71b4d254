"""Keep secrets (W&B keys, tokens) out of logs, config dumps, reports and checkpoints.

A secret is the value of a key that looks like one (``api_key``, ``token``, ``secret``,
``password``), wherever it was given: in a config, as an override (``+wandb_api_key=...``) or
in the environment (``WANDB_API_KEY``). :func:`redact` blanks such keys in containers;
:func:`scrub` removes the values themselves from any text (Hydra's own files, argv);
:func:`without_secrets` does both to a container (config dumps, the loop's fingerprint).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable
from typing import Any

_SECRET_WORDS = {"secret", "password", "passwd", "apikey", "credentials"}
# a key ending in "token" is a secret (hf_token, WANDB_TOKEN, access_token) unless it names a
# tokenizer's special token; "tokens", "tokenizer", "max_new_tokens" are ordinary settings
_SPECIAL_TOKENS = {"pad", "eos", "bos", "unk", "sep", "cls", "mask", "image", "video", "vision", "start",
                   "end", "boi", "eoi", "special"}
REDACTED = "<redacted>"
# shorter values are not scrubbed from text: they would blank ordinary words and numbers
MIN_SECRET_LENGTH = 6


def is_secret_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    parts = [p for p in re.split(r"[^a-z0-9]+", key.lower()) if p]
    if not parts:
        return False
    if _SECRET_WORDS.intersection(parts) or any(a == "api" and b == "key" for a, b in itertools.pairwise(parts)):
        return True
    return parts[-1] == "token" and (len(parts) == 1 or parts[-2] not in _SPECIAL_TOKENS)


def redact(obj: Any, drop: bool = False) -> Any:
    """A copy of a plain container with the values of secret-looking keys replaced (``drop``:
    those keys left out, so whether a secret was given at all does not show either)."""
    if isinstance(obj, dict):
        if drop:
            return {k: redact(v, drop) for k, v in obj.items() if not is_secret_key(k)}
        return {k: (REDACTED if is_secret_key(k) and v is not None else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(redact(v, drop) for v in obj)
    return obj


def without_secrets(obj: Any, drop: bool = False) -> Any:
    """A copy of a plain container that holds no secret: :func:`redact` (``drop`` as there), and
    every secret's value (found in it or in the environment, :func:`secret_values`) blanked
    wherever it also sits inside another string (an interpolated URL, say)."""
    secrets = secret_values(obj)
    clean = redact(obj, drop)
    return _scrub_strings(clean, secrets) if secrets else clean


def _scrub_strings(obj: Any, secrets: set[str]) -> Any:
    if isinstance(obj, str):
        return scrub(obj, secrets)
    if isinstance(obj, dict):
        return {k: _scrub_strings(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_scrub_strings(v, secrets) for v in obj)
    return obj


def secret_values(config: Any = None, overrides: Iterable[str] = ()) -> set[str]:
    """Secret values found in a plain config, in ``key=value`` overrides and in the environment."""
    found: set[str] = set()

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if is_secret_key(k) and isinstance(v, str | int) and not isinstance(v, bool):
                    found.add(str(v))
                else:
                    walk(v)
        elif isinstance(obj, list | tuple):
            for v in obj:
                walk(v)

    walk(config)
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if sep and is_secret_key(key.lstrip("+~")):
            found.add(value.strip("'\""))
    found.update(v for k, v in os.environ.items() if is_secret_key(k))
    return {v for v in found if len(v) >= MIN_SECRET_LENGTH and v != REDACTED}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced (longest first)."""
    for value in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
