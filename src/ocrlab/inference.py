"""Inference API: load a checkpoint or an export dir, recognize a list of images.

>>> rec = TextRecognizer.load("logs/train/runs/.../checkpoints/best.ckpt")
>>> rec.recognize(["line1.png", "line2.png"])

Checkpoints and exports carry the label space (charset, tokenizer) and the model config, so nothing else is needed.
Loading uses ``torch.load(weights_only=True)``: no arbitrary code runs from a model file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from ocrlab.datamodules.line_images import LineImageSpec, LineLabels, image_to_tensor, open_image
from ocrlab.datamodules.lines import collate_lines
from ocrlab.errors import CheckpointError
from ocrlab.lightning_modules.text_recognition import TextRecognitionModule
from ocrlab.loading import load_model


class TextRecognizer:
    """A trained line recognizer in eval mode, with its label space and input spec."""

    def __init__(self, module: TextRecognitionModule, device: str | torch.device = "cpu"):
        self.module = module.eval().to(device)
        self.device = torch.device(device)

    @property
    def labels(self) -> LineLabels:
        """The model's label space (a CTC model's charset, a generative model's tokenizer)."""
        return self.module.line_labels()

    @property
    def input_spec(self) -> LineImageSpec:
        return self.module.input_spec

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> TextRecognizer:
        """A ``.ckpt`` file or an export directory (through :func:`ocrlab.loading.load_model`)."""
        module = load_model(path)
        if not isinstance(module, TextRecognitionModule):
            raise CheckpointError(f"{path} holds a {type(module).__name__}, not a text-line recognizer")
        return cls(module, device)

    def save(self, directory: str | Path, overwrite: bool = False) -> Path:
        """Export: weights (``weights.pt``) + charset and config (``ocrlab_model.json``), written
        whole or not at all; ``overwrite`` replaces an earlier export there, never other files."""
        from ocrlab.loading import write_export

        return write_export(self.module, directory, overwrite)

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


class OnnxTextRecognizer(TextRecognizer):
    """A text-line export's ONNX graph (``ocrlab-export <ckpt> --output <dir> --onnx``) run by ONNX
    Runtime on CPU. Preprocessing, batching and decoding are the model's, as in :class:`TextRecognizer`;
    the graph takes the batch's tensors by name and returns what the model's ``decode`` reads."""

    def __init__(self, module: TextRecognitionModule, graph: str | Path, threads: int | None = None):
        from ocrlab.onnx_export import session

        super().__init__(module, "cpu")
        self.graph = Path(graph)
        self.session = session(graph, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", *, int8: bool = False,
             threads: int | None = None) -> OnnxTextRecognizer:
        """An export directory written with ``--onnx`` (``int8``: its ``model.int8.onnx``, written with
        ``--int8``); ``threads``: ONNX Runtime's intra-op threads (None: all cores)."""
        from ocrlab.onnx_export import INT8_FILE, ONNX_FILE

        if torch.device(device).type != "cpu":
            raise ValueError(f"OnnxTextRecognizer runs on the CPU, not {device}")
        path = Path(path)
        graph = path / (INT8_FILE if int8 else ONNX_FILE)
        if not graph.is_file():
            raise CheckpointError(f"{path} holds no {graph.name}: expected an export directory written by "
                                  f"`ocrlab-export <ckpt> --output <dir> --onnx{' --int8' if int8 else ''}`")
        return cls(TextRecognizer.load(path).module, graph, threads)

    def recognize_batch(self, batch: dict) -> list[str]:
        missing = [n for n in self.input_names if n not in batch]
        if missing:
            raise CheckpointError(f"{self.graph} takes {missing}, which a text-line batch does not hold "
                                  f"(it has {sorted(batch)})")
        outputs = self.session.run(None, {n: batch[n].cpu().numpy() for n in self.input_names})
        return self.module.decode(tuple(torch.from_numpy(o) for o in outputs), batch)
