"""Teacher-outputs files: what an external teacher (an LLM, a cloud OCR API, a larger model) read
from a data set's images, for training a student on the teacher's text instead of the ground truth.

Format: UTF-8 JSONL, one object per line::

    {"image": "images/train/0001.png", "text": "the teacher's text"}
    {"image": "/data/pages/inv_7_p1.jpg", "text": "{\\"vendor\\": ...}", "task": "vendor", "teacher": "gpt-x"}

* ``image``: the image the text was read from; relative paths are relative to the file's folder
  (or to ``image_root`` when given), as in PaddleOCR label files; absolute paths are kept.
* ``text``: the teacher's text, non-empty; normalized like labels (:func:`normalize_text`).
* ``task`` (optional): which of an image's questions the text answers, where one image has several
  (instruction pairs); absent or null: the image's only one.
* any other key (``teacher``, ``score``, ...) is ignored.

Blank lines are skipped. Every error is a :class:`DatasetError` naming the file and line and what
was expected. The same (image, task) twice with the same text is read once; with different texts
it is an error (which one would the student learn?).

:func:`match_teacher_outputs` checks a file against the images of the data it is used with (a
teacher output for an image the data does not hold is an error: a wrong file or image root) and
says how many of the data's images have one. :func:`write_teacher_outputs` writes such a file,
whole or not at all (a cache of a teacher's outputs).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocrlab.datamodules.labels import read_utf8
from ocrlab.errors import DatasetError
from ocrlab.text.normalize import normalize_text
from ocrlab.utils.io import atomic_write_text

log = logging.getLogger(__name__)

EXPECTED = 'expected one JSON object per line: {"image": "<path>", "text": "<teacher\'s text>"} (optional "task")'
_SHOWN = 5  # offending entries named in a message


@dataclass(frozen=True)
class TeacherOutput:
    """One teacher output: ``image`` resolved (absolute, symlinks followed: compared with the
    data's resolved images), ``text`` normalized, ``task`` or None, ``source`` ``file:line``."""

    image: Path
    text: str
    task: str | None
    source: str


def normalize_teacher_text(text: str, keep_line_breaks: bool = False) -> str:
    """Labels' normalization (:func:`normalize_text`: NFC, whitespace folded). With
    ``keep_line_breaks`` each line is normalized on its own and the line breaks stay (answers
    whose lines mean something: a region's text lines, a table), leading and trailing blank lines
    dropped."""
    if not keep_line_breaks:
        return normalize_text(text)
    lines = [normalize_text(line) for line in re.split(r"\r\n|\r|\n", text)]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def read_teacher_outputs(path: str | os.PathLike[str], image_root: str | os.PathLike[str] | None = None, *,
                         keep_line_breaks: bool = False) -> list[TeacherOutput]:
    """The outputs of the teacher-outputs file ``path`` in file order (see the module docstring).

    Image paths are relative to ``image_root`` if given, else to the file's folder. Texts are
    normalized as labels are (``keep_line_breaks``: see :func:`normalize_teacher_text`).
    """
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"teacher-outputs file {path} is a directory ({EXPECTED}; give the .jsonl file inside it)")
    text, data = read_utf8(path, "teacher-outputs file", EXPECTED)
    root = Path(image_root) if image_root is not None else path.parent
    outputs: list[TeacherOutput] = []
    for lineno, raw in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        if not raw.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{where}: not valid JSON ({e.msg} at column {e.colno}); {EXPECTED}") from None
        outputs.append(_parse(obj, where, root, keep_line_breaks))
    if not outputs:
        what = "is empty (0 bytes)" if not data else "holds only blank lines"
        raise DatasetError(f"teacher-outputs file {path} {what} ({EXPECTED})")
    return _without_repeats(outputs)


def _parse(obj: Any, where: str, root: Path, keep_line_breaks: bool) -> TeacherOutput:
    """One line's object, checked (``where`` names it in errors)."""
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: a JSON {type(obj).__name__}, not an object; {EXPECTED}")
    image = obj.get("image")
    if not isinstance(image, str) or not image.strip():
        hint = " ('images' given: one output per image, its path in 'image')" if "images" in obj else ""
        got = "missing" if image is None else f"{image!r}"
        raise DatasetError(f"{where}: 'image' is {got}; expected the image's path as a non-empty string{hint}")
    text = obj.get("text")
    if not isinstance(text, str):
        got = "missing" if "text" not in obj else f"a {type(text).__name__}"
        raise DatasetError(f"{where}: 'text' of image {image!r} is {got}; expected the teacher's text as a string")
    normalized = normalize_teacher_text(text, keep_line_breaks)
    if not normalized:
        raise DatasetError(f"{where}: empty text for image {image!r}; expected the teacher's text (leave out "
                           "the images the teacher could not read: they keep their ground truth)")
    task = obj.get("task")
    if task is not None and (not isinstance(task, str) or not task.strip()):
        raise DatasetError(f"{where}: 'task' is {task!r}; expected a non-empty string or no 'task'")
    return TeacherOutput((root / image.strip()).resolve(), normalized, task, where)


