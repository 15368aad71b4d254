"""Train-time augmentation of text-line images (``data.augment``), shared by every line recognizer.

Off by default. When on, each training item's image goes through these transforms, in this order,
each applied with its probability (``<name>_p``) and a strength drawn from its range:

* ``stroke``: strokes one filter step thicker or thinner (PIL MinFilter / MaxFilter of
  ``stroke_size`` pixels of the source image; thicker or thinner with equal chance);
* ``rotation``: a slight rotation (``rotation_degrees``); the canvas grows so that the ends of a
  long line stay inside, as in an axis-aligned crop of a skewed line;
* ``shear``: a horizontal slant (``shear_degrees``, italic-like); the canvas widens to keep the ink;
* ``border``: each side padded (with the border colour) or cropped by its own fraction of the line
  height drawn from ``border`` (negative: crop, positive: pad), as a detector's box varies;
* ``downscale``: ink-height / resolution jitter: down to ``downscale_factor`` of the size and back;
* ``gaussian_blur`` (radius ``gaussian_blur_radius`` px);
* ``brightness_contrast`` (``brightness`` as a fraction of white, ``contrast`` a factor);
* ``gaussian_noise`` (sigma ``gaussian_noise_sigma`` in 0..255 units);
* ``jpeg``: re-encoding at a quality drawn from ``jpeg_quality``.

The stages shared with the synthetic generator (rotation, downscale, blur, brightness/contrast,
noise, JPEG) are :class:`ocrlab.synth.degrade.Degrader`'s own. The result keeps the image's mode;
the model's input spec then resizes it to its height as any line (only the geometric transforms
change the aspect ratio, by a few percent at the default strengths).

Reproducible and resume-exact: the draws for item ``index`` in ``epoch`` come from a generator
seeded with (data seed, epoch, index) alone, never a worker's or the global RNG, so a resumed run
sees the images an uninterrupted one saw, with any number of loader workers. Each transform draws
from its own child generator: changing one transform's settings leaves the others' draws alone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from ocrlab.errors import ConfigError
from ocrlab.synth.degrade import DegradationConfig, Degrader, border_colour

# Order matters: it is the order in which they are applied (the ink, the crop's geometry, then
# the capture: resolution, focus, exposure, sensor noise, compression).
TRANSFORMS: tuple[str, ...] = (
    "stroke",
    "rotation",
    "shear",
    "border",
    "downscale",
    "gaussian_blur",
    "brightness_contrast",
    "gaussian_noise",
    "jpeg",
)
# the transforms that are Degrader stages, and their range fields (same names in both configs)
_DEGRADER_STAGES = ("rotation", "downscale", "gaussian_blur", "brightness_contrast", "gaussian_noise", "jpeg")
_DEGRADER_RANGES = ("rotation_degrees", "downscale_factor", "gaussian_blur_radius", "brightness", "contrast",
                    "gaussian_noise_sigma", "jpeg_quality")
# a constant mixed into every item's seed: this stream is not the one of another user of the seed
_STREAM = 0x6C696E65

Range = tuple[float, float]

# field -> (lowest, highest, what is expected): the bounds a strength range must lie in
_BOUNDS: dict[str, tuple[float, float, str]] = {
    "border": (-0.25, 1.0, "fractions of the line height in [-0.25, 1] (negative crops, positive pads)"),
    "rotation_degrees": (-45.0, 45.0, "degrees in [-45, 45]"),
    "shear_degrees": (-45.0, 45.0, "degrees in [-45, 45]"),
    "downscale_factor": (0.05, 1.0, "factors in [0.05, 1]"),
    "gaussian_blur_radius": (0.0, 20.0, "pixels in [0, 20]"),
    "brightness": (-1.0, 1.0, "fractions of white in [-1, 1]"),
    "contrast": (0.0, 10.0, "factors in [0, 10]"),
    "gaussian_noise_sigma": (0.0, 255.0, "0..255 units in [0, 255]"),
    "jpeg_quality": (1, 100, "qualities in [1, 100]"),
}


@dataclass(frozen=True)
class AugmentConfig:
    """Probability (``*_p``) and strength of each transform; the defaults are what
    ``data.augment.enabled=true`` applies (mild: a clean line stays easy to read)."""

    stroke_p: float = 0.2
    stroke_size: int = 3  # MinFilter/MaxFilter size: odd, >= 3
    rotation_p: float = 0.3
    rotation_degrees: Range = (-1.5, 1.5)
    shear_p: float = 0.3
    shear_degrees: Range = (-6.0, 6.0)
    border_p: float = 0.5
    border: Range = (-0.03, 0.12)
    downscale_p: float = 0.3
    downscale_factor: Range = (0.5, 0.9)
    gaussian_blur_p: float = 0.3
    gaussian_blur_radius: Range = (0.3, 1.0)
    brightness_contrast_p: float = 0.5
    brightness: Range = (-0.1, 0.1)
    contrast: Range = (0.6, 1.2)
    gaussian_noise_p: float = 0.3
    gaussian_noise_sigma: Range = (2.0, 10.0)
    jpeg_p: float = 0.3
    jpeg_quality: Range = (30, 90)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            key = f"data.augment.{f.name}"
            if f.name.endswith("_p"):
                if not _is_number(value) or not 0 <= value <= 1:
                    raise ConfigError(f"{key}={value!r}: expected a probability in [0, 1]")
            elif f.name == "stroke_size":
                if not isinstance(value, int) or isinstance(value, bool) or value < 3 or value % 2 == 0:
                    raise ConfigError(f"{key}={value!r}: expected an odd filter size >= 3 (pixels)")
            else:
                if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
                    raise ConfigError(f"{key}={value!r}: expected a range [lo, hi]")
                lo, hi = value
                low, high, what = _BOUNDS[f.name]
                if not (_is_number(lo) and _is_number(hi)) or not low <= lo <= hi <= high:
                    raise ConfigError(f"{key}={list(value)!r}: expected [lo, hi] with lo <= hi, {what}")
                # YAML lists (ListConfig) become tuples: configs compare and hash as values
                object.__setattr__(self, f.name, (lo, hi))

    @classmethod
    def from_setting(cls, value: Any) -> AugmentConfig | None:
        """``data.augment`` -> the config, or None when off: null or false is off, true is the
        defaults; a mapping overrides the defaults and is on unless its ``enabled`` is false."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if not isinstance(value, Mapping):
            raise ConfigError(f"data.augment must be null, true/false or a mapping of transform settings, got "
                              f"{value!r}")
        settings = dict(value)
        enabled = settings.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"data.augment.enabled must be true or false, got {enabled!r}")
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(k for k in settings if k not in allowed)
        if unknown:
            raise ConfigError(f"unknown data.augment key(s) {unknown}; allowed: ['enabled', "
                              f"{', '.join(map(repr, allowed))}]")
        config = cls(**settings)  # checked even when off: a typo fails before it is turned on
        return config if enabled else None


