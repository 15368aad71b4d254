"""Synthetic Thai text-line datasets: line images and PaddleOCR label files.

Written by the shared writer (:func:`ocrlab.synth.dataset.write_dataset`), like every generator::

    dataset.json             kind "thai-lines", the spec, complete flag, checksums of the label files
    manifest.jsonl           one line per image, in order: index, files {path: sha256}, split, label,
                             font (file name), family
    train.txt                PaddleOCR label file: ``images/train/000000.png<TAB>label`` per line
    images/train/000000.png  RGB line image
    ...                      one label file and image folder per split

The label files are written (atomically) once every image is listed: a directory with label
files holds all its images. An interrupted run resumes from the first image the manifest does
not list; :func:`ocrlab.synth.dataset.verify_dataset` checks every image and label file.

The spec holds every argument that changes the bytes written (seed, split counts, font filters,
the typeface pool's shares and fallbacks, font sizes, the line style and degradation configs,
text lengths and weights, image format) plus ``generator``, ``format_version`` and the pool's
faces (family, style, file name, sha256, fallback, the characters a face cannot draw, its share
of the lines and its family's).

Typefaces: each line draws a face by share (a family's share split over its styles) among the
faces that can draw that line; a Thai-only face takes the characters it lacks from its fallback
family (:mod:`ocrlab.synth.fonts`). Then the line style (:mod:`ocrlab.synth.line_render`: small
print, letter spacing, bold, stroke width, slant, warping, underlines, table rules, neighbouring
lines) and the degradations (:mod:`ocrlab.synth.degrade`).
Arguments that do not change bytes (``workers``, ``progress``) are not part of it. System fonts
differ between machines, so use ``fonts_include=["Sarabun", "Kanit", "Prompt"]`` (always
installed) where datasets must be byte-identical across machines.

Sample ``i`` of split ``s`` is a function of ``(seed, s, i)`` only: its generator is
``numpy.random.default_rng([seed, split_key(s), i])``. So the output does not depend on
``workers``, and adding a split or samples leaves existing samples unchanged.
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import io
import itertools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ocrlab.synth.dataset import DatasetConflictError, Sample, iter_manifest, read_dataset_info, write_dataset
from ocrlab.synth.degrade import DegradationConfig, Degrader
from ocrlab.synth.fonts import (
    DEFAULT_FALLBACKS,
    FAMILY_SOURCES,
    FontNotFoundError,
    FontRecord,
    discover_fonts,
)
from ocrlab.synth.line_render import LineStyle, RaqmUnavailableError, render_line, require_raqm
from ocrlab.synth.text_sources import ThaiLineTextSampler

__all__ = ["RaqmUnavailableError", "build_spec", "generate_thai_lines", "render_line", "require_raqm"]

GENERATOR = "ocrlab.synth.thai_lines"
FORMAT_VERSION = 3  # 2: the shared dataset writer (dataset.json, manifest.jsonl); 3: font pool shares, line style
KIND = "thai-lines"
IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG"}
DEFAULT_SPLITS: Mapping[str, int] = {"train": 10_000, "val": 1_000, "test": 1_000}
SPLIT_NAME = re.compile(r"[a-z0-9_]+")
FONT_SIZE_LIMITS = (8, 200)


# One error for "the directory holds something else", whichever generator writes it.
DatasetMismatchError = DatasetConflictError


# -- dataset spec -----------------------------------------------------------------------------
def split_key(split: str) -> int:
    """A stable integer for a split name (first 8 bytes of its sha256), used in sample seeds."""
    return int.from_bytes(hashlib.sha256(split.encode("utf-8")).digest()[:8], "little")


def build_spec(
    splits: Mapping[str, int] | None = None,
    seed: int = 0,
    fonts_include: Sequence[str] | None = None,
    fonts_exclude: Sequence[str] | None = None,
    font_size: tuple[int, int] = (24, 40),
    degradations: DegradationConfig | Mapping[str, Any] | None = None,
    min_chars: int = 5,
    max_chars: int = 40,
    text_weights: Mapping[str, float] | None = None,
    image_format: str = "png",
    font_shares: Mapping[str, float] | None = None,
    font_fallbacks: Mapping[str, str] | None = None,
    style: LineStyle | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate the arguments and return the canonical, JSON-ready spec (see module docstring).

    ``font_shares``: the pool, {family: share of the lines}; None: every usable family, equal
    shares (a family's files split its share evenly). ``font_fallbacks``: {Thai-only family:
    family drawing what it lacks}, default :data:`ocrlab.synth.fonts.DEFAULT_FALLBACKS`.
    ``style``: :class:`~ocrlab.synth.line_render.LineStyle` keys (None: its defaults).

    ``degradations``: None means :class:`DegradationConfig` defaults; a mapping goes through
    :meth:`DegradationConfig.from_dict` (keys override the defaults, ``preset: none`` starts
    from clean). ``text_weights`` override :data:`text_sources.DEFAULT_WEIGHTS` per kind.
    """
    splits = dict(DEFAULT_SPLITS if splits is None else splits)
    if not splits:
        raise ValueError("splits is empty: give at least one split, e.g. {'train': 1000}")
    for name, count in splits.items():
        if not isinstance(name, str) or not SPLIT_NAME.fullmatch(name):
            raise ValueError(f"split name {name!r} is invalid: use lowercase letters, digits and '_'")
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ValueError(f"split {name!r} has count {count!r}: counts must be positive integers")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    lo, hi = _int_range(font_size, "font_size")
    if not FONT_SIZE_LIMITS[0] <= lo <= hi <= FONT_SIZE_LIMITS[1]:
        raise ValueError(
            f"font_size {font_size!r} must satisfy {FONT_SIZE_LIMITS[0]} <= min <= max <= {FONT_SIZE_LIMITS[1]}"
        )
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format {image_format!r} is not one of {sorted(IMAGE_FORMATS)}")
    if isinstance(degradations, DegradationConfig):
        degradation_config = degradations
    elif degradations is None:
        degradation_config = DegradationConfig()
    elif isinstance(degradations, Mapping):
        degradation_config = DegradationConfig.from_dict(degradations)
    else:
        raise TypeError(
            f"degradations must be a DegradationConfig, a mapping or None, not {type(degradations).__name__}"
        )
    # Validates lengths and weights; the sampler is built again in each worker.
    sampler = ThaiLineTextSampler(min_chars, max_chars, text_weights)
    if font_shares is not None:
        if not isinstance(font_shares, Mapping) or not font_shares or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in font_shares.values()):
            raise ValueError(f"font_shares must map family names to shares >= 0, got {font_shares!r}")
        if not any(font_shares.values()):
            raise ValueError("font_shares are all zero: no font to draw with")
    fallbacks = DEFAULT_FALLBACKS if font_fallbacks is None else font_fallbacks
    if not isinstance(fallbacks, Mapping) or not all(isinstance(v, str) for v in fallbacks.values()):
        raise ValueError(f"font_fallbacks must map family names to family names, got {font_fallbacks!r}")
    line_style = style if isinstance(style, LineStyle) else LineStyle.from_dict(style)
    return {
        "generator": GENERATOR,
        "format_version": FORMAT_VERSION,
        "splits": {name: splits[name] for name in sorted(splits)},
        "seed": seed,
        "fonts_include": _family_names(fonts_include, "fonts_include"),
        "fonts_exclude": _family_names(fonts_exclude, "fonts_exclude"),
        "font_size": [lo, hi],
        "degradations": degradation_config.to_dict(),
        "min_chars": min_chars,
        "max_chars": max_chars,
        "text_weights": sampler.weights,
        "image_format": image_format,
        "font_shares": None if font_shares is None else {k: float(font_shares[k]) for k in sorted(font_shares)},
        "font_fallbacks": {k: fallbacks[k] for k in sorted(fallbacks)},
        "style": line_style.to_dict(),
    }