def _without_repeats(outputs: list[TeacherOutput]) -> list[TeacherOutput]:
    """One output per (image, task): a repeat with the same text is dropped, one with another
    text is an error naming both lines."""
    first: dict[tuple[Path, str | None], TeacherOutput] = {}
    kept = []
    for out in outputs:
        seen = first.setdefault((out.image, out.task), out)
        if seen is out:
            kept.append(out)
        elif seen.text != out.text:
            task = f" (task {out.task!r})" if out.task is not None else ""
            raise DatasetError(f"{out.source}: image {out.image}{task} has another text at {seen.source} "
                               f"({_short(seen.text)} vs {_short(out.text)}); expected one text per image and task")
    if len(kept) < len(outputs):
        log.info("teacher outputs: %d repeated line(s) (same image, task and text) read once",
                 len(outputs) - len(kept))
    return kept


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class TeacherMatch(dict[Path, list[TeacherOutput]]):
    """The outputs of the data's images: resolved image -> its outputs in file order (several
    only with different tasks). ``total``: the data's images; ``covered``: those with an output."""

    def __init__(self, by_image: dict[Path, list[TeacherOutput]], total: int):
        super().__init__(by_image)
        self.total = total

    @property
    def covered(self) -> int:
        return len(self)

    @property
    def coverage(self) -> float:
        """The share of the data's images with a teacher output (0.0 for no images)."""
        return self.covered / self.total if self.total else 0.0


def match_teacher_outputs(outputs: Iterable[TeacherOutput], known_images: Iterable[str | os.PathLike[str]],
                          what: str) -> TeacherMatch:
    """Group ``outputs`` by image, every image one of ``known_images`` (compared resolved).

    An output for an image the data does not hold is a :class:`DatasetError` naming how many, the
    first few (file:line and path) and ``what`` the data is (e.g. "the training split's 12,000
    images"). Images with no output are allowed (the caller keeps their ground truth); the share
    of images covered is logged and returned (``TeacherMatch.coverage``).
    """
    known = {Path(p).resolve() for p in known_images}
    by_image: dict[Path, list[TeacherOutput]] = {}
    unknown: list[TeacherOutput] = []
    for out in outputs:
        if out.image in known:
            by_image.setdefault(out.image, []).append(out)
        else:
            unknown.append(out)
    if unknown:
        shown = "; ".join(f"{o.source} {o.image}" for o in unknown[:_SHOWN])
        more = f"; ... ({len(unknown) - _SHOWN} more)" if len(unknown) > _SHOWN else ""
        names = {p.name for p in known}
        hint = ""
        if unknown[0].image.name in names:
            where = next(p for p in known if p.name == unknown[0].image.name).parent
            hint = (f". An image named {unknown[0].image.name} is in {where}: relative image paths are read from "
                    "the teacher-outputs file's folder (or the image root given)")
        raise DatasetError(f"{len(unknown)} teacher output(s) name images that are not among {what}: "
                           f"{shown}{more}{hint}")
    matched = TeacherMatch(by_image, len(known))
    log.info("teacher outputs for %d of %s (%.1f%%); the other %d keep their ground truth",
             matched.covered, what, 100 * matched.coverage, matched.total - matched.covered)
    return matched


def write_teacher_outputs(path: str | os.PathLike[str], rows: Iterable[TeacherOutput | Mapping[str, Any]]) -> Path:
    """Write a teacher-outputs file, whole or not at all (it replaces ``path``).

    ``rows``: :class:`TeacherOutput` (its resolved image is written) or mappings in the file's
    format (``image``, ``text``, optional ``task``, other keys written as they are; a relative
    image is relative to ``path``'s folder). Rows are checked as the reader checks lines, so the
    file reads back: a bad row is a :class:`DatasetError` naming its index.
    """
    path = Path(path)
    objects: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if isinstance(row, TeacherOutput):
            obj = {"image": str(row.image), "text": row.text, **({"task": row.task} if row.task is not None else {})}
        elif isinstance(row, Mapping):
            obj = dict(row)
            if isinstance(obj.get("image"), os.PathLike):
                obj["image"] = os.fspath(obj["image"])
        else:
            raise DatasetError(f"teacher output {i} for {path}: a {type(row).__name__}; expected a TeacherOutput "
                               'or a mapping {"image", "text", optional "task"}')
        objects.append(obj)
    if not objects:
        raise DatasetError(f"no teacher outputs to write to {path} (the reader refuses an empty file)")
    where = [f"teacher output {i} for {path}" for i in range(len(objects))]
    _without_repeats([_parse(obj, w, path.parent, keep_line_breaks=True) for obj, w in zip(objects, where, strict=True)])
    lines = []
    for obj, w in zip(objects, where, strict=True):
        try:
            lines.append(json.dumps(obj, ensure_ascii=False))
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{w}: not JSON-serializable ({e})") from None
    return atomic_write_text(path, "\n".join(lines) + "\n")
