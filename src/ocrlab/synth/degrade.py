"""Image degradations that make clean renders look scanned, photographed or faxed.

Works on images of any size (text lines now, whole document pages later). A
:class:`DegradationConfig` holds, for each degradation, the probability of applying it
(``<name>_p``) and the range its strength is drawn from; a :class:`Degrader` applies them in a
fixed, physically plausible order: paper background, brightness/contrast, rotation,
perspective, gaussian blur, defocus (disk) blur, motion blur, down-then-up scaling, gaussian noise, salt-and-pepper
noise, JPEG re-compression.

``Degrader(config)(image, rng)`` is a pure function of the image and the generator's state.
Each stage draws from its own child generator (seeded from ``rng`` up front), so turning one
stage on or off does not change the random draws of the others: ablations stay comparable.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageFilter

# Order matters: it is the order in which Degrader applies them.
DEGRADATIONS: tuple[str, ...] = (
    "background",
    "brightness_contrast",
    "rotation",
    "perspective",
    "gaussian_blur",
    "defocus",
    "motion_blur",
    "downscale",
    "gaussian_noise",
    "salt_pepper",
    "jpeg",
)

_PRESETS = ("default", "none")

Range = tuple[float, float]


@dataclass(frozen=True)
class DegradationConfig:
    """Probability (``*_p``) and strength range (lo, hi) of each degradation.

    Defaults suit text-line crops 32-64 px high; all strengths are relative or small enough to
    suit document pages too.
    """

    # Paper: multiply the image by a light tint, a gradient or a blotchy texture.
    background_p: float = 0.5
    background_darkness: Range = (0.02, 0.15)  # how far the paper is below white, 0..1
    # out = (x - mean) * contrast + mean + brightness * 255
    brightness_contrast_p: float = 0.5
    brightness: Range = (-0.08, 0.08)
    contrast: Range = (0.7, 1.15)
    # Rotation enlarges the canvas (expand) so that the ends of a long line are not cut off.
    rotation_p: float = 0.3
    rotation_degrees: Range = (-1.5, 1.5)
    # Each corner moves inwards by up to this fraction of the width/height.
    perspective_p: float = 0.2
    perspective_strength: Range = (0.005, 0.03)
    gaussian_blur_p: float = 0.3
    gaussian_blur_radius: Range = (0.3, 1.0)
    # A camera out of focus: a uniform disk kernel (flatter than a gaussian, rings at edges).
    defocus_p: float = 0.05
    defocus_radius: Range = (1.0, 2.5)  # pixels
    motion_blur_p: float = 0.1
    motion_blur_length: Range = (1.5, 4.0)  # pixels
    downscale_p: float = 0.2
    downscale_factor: Range = (0.5, 0.9)
    gaussian_noise_p: float = 0.3
    gaussian_noise_sigma: Range = (2.0, 10.0)  # in 0..255 units
    salt_pepper_p: float = 0.1
    salt_pepper_amount: Range = (0.001, 0.01)  # fraction of pixels
    jpeg_p: float = 0.3
    jpeg_quality: Range = (30, 90)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_p"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                    raise ValueError(f"degradation {f.name}={value!r}: a probability must be in [0, 1]")
                continue
            if not (isinstance(value, (tuple, list)) and len(value) == 2):
                raise ValueError(f"degradation {f.name}={value!r}: expected a range [lo, hi]")
            lo, hi = value
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)) or lo > hi:
                raise ValueError(f"degradation {f.name}={value!r}: expected numbers with lo <= hi")
            # Lists from YAML/JSON become tuples so that configs compare and hash as values.
            object.__setattr__(self, f.name, (lo, hi))
        if self.downscale_factor[0] <= 0 or self.downscale_factor[1] > 1:
            raise ValueError(f"degradation downscale_factor={self.downscale_factor}: must lie in (0, 1]")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(f"degradation jpeg_quality={self.jpeg_quality}: must lie in [1, 100]")
        if min(self.gaussian_blur_radius + self.defocus_radius + self.motion_blur_length
               + self.gaussian_noise_sigma) < 0:
            raise ValueError("degradation blur radius/length and noise sigma must be >= 0")

    @classmethod
    def none(cls) -> DegradationConfig:
        """Clean images: every probability 0."""
        return cls(**{name + "_p": 0.0 for name in DEGRADATIONS})

    @classmethod
    def allowed_keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DegradationConfig:
        """Build from a (Hydra/JSON) mapping: the given keys override a preset.

        The optional key ``preset`` picks the base: ``"default"`` (the dataclass defaults, used
        when absent) or ``"none"`` (everything off, so ``{"preset": "none", "jpeg_p": 1.0}``
        means JPEG only). Unknown keys raise ``ValueError`` naming the key and the allowed keys.
        """
        d = dict(d)
        preset = d.pop("preset", "default")
        if preset not in _PRESETS:
            raise ValueError(f"degradation preset {preset!r} is unknown; expected one of {list(_PRESETS)}")
        allowed = cls.allowed_keys()
        unknown = sorted(k for k in d if k not in allowed)
        if unknown:
            raise ValueError(
                f"unknown degradation key(s) {unknown}; allowed keys: ['preset', {', '.join(map(repr, allowed))}]"
            )
        base = cls.none() if preset == "none" else cls()
        return dataclasses.replace(base, **d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, ranges as lists (the inverse of :meth:`from_dict`)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


class Degrader:
    """Applies a :class:`DegradationConfig` to RGB or grayscale PIL images."""

    def __init__(self, config: DegradationConfig | None = None):
        self.config = config if config is not None else DegradationConfig()
        self._stages: tuple[tuple[str, Callable[[Image.Image, np.random.Generator], Image.Image]], ...] = (
            tuple((name, getattr(self, "_" + name)) for name in DEGRADATIONS)
        )

    def __repr__(self) -> str:
        return f"Degrader({self.config!r})"

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        # One child seed per stage, drawn whether the stage runs or not (see module docstring).
        stage_seeds = rng.integers(0, 2**63, size=len(self._stages))
        for (name, apply), seed in zip(self._stages, stage_seeds):
            stage_rng = np.random.default_rng(int(seed))
            if stage_rng.random() < getattr(self.config, name + "_p"):
                image = apply(image, stage_rng)
        return image

    def apply(self, name: str, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        """Apply the one stage ``name`` (of :data:`DEGRADATIONS`) to an RGB or L image, whatever its
        probability, with the config's strength range: for callers that choose and order the
        stages themselves (the text-line training augmentation)."""
        if name not in DEGRADATIONS:
            raise ValueError(f"unknown degradation {name!r}; expected one of {list(DEGRADATIONS)}")
        return getattr(self, "_" + name)(image, rng)

    # -- stages: each takes and returns a PIL image of the same mode ----------------------
    def _background(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        h, w = image.height, image.width
        darkness = rng.uniform(*self.config.background_darkness)
        # A warm/cool tint: channels darkened by slightly different amounts.
        tint = 1.0 - darkness * rng.uniform(0.6, 1.0, size=3)
        kind = rng.integers(3)
        if kind == 0:  # flat tint
            field = Image.new("L", (w, h), 255)
        elif kind == 1:  # linear gradient from white to the tint in a random direction
            angle = rng.uniform(0, 2 * np.pi)
            t = (np.arange(w, dtype=np.float32) * np.cos(angle) / w)[None, :] + (
                np.arange(h, dtype=np.float32) * np.sin(angle) / h
            )[:, None]
            t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
            field = Image.fromarray((t * 255.0 + 0.5).astype(np.uint8))
        else:  # blotchy texture: a coarse random field, smoothly upsampled, plus fine grain
            coarse = rng.integers(0, 256, size=(max(2, h // 16), max(2, w // 16)), dtype=np.uint8)
            smooth = np.asarray(
                Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC), dtype=np.int16
            )
            grain = rng.integers(-40, 41, size=(h, w), dtype=np.int16)
            field = Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8))
        # Field 0 -> white paper, 255 -> the full tint; one lookup table per channel.
        levels = np.arange(256) / 255.0
        lut = np.concatenate([255.0 * (1.0 - levels * (1.0 - c)) for c in tint])
        paper = field.convert("RGB").point(np.clip(lut + 0.5, 0, 255).astype(np.uint8).tolist())
        # Multiply blend: dark ink stays dark, light areas take the paper's colour.
        return ImageChops.multiply(image, paper.convert(image.mode))

    def _brightness_contrast(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        contrast = rng.uniform(*self.config.contrast)
        brightness = rng.uniform(*self.config.brightness) * 255.0
        mean = float(np.asarray(image).mean())
        # A lookup table applied by PIL: much cheaper than float arithmetic on every pixel.
        lut = np.clip((np.arange(256) - mean) * contrast + mean + brightness + 0.5, 0, 255).astype(np.uint8)
        return image.point(lut.tolist() * len(image.getbands()))

    def _rotation(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        angle = rng.uniform(*self.config.rotation_degrees)
        # expand=True so that the ends of a long line are not cut off.
        return image.rotate(
            angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=border_colour(image)
        )

    def _perspective(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        strength = rng.uniform(*self.config.perspective_strength)
        # Corners move inwards only, so the content stays inside the frame.
        dx = rng.uniform(0, strength, size=4) * w
        dy = rng.uniform(0, strength, size=4) * h
        src = [(0, 0), (w, 0), (w, h), (0, h)]
        dst = [(dx[0], dy[0]), (w - dx[1], dy[1]), (w - dx[2], h - dy[2]), (dx[3], h - dy[3])]
        coeffs = _perspective_coefficients(dst, src)
        return image.transform(
            (w, h),
            Image.Transform.PERSPECTIVE,
            coeffs,
            Image.Resampling.BILINEAR,
            fillcolor=border_colour(image),
        )

    def _gaussian_blur(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        return image.filter(ImageFilter.GaussianBlur(rng.uniform(*self.config.gaussian_blur_radius)))

    def _defocus(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        radius = rng.uniform(*self.config.defocus_radius)
        r = int(np.ceil(radius))
        offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy * dy + dx * dx <= radius**2]
        return _mean_of_shifts(image, offsets, r)

    def _motion_blur(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        length = rng.uniform(*self.config.motion_blur_length)
        angle = rng.uniform(0, np.pi)
        steps = max(2, int(np.ceil(length)) + 1)
        offsets = {
            (round(t * np.sin(angle)), round(t * np.cos(angle)))
            for t in np.linspace(-length / 2, length / 2, steps)
        }
        return _mean_of_shifts(image, sorted(offsets), int(np.ceil(length / 2)) + 1)

    def _downscale(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        factor = rng.uniform(*self.config.downscale_factor)
        w, h = image.size
        small = (max(1, round(w * factor)), max(1, round(h * factor)))
        filters = (Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)
        down, up = (filters[i] for i in rng.integers(len(filters), size=2))
        return image.resize(small, down).resize((w, h), up)

    def _gaussian_noise(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        sigma = rng.uniform(*self.config.gaussian_noise_sigma) / 255.0
        x = _to_float(image)
        return _from_float(x + rng.standard_normal(x.shape, dtype=np.float32) * sigma, image.mode)

    def _salt_pepper(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        amount = rng.uniform(*self.config.salt_pepper_amount)
        x = np.array(image)
        hit = rng.random(x.shape[:2]) < amount
        # Scanner specks are dark more often than bright.
        values = np.where(rng.random(int(hit.sum())) < 0.7, 0, 255).astype(np.uint8)
        x[hit] = values[:, None] if x.ndim == 3 else values
        return Image.fromarray(x, mode=image.mode)

    def _jpeg(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        lo, hi = self.config.jpeg_quality
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=int(rng.integers(int(lo), int(hi) + 1)))
        buf.seek(0)
        with Image.open(buf) as jpeg:
            return jpeg.convert(image.mode)


def _mean_of_shifts(image: Image.Image, offsets, pad: int) -> Image.Image:
    """The mean of the image shifted by each (dy, dx): a blur with that kernel, edges repeated."""
    x = _to_float(image)
    padded = np.pad(x, ((pad, pad), (pad, pad)) + ((0, 0),) * (x.ndim - 2), mode="edge")
    h, w = x.shape[:2]
    acc = np.zeros_like(x)
    for oy, ox in offsets:
        acc += padded[pad + oy : pad + oy + h, pad + ox : pad + ox + w]
    return _from_float(acc / len(offsets), image.mode)


def _to_float(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) * (1.0 / 255.0)


def _from_float(x: np.ndarray, mode: str) -> Image.Image:
    return Image.fromarray(np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8), mode=mode)


def border_colour(image: Image.Image) -> int | tuple[int, ...]:
    """Median colour of the outermost pixels: the fill for areas a transform uncovers."""
    x = np.asarray(image)
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    median = np.median(border, axis=0)
    return int(median) if image.mode == "L" else tuple(int(v) for v in median)


def _perspective_coefficients(
    output_points: list[tuple[float, float]], input_points: list[tuple[float, float]]
) -> tuple[float, ...]:
    """The 8 coefficients PIL's PERSPECTIVE transform needs to send output_points to input_points."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(output_points, input_points):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    return tuple(float(c) for c in np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs)))
