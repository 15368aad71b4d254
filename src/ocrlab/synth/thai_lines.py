"""Synthetic Thai text-line datasets in PaddleOCR recognition format.

Layout of a dataset directory::

    manifest.json            spec, counts, fonts, environment, checksum of SHA256SUMS
    SHA256SUMS               ``<sha256>  <path>`` per image, then per label file (``sha256sum -c``)
    train.txt                ``images/train/000000.png<TAB>label`` per line
    images/train/000000.png  RGB line image
    ...                      one label file and image folder per split

``manifest.json`` holds ``spec``: every argument that changes the bytes written (seed, split
counts, font filters, font sizes, the full resolved degradation config, text lengths and
weights, image format) plus ``generator`` and ``format_version``. Arguments that do not change
bytes (``workers``, ``progress``) are not part of it. It also lists the fonts that were
candidates (family, style, file name, sha256, number of samples drawn with each) and the
library versions that rendered them; these are provenance, not spec: system fonts differ
between machines, so use ``fonts_include=["Sarabun", "Kanit", "Prompt"]`` (always installed)
where datasets must be byte-identical across machines.

Sample ``i`` of split ``s`` is a function of ``(seed, s, i)`` only: its generator is
``numpy.random.default_rng([seed, split_key(s), i])``. So the output does not depend on
``workers``, and adding a split or samples leaves existing samples unchanged.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import io
import json
import multiprocessing
import os
import platform
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from ocrlab.synth.degrade import DegradationConfig, Degrader
from ocrlab.synth.fonts import FontRecord, discover_fonts
from ocrlab.synth.text_sources import ThaiLineTextSampler

GENERATOR = "ocrlab.synth.thai_lines"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
CHECKSUMS_NAME = "SHA256SUMS"
IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG"}
DEFAULT_SPLITS: Mapping[str, int] = {"train": 10_000, "val": 1_000, "test": 1_000}
SPLIT_NAME = re.compile(r"[a-z0-9_]+")
FONT_SIZE_LIMITS = (8, 200)


class RaqmUnavailableError(RuntimeError):
    """Pillow was built without libraqm: Thai cannot be shaped correctly."""


class DatasetMismatchError(FileExistsError):
    """The output directory exists but holds something other than the requested dataset."""


# -- rendering ------------------------------------------------------------------------------
def render_line(
    text: str,
    font_path: str | os.PathLike[str],
    font_size: int,
    rng: np.random.Generator,
    degrader: Degrader | None = None,
) -> Image.Image:
    """One RGB line image: ``text`` in the font, a random margin on each side, then degraded.

    The canvas is the ink box from ``font.getbbox`` under RAQM (which includes stacked upper
    and lower marks) plus margins of 5-35 % of the font size vertically and 10-60 %
    horizontally, at least 2 px, so no mark touches the border before degradation.
    """
    if not text:
        raise ValueError("cannot render an empty line")
    require_raqm()
    font = _load_font(os.fspath(font_path), int(font_size))
    left, top, right, bottom = font.getbbox(text)
    margin_left, margin_right = (max(2, round(m)) for m in rng.uniform(0.1, 0.6, size=2) * font_size)
    margin_top, margin_bottom = (max(2, round(m)) for m in rng.uniform(0.05, 0.35, size=2) * font_size)
    ink, paper = _ink_and_paper(rng)
    size = (right - left + margin_left + margin_right, bottom - top + margin_top + margin_bottom)
    image = Image.new("RGB", size, paper)
    ImageDraw.Draw(image).text((margin_left - left, margin_top - top), text, font=font, fill=ink)
    return degrader(image, rng) if degrader is not None else image


def require_raqm() -> None:
    """Raise :class:`RaqmUnavailableError` unless Pillow can shape text with libraqm."""
    if not features.check_feature("raqm"):
        raise RaqmUnavailableError(
            "Pillow has no RAQM text layout (libraqm + libfribidi), which Thai needs: the BASIC "
            "layout misplaces tone marks and upper vowels. Install the PyPI Pillow wheel (it "
            "bundles raqm) and the system library libfribidi0 (Debian: apt-get install libfribidi0)."
        )


@functools.lru_cache(maxsize=1024)
def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.RAQM)


# Ink colours of printed business documents: black, blue, red, green, each with jitter.
_INK_BASES = np.array([[20, 20, 20], [20, 30, 75], [75, 20, 20], [20, 60, 35]])
_INK_WEIGHTS = np.array([0.7, 0.15, 0.1, 0.05])


def _ink_and_paper(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Dark ink on light paper (or, 10 % of the time, inverted): >= 100 levels apart per channel."""
    ink = _INK_BASES[rng.choice(len(_INK_BASES), p=_INK_WEIGHTS)] + rng.integers(-20, 21, size=3)
    paper = rng.integers(205, 256) - rng.integers(0, 25, size=3)
    ink_rgb = tuple(int(v) for v in np.clip(ink, 0, 80))
    paper_rgb = tuple(int(v) for v in paper)
    return (paper_rgb, ink_rgb) if rng.random() < 0.1 else (ink_rgb, paper_rgb)


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
) -> dict[str, Any]:
    """Validate the arguments and return the canonical, JSON-ready spec (see module docstring).

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


def read_manifest(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a dataset directory."""
    path = Path(dataset_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {dataset_dir} is not a generated dataset")
    return json.loads(path.read_text(encoding="utf-8"))


def _check_existing(output_dir: Path, spec: dict[str, Any]) -> None:
    """Return if ``output_dir`` holds exactly ``spec``; else raise naming what differs."""
    manifest_path = output_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise DatasetMismatchError(
            f"{output_dir} exists but has no {MANIFEST_NAME}, so it is not a dataset made by {GENERATOR}; "
            "remove it or choose another output_dir"
        )
    existing = json.loads(manifest_path.read_text(encoding="utf-8")).get("spec", {})
    differing = sorted(k for k in existing.keys() | spec.keys() if existing.get(k) != spec.get(k))
    if differing:
        details = "; ".join(
            f"{k}: existing {existing.get(k)!r} != requested {spec.get(k)!r}" for k in differing
        )
        raise DatasetMismatchError(
            f"{output_dir} holds a different dataset (spec keys {differing} differ: {details}); "
            "remove it or choose another output_dir"
        )


# -- generation -------------------------------------------------------------------------------
def generate_thai_lines(
    output_dir: str | os.PathLike[str],
    splits: Mapping[str, int] | None = None,
    seed: int = 0,
    workers: int = 1,
    fonts_include: Sequence[str] | None = None,
    fonts_exclude: Sequence[str] | None = None,
    font_size: tuple[int, int] = (24, 40),
    degradations: DegradationConfig | Mapping[str, Any] | None = None,
    min_chars: int = 5,
    max_chars: int = 40,
    text_weights: Mapping[str, float] | None = None,
    image_format: str = "png",
    progress: bool = True,
) -> Path:
    """Make the dataset at ``output_dir`` exist with this spec; return its path.

    * ``output_dir`` absent: generate into the sibling ``.{name}.partial-{pid}`` and rename it
      onto ``output_dir`` at the end (atomic). On any error the partial directory is removed
      and ``output_dir`` does not appear.
    * ``output_dir`` holds a dataset with an equal spec: return it untouched (nothing rewritten),
      so calling this on first use is idempotent; concurrent callers (e.g. DDP ranks) agree.
    * anything else there: :class:`DatasetMismatchError` naming the directory and the differing
      spec keys.

    ``splits`` defaults to :data:`DEFAULT_SPLITS`; see :func:`build_spec` for the other spec
    arguments. ``workers > 1`` uses a ``spawn`` process pool; the bytes written are the same.
    """
    spec = build_spec(
        splits,
        seed,
        fonts_include,
        fonts_exclude,
        font_size,
        degradations,
        min_chars,
        max_chars,
        text_weights,
        image_format,
    )
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    output_dir = Path(output_dir)
    if output_dir.exists():
        _check_existing(output_dir, spec)
        return output_dir
    require_raqm()
    fonts = discover_fonts(include=spec["fonts_include"], exclude=spec["fonts_exclude"])

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    partial_dir = output_dir.parent / f".{output_dir.name}.partial-{os.getpid()}"
    if partial_dir.exists():  # left by a killed run of a process with our pid
        shutil.rmtree(partial_dir)
    try:
        _write_dataset(
            partial_dir, spec, fonts, workers, progress, description=f"thai-lines {output_dir.name}"
        )
        try:
            os.replace(partial_dir, output_dir)
        except OSError:
            if not output_dir.exists():
                raise
            _check_existing(output_dir, spec)  # another process finished the same dataset first
            shutil.rmtree(partial_dir, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial_dir, ignore_errors=True)
        raise
    return output_dir


# Reads better where a dataset is generated on first use; same function, same semantics.
ensure_thai_lines = generate_thai_lines


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs to write samples; picklable for ``spawn``."""

    dataset_dir: str
    spec: dict[str, Any]
    font_paths: tuple[str, ...]


@dataclass(frozen=True)
class _Written:
    split: str
    path: str  # relative to the dataset directory
    label: str
    sha256: str
    font_index: int


class _SampleWriter:
    """Renders and writes samples; built once per process (fonts, words and config loaded once)."""

    def __init__(self, job: _Job):
        spec = job.spec
        self.dataset_dir = Path(job.dataset_dir)
        self.seed = spec["seed"]
        self.font_paths = job.font_paths
        self.font_size = spec["font_size"]
        self.extension = spec["image_format"]
        self.sampler = ThaiLineTextSampler(spec["min_chars"], spec["max_chars"], spec["text_weights"])
        self.degrader = Degrader(DegradationConfig.from_dict(spec["degradations"]))

    def __call__(self, task: tuple[str, int]) -> _Written:
        split, index = task
        rng = np.random.default_rng([self.seed, split_key(split), index])
        label = self.sampler.sample(rng)
        font_index = int(rng.integers(len(self.font_paths)))
        font_size = int(rng.integers(self.font_size[0], self.font_size[1] + 1))
        try:
            image = render_line(label, self.font_paths[font_index], font_size, rng, self.degrader)
        except Exception as error:
            raise RuntimeError(
                f"rendering sample {index} of split {split!r} failed "
                f"(label {label!r}, font {self.font_paths[font_index]}, size {font_size}): {error}"
            ) from error
        data = _encode(image, self.extension)
        relative = f"images/{split}/{index:06d}.{self.extension}"
        (self.dataset_dir / relative).write_bytes(data)
        return _Written(split, relative, label, hashlib.sha256(data).hexdigest(), font_index)


def _encode(image: Image.Image, extension: str) -> bytes:
    buffer = io.BytesIO()
    # PNG level 1: half the time of the default level 6 and no bigger on noisy scans.
    options = {"quality": 95} if extension == "jpg" else {"compress_level": 1}
    image.save(buffer, format=IMAGE_FORMATS[extension], **options)
    return buffer.getvalue()


_process_writer: _SampleWriter | None = None


def _init_worker(job: _Job) -> None:
    global _process_writer
    _process_writer = _SampleWriter(job)


def _write_in_worker(task: tuple[str, int]) -> _Written:
    assert _process_writer is not None, "_init_worker did not run in this process"
    return _process_writer(task)


def _tasks(splits: Mapping[str, int]) -> Iterator[tuple[str, int]]:
    for split, count in splits.items():
        for index in range(count):
            yield split, index


def _write_dataset(
    dataset_dir: Path,
    spec: dict[str, Any],
    fonts: list[FontRecord],
    workers: int,
    progress: bool,
    description: str,
) -> None:
    from tqdm import tqdm

    splits: dict[str, int] = spec["splits"]  # sorted by name: the order of every listing below
    for split in splits:
        (dataset_dir / "images" / split).mkdir(parents=True)
    job = _Job(str(dataset_dir), spec, tuple(f.path for f in fonts))
    total = sum(splits.values())
    font_counts = [0] * len(fonts)
    checksums_digest = hashlib.sha256()  # of SHA256SUMS itself, for the manifest

    def write_checksum(sums_file: io.TextIOBase, sha256: str, path: str) -> None:
        line = f"{sha256}  {path}\n"
        sums_file.write(line)
        checksums_digest.update(line.encode("utf-8"))

    with contextlib.ExitStack() as stack:
        # Streamed, not collected: a million-line dataset keeps constant memory here.
        sums_file = stack.enter_context(_open_text(dataset_dir / CHECKSUMS_NAME))
        label_files = {
            split: stack.enter_context(_open_text(dataset_dir / f"{split}.txt")) for split in splits
        }
        bar = stack.enter_context(tqdm(total=total, disable=not progress, desc=description, unit="line"))
        for written in stack.enter_context(_results(job, _tasks(splits), total, workers)):
            label_files[written.split].write(f"{written.path}\t{written.label}\n")
            write_checksum(sums_file, written.sha256, written.path)
            font_counts[written.font_index] += 1
            bar.update()
        for split, label_file in label_files.items():
            label_file.close()
            write_checksum(sums_file, _sha256_file(Path(label_file.name)), f"{split}.txt")

    manifest = {
        "spec": spec,
        "counts": dict(splits),
        "label_files": {split: f"{split}.txt" for split in splits},
        "checksums": {
            "file": CHECKSUMS_NAME,
            "sha256": checksums_digest.hexdigest(),
        },
        "fonts": [dict(f.to_dict(), samples=n) for f, n in zip(fonts, font_counts)],
        "environment": _environment(),
    }
    (dataset_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
        newline="\n",
    )


@contextlib.contextmanager
def _results(
    job: _Job, tasks: Iterator[tuple[str, int]], total: int, workers: int
) -> Iterator[Iterator[_Written]]:
    """Results in task order: in this process for one worker, else from a process pool.

    A context manager so that, on error, queued work is cancelled and the workers have exited
    (and stopped writing) before the caller removes the partial directory.
    """
    if workers == 1:
        yield map(_SampleWriter(job), tasks)
        return
    # spawn, not fork: forking a parent that runs torch/tokenizer threads can deadlock.
    # ProcessPoolExecutor rather than multiprocessing.Pool: a worker that dies (OOM kill, failed
    # start) raises BrokenProcessPool instead of hanging the parent for ever.
    executor = concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(job,)
    )
    try:
        yield executor.map(_write_in_worker, tasks, chunksize=max(1, min(64, total // (workers * 8))))
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _open_text(path: Path) -> io.TextIOWrapper:
    return open(path, "w", encoding="utf-8", newline="\n")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _environment() -> dict[str, str | None]:
    """Library versions that shape the rendered bytes (provenance only; not compared)."""
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "pillow": version("pillow"),
        "raqm": features.version("raqm"),
        "freetype": features.version("freetype2"),
        "numpy": np.__version__,
        "pythainlp": version("pythainlp"),
    }
