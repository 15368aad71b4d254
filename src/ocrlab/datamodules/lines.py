"""Text-line datasets: image checks at setup, records -> tensors, padded batches."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ocrlab.datamodules.augment import LineAugmenter
from ocrlab.datamodules.labels import LineRecord
from ocrlab.datamodules.line_images import LineImageSpec, image_to_tensor, open_image
from ocrlab.errors import DatasetError
from ocrlab.text.charset import Charset


def probe_image(rec: LineRecord, full: bool = False) -> tuple[int, int]:
    """(width, height) of a record's image, checking it exists and is not corrupt or truncated.

    The default reads only the header and the last bytes: a PNG must end with its IEND chunk, a
    JPEG with its EOI marker (trailing zero bytes allowed); another format, or data after the
    end marker, is decoded to be sure. ``full`` decodes every image (~10x slower; also catches
    corrupt pixel data inside a complete file).
    """
    path = rec.image_path
    if path.is_dir():
        raise DatasetError(f"{rec.source}: image {path} is a directory (expected an image file)")
    if not path.is_file():
        hint = " (a Windows path? use '/' in label files)" if "\\" in str(path) else ""
        raise DatasetError(f"{rec.source}: image {path} does not exist (missing image){hint}")
    nbytes = path.stat().st_size
    if nbytes == 0:
        raise DatasetError(f"{rec.source}: image {path} is empty (0 bytes)")
    if full:
        size = open_image(path, rec.source).size
    else:
        try:
            with Image.open(path) as im:
                size, fmt = im.size, im.format
            with open(path, "rb") as f:
                f.seek(max(0, nbytes - 4096))
                tail = f.read().rstrip(b"\x00")
        except PermissionError as e:
            raise DatasetError(f"{rec.source}: image {path} cannot be read (permission denied)") from e
        except Image.DecompressionBombError as e:
            raise DatasetError(f"{rec.source}: image {path} is too large to be a text line ({e})") from e
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise DatasetError(f"{rec.source}: image {path} is corrupt or unreadable "
                               f"(cannot identify it: {e})") from e
        end = {"PNG": (b"IEND\xaeB`\x82", "its IEND chunk"), "JPEG": (b"\xff\xd9", "the EOI marker FF D9"),
               "MPO": (b"\xff\xd9", "the EOI marker FF D9")}.get(fmt or "")
        if end is None or not tail.endswith(end[0]):
            # a format whose end we do not check, or bytes after the end marker: decode it
            try:
                size = open_image(path, rec.source).size
            except DatasetError as e:
                if end is None:
                    raise
                raise DatasetError(f"{rec.source}: image {path} is corrupt or truncated: a {fmt} file ends with "
                                   f"{end[1]}, this one does not, and decoding it fails ({e.__cause__})") from e
    if size[0] == 0 or size[1] == 0:
        raise DatasetError(f"{rec.source}: image {path} has size {size}")
    return size


class LineDataset(Dataset):
    """Records -> ``{"image", "label", "target", "path"}`` items; labels encoded with the charset.

    With ``augment`` (the training split's), an item depends on the epoch: the key is
    ``(epoch, index)`` (what the loader's batch sampler gives when :attr:`per_epoch_items`), and a
    plain ``index`` is epoch 0's item.
    """

    def __init__(self, records: Sequence[LineRecord], charset: Charset, spec: LineImageSpec,
                 widths: Sequence[int] | None = None, augment: LineAugmenter | None = None):
        self.records = list(records)
        self.charset = charset
        self.spec = spec
        self.augment = augment
        # resized widths: the length key batches are grouped by
        self.lengths = list(widths) if widths is not None else [spec.max_width] * len(self.records)
        self.targets = [charset.encode(r.label, r.source) for r in self.records]

    @property
    def per_epoch_items(self) -> bool:
        """Whether items differ per epoch (augmented): the loader then keys them ``(epoch, index)``."""
        return self.augment is not None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rec = self.records[index]
        image = open_image(rec.image_path, rec.source)
        if self.augment is not None:
            # in the model's mode first: the transforms' fill colours and noise are of that mode
            image = self.augment(image.convert(self.spec.mode), epoch, index)
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