def _int_range(value: Any, what: str) -> tuple[int, int]:
    if not (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"{what} must be a pair of integers (min, max), got {value!r}")
    return int(value[0]), int(value[1])


def _family_names(names: Sequence[str] | None, what: str) -> list[str] | None:
    """Case-folded, sorted, unique: filters that select the same fonts compare equal."""
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{what} must be a list of font family names, got {names!r}")
    return sorted({n.casefold() for n in names})


def describe_dataset(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What a Thai-line dataset holds: ``spec``, ``counts`` and ``label_files`` per split,
    ``fonts`` (the candidates, each with the number of ``samples`` drawn in it), ``complete``."""
    dataset_dir = Path(dataset_dir)
    try:
        info = read_dataset_info(dataset_dir)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{dataset_dir} holds no dataset.json: it is not a generated dataset"
        ) from None
    if info.get("kind") != KIND:
        raise DatasetMismatchError(f"{dataset_dir} holds a {info.get('kind')!r} dataset, not Thai lines")
    spec = info["parts"][-1]["spec"]
    used = collections.Counter(record["font"] for record in iter_manifest(dataset_dir))
    return {
        "spec": spec,
        "counts": dict(spec["splits"]),
        "label_files": {split: f"{split}.txt" for split in spec["splits"]},
        "fonts": [dict(font, samples=used[font["filename"]]) for font in spec["fonts"]],
        "complete": bool(info.get("complete")),
    }


def _refuse_earlier_layout(output_dir: Path) -> None:
    """A directory written by the earlier Thai-line writer (``manifest.json`` + ``SHA256SUMS``)
    cannot be resumed or verified: say so instead of calling it unrelated files."""
    if (output_dir / "manifest.json").is_file() and not (output_dir / "dataset.json").exists():
        raise DatasetMismatchError(
            f"{output_dir} holds a Thai-line dataset in the earlier layout (manifest.json, SHA256SUMS), which "
            "this version neither resumes nor verifies; its label files still train as they are (data.synth=null), "
            "or remove the directory to generate it again"
        )


# -- generation -------------------------------------------------------------------------------
def generate_thai_lines(
    output_dir: str | os.PathLike[str],
    splits: Mapping[str, int] | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    **options: Any,
) -> Path:
    """Make the dataset at ``output_dir`` exist with this spec; return its path.

    * ``output_dir`` absent or empty: generate it.
    * ``output_dir`` holds this spec's dataset, complete: return it untouched (nothing
      rewritten), so calling this on first use is idempotent; a second process calling it while
      the first one writes waits for it, then finds the dataset made.
    * ``output_dir`` holds this spec's dataset, interrupted (an error, Ctrl-C, a kill): resume it
      from the first image its manifest does not list.
    * anything else there (another spec, unrelated files): :class:`DatasetMismatchError` naming
      the directory and the differing spec keys; nothing is written.

    A run that fails before its first image is listed removes the directory it created.
    ``splits`` defaults to :data:`DEFAULT_SPLITS`; ``options`` are the other spec arguments of
    :func:`build_spec` (``fonts_include``, ``fonts_exclude``, ``font_size``, ``degradations``,
    ``min_chars``, ``max_chars``, ``text_weights``, ``image_format``). ``workers > 1`` uses a
    ``spawn`` process pool; the bytes written are the same.
    """
    spec = build_spec(splits, seed, **options)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    output_dir = Path(output_dir)
    _refuse_earlier_layout(output_dir)
    require_raqm()
    fonts = pool_fonts(spec)
    generator = ThaiLineGenerator(spec, fonts)
    write_dataset(generator, output_dir, generator.num_samples, workers=workers, progress=progress)
    return output_dir


def pool_fonts(spec: Mapping[str, Any]) -> list[FontRecord]:
    """The spec's pool on this machine: the faces of its ``font_shares`` families (every usable
    family when None) with a share above 0, after ``fonts_include``/``fonts_exclude``. A pool
    family that is not installed is an error naming where it comes from."""
    fonts = discover_fonts(include=spec["fonts_include"], exclude=spec["fonts_exclude"],
                           fallbacks=spec["font_fallbacks"])
    shares = spec["font_shares"]
    if shares is None:
        return fonts
    found = {f.family.casefold() for f in discover_fonts(fallbacks=spec["font_fallbacks"])}
    absent = sorted(f for f in shares if f.casefold() not in found)
    if absent:
        sources = {f: FAMILY_SOURCES.get(f, "?") for f in absent}
        raise FontNotFoundError(
            f"font pool families {absent} are not installed or cannot draw Thai (from: {sources}); run "
            "scripts/setup.sh, or leave them out of data.synth.font_shares")
    wanted = {f.casefold() for f, share in shares.items() if share > 0}
    pool = [f for f in fonts if f.family.casefold() in wanted]
    if not pool:
        raise FontNotFoundError(f"no font left of the pool {sorted(wanted)} after include={spec['fonts_include']} "
                                f"exclude={spec['fonts_exclude']}")
    return pool


# Reads better where a dataset is generated on first use; same function, same semantics.
ensure_thai_lines = generate_thai_lines


class ThaiLineGenerator:
    """Thai line images for :func:`ocrlab.synth.dataset.write_dataset`.

    Index ``k`` runs over the splits in name order (``spec["splits"]``): the first
    ``splits[s0]`` indices are split ``s0``'s images 0, 1, ..., then ``s1``'s, and so on.
    Fonts, words and the degradation config are loaded once per process, on first use."""

    kind = KIND
    unit = "line"
    extendable = False  # the split counts are part of the spec: a new part would reuse file names

    def __init__(self, spec: dict[str, Any], fonts: Sequence[FontRecord]):
        shares = {k.casefold(): v for k, v in (spec["font_shares"] or {}).items()}
        total = sum({f.family: shares.get(f.family.casefold(), 1.0) for f in fonts}.values())
        family_share = {f.family: shares.get(f.family.casefold(), 1.0) / total for f in fonts}
        files_per_family = collections.Counter(f.family for f in fonts)
        # A family's share is split evenly over its files (styles).
        self.font_weights = np.array([family_share[f.family] / files_per_family[f.family] for f in fonts])
        self._spec = {**spec, "fonts": [dict(font.to_dict(), family_share=family_share[font.family], share=w)
                                        for font, w in zip(fonts, self.font_weights.tolist())]}
        self.fonts = tuple(fonts)
        self.splits: dict[str, int] = dict(spec["splits"])
        self.split_names = tuple(self.splits)
        self.starts = list(itertools.accumulate(self.splits.values(), initial=0))[:-1]
        self.num_samples = sum(self.splits.values())
        self._tools: tuple[ThaiLineTextSampler, Degrader, LineStyle] | None = None

    def pick_font(self, label: str, rng: np.random.Generator) -> FontRecord:
        """A face by share among those that can draw ``label`` (none of its ``missing`` characters)."""
        weights = self.font_weights * np.array([not (set(f.missing) & set(label)) for f in self.fonts])
        if not weights.any():
            raise FontNotFoundError(f"no face of the pool can draw {label!r}")
        return self.fonts[int(rng.choice(len(self.fonts), p=weights / weights.sum()))]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tools": None}  # rebuilt in each worker

    def spec(self) -> dict[str, Any]:
        return self._spec

    def static_files(self) -> dict[str, bytes]:
        return {}

    def locate(self, index: int) -> tuple[str, int]:
        """(split, index within the split) of dataset index ``index``."""
        n = bisect.bisect_right(self.starts, index) - 1
        return self.split_names[n], index - self.starts[n]

    def sample(self, index: int) -> Sample:
        split, i = self.locate(index)
        if self._tools is None:
            spec = self._spec
            self._tools = (
                ThaiLineTextSampler(spec["min_chars"], spec["max_chars"], spec["text_weights"]),
                Degrader(DegradationConfig.from_dict(spec["degradations"])),
                LineStyle.from_dict(spec["style"]),
            )
        sampler, degrader, style = self._tools
        rng = np.random.default_rng([self._spec["seed"], split_key(split), i])
        label = sampler.sample(rng)
        neighbours = [sampler.sample(rng) for _ in range(2)] if style.neighbours_p > 0 else []
        font = self.pick_font(label, rng)
        low, high = self._spec["font_size"]
        font_size = int(rng.integers(low, high + 1))
        try:
            image = render_line(label, font.path, font_size, rng, degrader, fallback_path=font.fallback_path,
                                style=style, neighbours=[n for n in neighbours if not set(font.missing) & set(n)])
        except Exception as error:
            raise RuntimeError(
                f"rendering sample {i} of split {split!r} failed "
                f"(label {label!r}, font {font.path}, size {font_size}): {error}"
            ) from error
        extension = self._spec["image_format"]
        path = f"images/{split}/{i:06d}.{extension}"
        return Sample(
            {path: _encode(image, extension)},
            {"split": split, "label": label, "font": font.filename, "family": font.family},
        )

    def final_files(self, records: Iterable[dict[str, Any]]) -> dict[str, bytes]:
        """The PaddleOCR label files: ``<image path><TAB><label>`` per line, in index order."""
        lines: dict[str, list[str]] = {split: [] for split in self.splits}
        for record in records:
            (path,) = record["files"]
            lines[record["split"]].append(f"{path}\t{record['label']}\n")
        return {f"{split}.txt": "".join(rows).encode("utf-8") for split, rows in lines.items()}


def _encode(image: Image.Image, extension: str) -> bytes:
    buffer = io.BytesIO()
    # PNG level 1: half the time of the default level 6 and no bigger on noisy scans.
    options = {"quality": 95} if extension == "jpg" else {"compress_level": 1}
    image.save(buffer, format=IMAGE_FORMATS[extension], **options)
    return buffer.getvalue()
