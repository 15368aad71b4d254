"""Atomic writes: a reader sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], *, fsync: bool = True) -> Path:
    """Write through ``write(file)`` into a temp file beside ``path``, fsync, then rename.

    ``fsync=False`` skips the flush to disk: still atomic for readers and against an
    interrupted process (the rename happens only after the whole write), not against power loss.
    Bulk dataset writers use it; a few milliseconds a file would dominate their cost.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_directory(path: str | Path, write: Callable[[Path], Any], *, replace: bool = False,
                     marker: str | None = None, what: str = "an earlier output of this writer") -> Path:
    """Fill a temp sibling directory through ``write(dir)``, then rename it to ``path``: the
    directory appears complete or not at all.

    An empty existing directory is written into. ``replace`` swaps out an existing one (the old
    one is removed only after the new one is in place), but only one this writer made: a
    directory holding the file ``marker`` (``what`` names it in the error). Anything else (a file,
    a directory of other files, any non-empty one when ``marker`` is None) is refused with
    ``FileExistsError`` naming what it holds: nothing that this writer did not write is deleted.
    """
    path = Path(path)
    _check_replaceable(path, replace, marker, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.parent / f".{path.name}.partial-{os.getpid()}"
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir()
        write(partial)
        _check_replaceable(path, replace, marker, what)  # again: something may have appeared meanwhile
        if path.exists() or path.is_symlink():
            os.replace(path, old)
        os.replace(partial, path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if (old.exists() or old.is_symlink()) and not path.exists():
            os.replace(old, path)
        raise
    if old.is_symlink():
        old.unlink()  # the link only, never what it points to
    else:
        shutil.rmtree(old, ignore_errors=True)
    return path


def replace_refusal(path: str | Path, marker: str | None = None, what: str = "an earlier output of this writer"
                    ) -> str | None:
    """Why ``path`` must not be replaced by a directory writer, or None when it may be: it does
    not exist, is an empty directory, or is a directory holding ``marker`` (the file that writer
    puts in everything it writes)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_dir():
        return f"{path} exists and is not a directory"
    try:
        empty = not any(path.iterdir())
    except OSError as e:
        return f"{path} cannot be listed ({e.strerror or e})"
    if empty or (marker is not None and (path / marker).is_file()):
        return None
    clue = f"no {marker} in it; " if marker is not None else ""
    return f"{path} is not {what} ({clue}it {describe_dir(path).removeprefix(f'{path} ')})"


def describe_dir(path: str | Path, limit: int = 8) -> str:
    """What a path is or a folder holds, for an error saying what was found instead of what was
    expected: ``<path> holds a/, b.txt``, ``<path> is empty``, ``<path> does not exist``."""
    path = Path(path)
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_dir():
        return f"{path} is a file"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    if not names:
        return f"{path} is empty"
    more = f", ... ({len(names)} entries)" if len(names) > limit else ""
    return f"{path} holds {', '.join(names[:limit])}{more}"


def _check_replaceable(path: Path, replace: bool, marker: str | None, what: str) -> None:
    if not replace:
        if (path.exists() or path.is_symlink()) and not (path.is_dir() and not any(path.iterdir())):
            raise FileExistsError(f"{path} already exists")
        return
    refusal = replace_refusal(path, marker, what)
    if refusal is not None:
        raise FileExistsError(f"{refusal}: refusing to replace it")


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = True) -> Path:
    return atomic_write(path, lambda f: f.write(data), fsync=fsync)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # tensors and numpy scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
