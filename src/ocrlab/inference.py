"""Inference API: load a checkpoint or an export dir, recognize a list of images.

>>> rec = TextRecognizer.load("logs/train/runs/.../checkpoints/best.ckpt")
>>> rec.recognize(["line1.png", "line2.png"])

Checkpoints and exports carry the charset and the model config, so nothing else is needed.
Loading uses ``torch.load(weights_only=True)``: no arbitrary code runs from a model file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from ocrlab.datamodules.lines import LineImageSpec, collate_lines, image_to_tensor, open_image
from ocrlab.lightning_modules.base import CHECKPOINT_KEY, TextRecognitionModule
from ocrlab.lightning_modules.build import build_model
from ocrlab.text.charset import Charset
from ocrlab.utils.io import atomic_write, atomic_write_json

EXPORT_META = "ocrlab_model.json"
EXPORT_WEIGHTS = "weights.pt"
EXPORT_FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint or export that is missing or not an ocrlab model."""


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (ckpt_path must name a .ckpt file)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unpickling failure means the same to the user
        raise CheckpointError(f"checkpoint {path} cannot be read as a weights-only torch checkpoint: {e}") from e
    if not isinstance(ckpt, dict) or CHECKPOINT_KEY not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"checkpoint {path} is not an ocrlab checkpoint (no '{CHECKPOINT_KEY}' metadata)")
    return ckpt


class TextRecognizer:
    """A trained recognizer in eval mode, with its charset and input spec."""

    def __init__(self, module: TextRecognitionModule, device: str | torch.device = "cpu"):
        self.module = module.eval().to(device)
        self.device = torch.device(device)

    @property
    def charset(self) -> Charset:
        return self.module.charset

    @property
    def input_spec(self) -> LineImageSpec:
        return self.module.input_spec

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> TextRecognizer:
        """A ``.ckpt`` file or an export directory."""
        path = Path(path)
        return cls.from_export(path, device) if path.is_dir() else cls.from_checkpoint(path, device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> TextRecognizer:
        ckpt = load_checkpoint(path)
        meta = ckpt[CHECKPOINT_KEY]
        return cls._build(meta["model_config"], Charset.from_dict(meta["charset"]), ckpt["state_dict"], device)

    @classmethod
    def from_export(cls, directory: str | Path, device: str | torch.device = "cpu") -> TextRecognizer:
        directory = Path(directory)
        meta_path = directory / EXPORT_META
        if not meta_path.is_file():
            raise CheckpointError(f"{directory} is not an ocrlab export: {EXPORT_META} is missing")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != EXPORT_FORMAT:
            raise CheckpointError(f"{meta_path}: export format {meta.get('format')!r}, expected {EXPORT_FORMAT}")
        state = torch.load(directory / EXPORT_WEIGHTS, map_location="cpu", weights_only=True)
        return cls._build(meta["model_config"], Charset.from_dict(meta["charset"]), state, device)

    @classmethod
    def _build(cls, model_config: dict, charset: Charset, state_dict: dict, device) -> TextRecognizer:
        if model_config is None:
            raise CheckpointError("checkpoint has no model config: it was not written by ocrlab's build_model")
        module = build_model(model_config, charset)
        module.load_state_dict(state_dict)
        return cls(module, device)

    def save(self, directory: str | Path) -> Path:
        """Export: weights (``weights.pt``) + charset and config (``ocrlab_model.json``)."""
        directory = Path(directory)
        state = {k: v.detach().cpu() for k, v in self.module.state_dict().items()}
        atomic_write(directory / EXPORT_WEIGHTS, lambda f: torch.save(state, f))
        atomic_write_json(directory / EXPORT_META, {
            "format": EXPORT_FORMAT,
            "charset": self.charset.to_dict(),
            "model_config": self.module.build_config,
        })
        return directory

    # -- recognition -----------------------------------------------------------------------
    @torch.no_grad()
    def recognize_batch(self, batch: dict) -> list[str]:
        batch = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        return self.module.recognize_batch(batch)

    def recognize(self, images: Sequence[str | Path | Image.Image], batch_size: int = 32) -> list[str]:
        """Texts for images given as paths or PIL images, in input order.

        Images are batched by width (less padding, faster); results do not depend on batching.
        """
        items = []
        for img in images:
            pil = img if isinstance(img, Image.Image) else open_image(img)
            # no label: an empty target keeps the shared batch format (the loss is unused)
            items.append({"image": image_to_tensor(pil, self.input_spec), "label": "", "target": [], "path": str(img)})
        order = sorted(range(len(items)), key=lambda i: items[i]["image"].shape[-1])
        out: list[str] = [""] * len(items)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            for i, text in zip(chunk, self.recognize_batch(collate_lines([items[i] for i in chunk])), strict=True):
                out[i] = text
        return out
