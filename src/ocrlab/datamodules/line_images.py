"""How a text-line image becomes a model input: open, resize to a fixed height, scale.

A line recognizer's input spec (:class:`LineImageSpec`) is saved with its checkpoints and exports;
with its charset it is what the text-line data module takes from the model (:class:`LineEncoding`).
The model, the data and inference all use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ocrlab.errors import DatasetError


class LineLabels(Protocol):
    """What a text-line data module needs of a recognizer's label space: a CTC model's
    :class:`~ocrlab.text.charset.Charset`, a generative model's tokenizer."""

    name: str

    def unknown_chars(self, text: str) -> list[str]:
        """The characters of ``text`` this label space cannot encode (in first-seen order)."""

    def encode(self, text: str, where: str = "") -> Sequence[int]:
        """``text`` as target ids (``where`` names the sample in errors)."""


@dataclass(frozen=True)
class LineEncoding:
    """What a text-line data module takes from a line recognizer (``OcrModule.data_encoder``): its
    label space (label checks and targets: a charset or a tokenizer) and its input spec (image size)."""

    charset: LineLabels
    spec: LineImageSpec


@dataclass(frozen=True)
class LineImageSpec:
    """How a line image becomes a tensor: fixed height, width by aspect ratio within bounds; or,
    with ``fixed_width``, every line stretched to ``max_width`` (a vision transformer's fixed image
    size, as its Hugging Face image processor resizes)."""

    height: int = 32
    max_width: int = 800
    min_width: int = 16
    channels: int = 3
    fixed_width: bool = False

    @property
    def mode(self) -> str:
        """The PIL mode of the model's input: RGB for 3 channels, L (grayscale) for 1."""
        return "RGB" if self.channels == 3 else "L"

    def target_width(self, width: int, height: int) -> int:
        if self.fixed_width:
            return int(self.max_width)
        w = round(width * self.height / max(height, 1))
        return int(min(max(w, self.min_width), self.max_width))


def open_image(path, source: str = "") -> Image.Image:
    """Open and fully decode an image, or raise a :class:`DatasetError` naming it."""
    where = f"{source}: " if source else ""
    try:
        with Image.open(path) as im:
            im.load()  # decode now: truncated or corrupt data fails here, not in a worker later
            return im.copy()
    except FileNotFoundError as e:
        raise DatasetError(f"{where}image {path} does not exist") from e
    except IsADirectoryError as e:
        raise DatasetError(f"{where}image {path} is a directory (expected an image file)") from e
    except PermissionError as e:
        raise DatasetError(f"{where}image {path} cannot be read (permission denied)") from e
    except Image.DecompressionBombError as e:
        raise DatasetError(f"{where}image {path} is too large to be a text line ({e})") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DatasetError(f"{where}image {path} is corrupt or unreadable (cannot identify/decode it: {e})") from e


def image_to_tensor(image: Image.Image, spec: LineImageSpec) -> torch.Tensor:
    """Resize to ``spec.height`` (width: :meth:`LineImageSpec.target_width`); scale to [-1, 1];
    ``(C, H, W)``."""
    if image.width == 0 or image.height == 0:
        raise DatasetError(f"image of size {image.size} is empty")
    image = image.convert(spec.mode)
    width = spec.target_width(image.width, image.height)
    image = image.resize((width, spec.height), Image.Resampling.BILINEAR)
    arr = np.asarray(image, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


