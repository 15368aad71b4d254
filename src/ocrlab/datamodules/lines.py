"""Text-line images as tensors: loading, height-normalized resize, padded batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ocrlab.datamodules.labels import DatasetError, LineRecord
from ocrlab.text.charset import Charset


@dataclass(frozen=True)
class LineImageSpec:
    """How a line image becomes a tensor: fixed height, width by aspect ratio within bounds."""

    height: int = 32
    max_width: int = 800
    min_width: int = 16
    channels: int = 3

    def target_width(self, width: int, height: int) -> int:
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
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DatasetError(f"{where}image {path} is corrupt or unreadable (cannot identify/decode it: {e})") from e


def image_to_tensor(image: Image.Image, spec: LineImageSpec) -> torch.Tensor:
    """Resize to ``spec.height`` keeping the aspect ratio; scale to [-1, 1]; ``(C, H, W)``."""
    if image.width == 0 or image.height == 0:
        raise DatasetError(f"image of size {image.size} is empty")
    image = image.convert("RGB" if spec.channels == 3 else "L")
    width = spec.target_width(image.width, image.height)
    image = image.resize((width, spec.height), Image.Resampling.BILINEAR)
    arr = np.asarray(image, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def probe_image(rec: LineRecord, full: bool = False) -> tuple[int, int]:
    """(width, height) of a record's image, checking it exists and has a readable header;
    ``full`` decodes all pixel data too (catches truncation up front, ~10x slower)."""
    if not rec.image_path.is_file():
        raise DatasetError(f"{rec.source}: image {rec.image_path} does not exist (missing image)")
    if rec.image_path.stat().st_size == 0:
        raise DatasetError(f"{rec.source}: image {rec.image_path} is empty (0 bytes)")
    if full:
        size = open_image(rec.image_path, rec.source).size
    else:
        try:
            with Image.open(rec.image_path) as im:
                size = im.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise DatasetError(f"{rec.source}: image {rec.image_path} is corrupt or unreadable "
                               f"(cannot identify it: {e})") from e
    if size[0] == 0 or size[1] == 0:
        raise DatasetError(f"{rec.source}: image {rec.image_path} has size {size}")
    return size


class LineDataset(Dataset):
    """Records -> ``{"image", "label", "target", "path"}`` items; labels encoded with the charset."""

    def __init__(self, records: Sequence[LineRecord], charset: Charset, spec: LineImageSpec,
                 widths: Sequence[int] | None = None):
        self.records = list(records)
        self.charset = charset
        self.spec = spec
        # resized widths, used by the width-bucketing sampler
        self.widths = list(widths) if widths is not None else [spec.max_width] * len(self.records)
        self.targets = [charset.encode(r.label, r.source) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        rec = self.records[index]
        image = open_image(rec.image_path, rec.source)
        return {
            "image": image_to_tensor(image, self.spec),
            "label": rec.label,
            "target": self.targets[index],
            "path": str(rec.image_path),
        }


def collate_lines(items: list[dict], pad_to_multiple: int = 4) -> dict:
    """Pad images on the right to the widest in the batch; concatenate CTC targets."""
    widths = torch.tensor([it["image"].shape[-1] for it in items])
    max_w = int(widths.max())
    max_w = -(-max_w // pad_to_multiple) * pad_to_multiple
    c, h = items[0]["image"].shape[:2]
    images = torch.zeros(len(items), c, h, max_w)
    for i, it in enumerate(items):
        images[i, :, :, : it["image"].shape[-1]] = it["image"]
    targets = [torch.tensor(it["target"], dtype=torch.long) for it in items]
    return {
        "images": images,
        "widths": widths,
        "labels": [it["label"] for it in items],
        "targets": torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long),
        "target_lengths": torch.tensor([len(t) for t in targets], dtype=torch.long),
        "paths": [it["path"] for it in items],
    }
