"""The JSON object in a model's generated text (:func:`parse_json_output`). Nothing is repaired:
truncated or invalid JSON, an array, duplicate keys or NaN make the answer invalid, which the
scorer counts as a failure (every expected field wrong), never an exception.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


_DECODER = json.JSONDecoder(parse_constant=_no_constants, object_pairs_hook=_no_duplicates)


def parse_json_output(text: Any) -> tuple[dict[str, Any] | None, str | None]:
    """``(object, None)`` or ``(None, why not)`` for a model's generated text.

    The first fenced block (```` ```json ... ``` ````) if any, else the whole text; the JSON
    object starts at its first ``{`` (text around it is ignored, text after it too).
    """
    if not isinstance(text, str):
        return None, f"expected generated text (str), got {type(text).__name__}"
    fence = _FENCE.search(text)
    body = fence.group(1) if fence else text
    if body.lstrip().startswith("["):
        return None, "the output is a JSON array; expected an object"
    start = body.find("{")
    if start < 0:
        return None, "no JSON object in the output"
    try:
        obj, _ = _DECODER.raw_decode(body, start)
    except json.JSONDecodeError as error:
        cut = " (the output ends inside the object: truncated?)" if error.pos >= len(body.rstrip()) else ""
        return None, f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}{cut}"
    except ValueError as error:
        return None, f"invalid JSON: {error}"
    return obj, None