class LineAugmenter:
    """``augmenter(image, epoch, index)``: the augmented image of item ``index`` in ``epoch``,
    a pure function of the image, (seed, epoch, index) and the config."""

    def __init__(self, config: AugmentConfig, seed: int):
        self.config = config
        self.seed = seed
        self._degrader = Degrader(dataclasses.replace(
            DegradationConfig.none(), **{name: getattr(config, name) for name in _DEGRADER_RANGES}))

    def __repr__(self) -> str:
        return f"LineAugmenter({self.config!r}, seed={self.seed})"

    def __call__(self, image: Image.Image, epoch: int, index: int) -> Image.Image:
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        # SeedSequence takes non-negative integers only; a negative seed maps to its two's complement
        seeds = np.random.SeedSequence([_STREAM, self.seed % 2**64, int(epoch), int(index)]).spawn(len(TRANSFORMS))
        for name, seed in zip(TRANSFORMS, seeds):
            p = getattr(self.config, name + "_p")
            if p == 0:
                continue
            rng = np.random.default_rng(seed)
            if rng.random() < p:
                image = self.apply(name, image, rng)
        return image

    def apply(self, name: str, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        """Apply transform ``name`` with a strength drawn from ``rng`` (whatever its probability)."""
        if name in _DEGRADER_STAGES:
            return self._degrader.apply(name, image, rng)
        return getattr(self, "_" + name)(image, rng)

    def _stroke(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        # on dark ink over light paper the minimum spreads the ink (thicker), the maximum erodes it
        thicker = rng.random() < 0.5
        size = self.config.stroke_size
        return image.filter(ImageFilter.MinFilter(size) if thicker else ImageFilter.MaxFilter(size))

    def _shear(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        t = math.tan(math.radians(rng.uniform(*self.config.shear_degrees)))
        # output (x, y) reads input (x + t*y - shift, y): the canvas widens by |t|*h and shifts so
        # that every row's ink stays inside it
        extra = abs(t) * h
        return image.transform((w + math.ceil(extra), h), Image.Transform.AFFINE,
                               (1.0, t, -max(t, 0.0) * h, 0.0, 1.0, 0.0), Image.Resampling.BILINEAR,
                               fillcolor=border_colour(image))

    def _border(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        left, top, right, bottom = (round(f * h) for f in rng.uniform(*self.config.border, size=4))
        # a crop never takes more than the image has (a tiny image keeps at least one pixel)
        left, right = (max(d, -((w - 1) // 2)) for d in (left, right))
        top, bottom = (max(d, -((h - 1) // 2)) for d in (top, bottom))
        canvas = Image.new(image.mode, (w + left + right, h + top + bottom), border_colour(image))
        canvas.paste(image, (left, top))  # a negative offset crops that side
        return canvas


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
