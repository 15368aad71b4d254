"""Drawing one text line: a face and its fallback font, then the looks of printed text that
are not whole fonts (letter spacing, faux bold, thin or thick strokes, slant, warping) and what
sits next to a line cropped from a page (underlines, table rules, the lines above and below).

:class:`LineStyle` holds, for each effect, the probability of applying it (``<name>_p``) and the
range its strength is drawn from, like :class:`~ocrlab.synth.degrade.DegradationConfig` does for
image degradations (which come after). Each effect draws from its own child generator, seeded
up front, so turning one on or off leaves the draws of the others unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, features

Range = tuple[float, float]
# Effects drawn while rendering, in the order their seeds are drawn.
STYLE_EFFECTS = ("small", "letter_spacing", "bold", "stroke", "shear", "elastic", "underline", "rules", "neighbours")


class RaqmUnavailableError(RuntimeError):
    """Pillow was built without libraqm: Thai cannot be shaped correctly."""


@dataclass(frozen=True)
class LineStyle:
    """Probability (``*_p``) and strength range (lo, hi) of each rendering effect."""

    # Small print: the font size is drawn from this range instead of the dataset's (ink ~12 px).
    small_p: float = 0.15
    small_font_size: Range = (11, 17)
    # Extra space between grapheme clusters, in em (negative: tight).
    letter_spacing_p: float = 0.15
    letter_spacing: Range = (-0.04, 0.25)
    # Faux bold: an outline stroke in the ink colour, as a fraction of the font size.
    bold_p: float = 0.1
    bold_width: Range = (0.02, 0.05)
    # Thinner or thicker strokes (3x3 min/max filter on the ink): photocopies and light prints.
    stroke_p: float = 0.1
    # Slant: horizontal shear (x += shear * (height - y)).
    shear_p: float = 0.15
    shear: Range = (-0.25, 0.25)
    # Elastic warp: a mesh whose corners move by up to this fraction of the font size.
    elastic_p: float = 0.1
    elastic_strength: Range = (0.03, 0.08)
    # A line under the text, crossing descenders and below-vowels.
    underline_p: float = 0.1
    # Table rules: horizontal rules touching the top or bottom of the ink, vertical ones at the ends.
    rules_p: float = 0.1
    # Parts of the lines above and below, cut by the crop.
    neighbours_p: float = 0.15

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_p"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                    raise ValueError(f"line style {f.name}={value!r}: a probability must be in [0, 1]")
                continue
            if not (isinstance(value, (tuple, list)) and len(value) == 2
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                    and value[0] <= value[1]):
                raise ValueError(f"line style {f.name}={value!r}: expected a range [lo, hi] with lo <= hi")
            object.__setattr__(self, f.name, tuple(value))
        if not 4 <= self.small_font_size[0]:
            raise ValueError(f"line style small_font_size={self.small_font_size}: sizes below 4 px draw nothing")

    @classmethod
    def none(cls) -> LineStyle:
        """Plain text: every effect off."""
        return cls(**{name + "_p": 0.0 for name in STYLE_EFFECTS})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> LineStyle:
        """The given keys override a preset (``preset: default`` or ``none``); unknown keys raise."""
        d = dict(d or {})
        preset = d.pop("preset", "default")
        if preset not in ("default", "none"):
            raise ValueError(f"line style preset {preset!r} is unknown; expected 'default' or 'none'")
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(k for k in d if k not in allowed)
        if unknown:
            raise ValueError(f"unknown line style key(s) {unknown}; allowed keys: ['preset', {', '.join(allowed)}]")
        return dataclasses.replace(cls.none() if preset == "none" else cls(), **d)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


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


@functools.lru_cache(maxsize=64)
def _cmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    return frozenset((TTFont(path, lazy=True).getBestCmap() or {}).keys())


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


def clusters(text: str) -> list[str]:
    """Grapheme clusters: a base character with the marks that stack on it (Thai above/below
    vowels and tone marks are combining, category Mn), so spacing never separates a mark."""
    out: list[str] = []
    for ch in text:
        if out and unicodedata.category(ch) in ("Mn", "Me"):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def font_runs(text: str, font_path: str, fallback_path: str | None, split: bool = False) -> list[tuple[str, str]]:
    """(text, font path) runs: clusters the face maps go to the face, the rest to the fallback.
    ``split``: one run per cluster (for letter spacing)."""
    mapped = _cmap(font_path) if fallback_path else None
    runs: list[tuple[str, str]] = []
    for cluster in clusters(text):
        path = font_path if mapped is None or ord(cluster[0]) in mapped else fallback_path
        if runs and runs[-1][1] == path and not split:
            runs[-1] = (runs[-1][0] + cluster, path)
        else:
            runs.append((cluster, path))
    return runs


def render_line(
    text: str,
    font_path: str | os.PathLike[str],
    font_size: int,
    rng: np.random.Generator,
    degrader=None,
    *,
    fallback_path: str | os.PathLike[str] | None = None,
    style: LineStyle | None = None,
    neighbours: Sequence[str] = (),
) -> Image.Image:
    """One RGB line image: ``text`` in the font (characters it lacks in ``fallback_path``), a random
    margin on each side, the ``style`` effects (none when None), then ``degrader``.

    The canvas is the ink box of the runs on a shared baseline (RAQM boxes include stacked marks)
    plus margins of 5-35 % of the font size vertically and 10-60 % horizontally, at least 2 px,
    so no mark touches the border before effects and degradation. ``neighbours``: texts for
    the lines above and below (the ``neighbours`` effect).
    """
    if not text:
        raise ValueError("cannot render an empty line")
    require_raqm()
    style = style or _PLAIN
    seeds = rng.integers(0, 2**63, size=len(STYLE_EFFECTS))
    fx = {name: np.random.default_rng(int(seed)) for name, seed in zip(STYLE_EFFECTS, seeds)}
    on = {name: fx[name].random() < getattr(style, name + "_p") for name in STYLE_EFFECTS}
    font_path, fallback = os.fspath(font_path), os.fspath(fallback_path) if fallback_path else None
    if on["small"]:
        font_size = int(fx["small"].integers(int(style.small_font_size[0]), int(style.small_font_size[1]) + 1))
    spacing = fx["letter_spacing"].uniform(*style.letter_spacing) * font_size if on["letter_spacing"] else 0.0
    stroke = max(1, round(fx["bold"].uniform(*style.bold_width) * font_size)) if on["bold"] else 0
    runs = font_runs(text, font_path, fallback, split=bool(spacing))
    placed, box = _layout(runs, font_size, spacing, stroke)
    margin_left, margin_right = (max(2, round(m)) for m in rng.uniform(0.1, 0.6, size=2) * font_size)
    margin_top, margin_bottom = (max(2, round(m)) for m in rng.uniform(0.05, 0.35, size=2) * font_size)
    ink, paper = _ink_and_paper(rng)
    left, top, right, bottom = box
    size = (right - left + margin_left + margin_right, bottom - top + margin_top + margin_bottom)
    image = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(image)
    origin = (margin_left - left, margin_top - top)  # where the baseline starts
    for x, run, path in placed:
        draw.text((origin[0] + x, origin[1]), run, font=_load_font(path, font_size), fill=ink, anchor="ls",
                  stroke_width=stroke, stroke_fill=ink)
    if on["neighbours"] and neighbours:
        _neighbours(draw, neighbours, font_path, fallback, font_size, origin, box, ink, fx["neighbours"])
    if on["underline"]:
        _underline(draw, origin, box, font_size, ink, fx["underline"])
    if on["rules"]:
        _rules(draw, image.size, origin, box, font_size, ink, fx["rules"])
    if on["stroke"]:  # on faux bold only thinner: thicker still fills the counters of small text
        image = _stroke(image, ink, paper, fx["stroke"], thinner_only=bool(stroke))
    if on["shear"]:
        image = _shear(image, fx["shear"].uniform(*style.shear), paper)
    if on["elastic"]:
        image = _elastic(image, fx["elastic"].uniform(*style.elastic_strength) * font_size, paper, fx["elastic"])
    return degrader(image, rng) if degrader is not None else image


_PLAIN = LineStyle.none()


def _layout(runs, font_size: int, spacing: float, stroke: int) -> tuple[list[tuple[float, str, str]], tuple]:
    """Pen x of each run on a shared baseline, and the ink box (left, top, right, bottom)
    relative to the baseline start."""
    placed, x = [], 0.0
    left = top = float("inf")
    right = bottom = float("-inf")
    for run, path in runs:
        font = _load_font(path, font_size)
        l, t, r, b = font.getbbox(run, anchor="ls", stroke_width=stroke)
        placed.append((x, run, path))
        left, top, right, bottom = min(left, x + l), min(top, t), max(right, x + r), max(bottom, b)
        x += font.getlength(run) + spacing
    return placed, (int(np.floor(left)), int(top), int(np.ceil(right)), int(bottom))


def _neighbours(draw, texts, font_path, fallback, font_size, origin, box, ink, rng) -> None:
    """The lines above and below, a small gap away: only their parts inside the canvas show."""
    height = box[3] - box[1]
    for direction in (-1, 1):
        if rng.random() < 0.3:
            continue
        gap = rng.uniform(0.0, 0.3) * font_size
        y = origin[1] + direction * (height + gap)
        x = origin[0] + rng.uniform(-0.5, 0.5) * font_size
        text = texts[int(rng.integers(len(texts)))]
        for dx, run, path in _layout(font_runs(text, font_path, fallback), font_size, 0.0, 0)[0]:
            draw.text((x + dx, y), run, font=_load_font(path, font_size), fill=ink, anchor="ls")


def _underline(draw, origin, box, font_size, ink, rng) -> None:
    y = origin[1] + rng.uniform(0.05, 0.3) * font_size
    width = max(1, round(rng.uniform(0.04, 0.08) * font_size))
    x0 = origin[0] + box[0] - rng.uniform(0, 0.3) * font_size
    x1 = origin[0] + box[2] + rng.uniform(0, 0.3) * font_size
    draw.line([(x0, y), (x1, y)], fill=ink, width=width)


def _rules(draw, size, origin, box, font_size, ink, rng) -> None:
    width = max(1, round(rng.uniform(0.03, 0.07) * font_size))
    w, h = size
    if rng.random() < 0.7:  # a cell border above or below, touching the tallest or lowest marks
        y = origin[1] + (box[1] if rng.random() < 0.5 else box[3]) + rng.uniform(-0.05, 0.1) * font_size
        draw.line([(0, y), (w, y)], fill=ink, width=width)
    for x in (rng.uniform(0, origin[0] + box[0]), rng.uniform(origin[0] + box[2], w)):
        if rng.random() < 0.4:  # column separators at the ends
            draw.line([(x, 0), (x, h)], fill=ink, width=width)


def _stroke(image: Image.Image, ink, paper, rng, thinner_only: bool = False) -> Image.Image:
    """Thicker or thinner strokes: grow the darker (ink) side or the lighter one by one pixel."""
    dark_ink = sum(ink) < sum(paper)
    thicker = rng.random() < 0.5 and not thinner_only
    grow_dark = thicker == dark_ink
    return image.filter(ImageFilter.MinFilter(3) if grow_dark else ImageFilter.MaxFilter(3))


def _shear(image: Image.Image, shear: float, paper) -> Image.Image:
    w, h = image.size
    extra = int(np.ceil(abs(shear) * h))
    # Output (x, y) samples input (x + shear * y - offset, y): the line leans by `shear`.
    offset = extra if shear > 0 else 0
    return image.transform((w + extra, h), Image.Transform.AFFINE, (1, shear, -offset, 0, 1, 0),
                           Image.Resampling.BILINEAR, fillcolor=paper)


def _elastic(image: Image.Image, strength: float, paper, rng) -> Image.Image:
    """Smooth local warping: a coarse mesh of quads whose source corners move by up to ``strength`` px."""
    w, h = image.size
    cell = max(8, h // 2)
    xs = np.linspace(0, w, max(2, w // cell + 1))
    ys = np.linspace(0, h, 3)
    jitter = rng.uniform(-strength, strength, size=(len(ys), len(xs), 2))
    jitter[[0, -1], :, 1] = 0  # keep the top and bottom edges in place: no ink leaves the canvas
    src = np.stack(np.meshgrid(xs, ys), axis=-1) + jitter
    mesh = []
    for i in range(len(ys) - 1):
        for j in range(len(xs) - 1):
            box = (int(xs[j]), int(ys[i]), int(xs[j + 1]), int(ys[i + 1]))
            quad = (*src[i, j], *src[i + 1, j], *src[i + 1, j + 1], *src[i, j + 1])
            mesh.append((box, tuple(float(v) for v in quad)))
    return image.transform((w, h), Image.Transform.MESH, mesh, Image.Resampling.BILINEAR, fillcolor=paper)
