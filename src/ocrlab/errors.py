"""The errors a user sees, shared by every layer (no heavy imports).

Each message names the file, line or config key at fault and what was expected.
"""

from __future__ import annotations


class OcrlabError(Exception):
    """Base of ocrlab's user-facing errors."""


class DatasetError(OcrlabError, ValueError):
    """Bad input data: the message names the file (and line) and what was expected."""


class ConfigError(OcrlabError, ValueError):
    """A config value that cannot work: the message names the key and what was expected."""


class CheckpointError(OcrlabError, ValueError):
    """A checkpoint or export that is missing, unreadable or not an ocrlab model."""
