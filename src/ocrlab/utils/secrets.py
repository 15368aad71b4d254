"""Keep secrets (W&B keys, tokens) out of logs, config dumps, reports and checkpoints."""

from __future__ import annotations

import re
from typing import Any

_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd)", re.IGNORECASE)
REDACTED = "<redacted>"


def redact(obj: Any) -> Any:
    """A copy of a plain container with the values of secret-looking keys replaced."""
    if isinstance(obj, dict):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) and v is not None else redact(v))
                for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(redact(v) for v in obj)
    return obj
