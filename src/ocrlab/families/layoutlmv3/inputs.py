"""How a document (words, boxes, page image) becomes a layout model's input windows.

A document is tokenized once, without truncation (LayoutLMv3's tokenizer: byte-level BPE, one
box per sub-token, the word's label on its first sub-token and -100 on the rest); the token
sequence is then cut into windows of ``max_length`` (CLS + content + SEP) that overlap by
``stride`` tokens, so no word is dropped. ``word_index`` marks each word's *first* sub-token in
every window that holds it: predictions are merged back to one per word from exactly those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

IGNORE = -100


@dataclass(frozen=True)
class DocumentInputSpec:
    max_length: int = 512
    stride: int = 128
    # box coordinates (0-1000) rounded down to multiples of box_grid: 1 keeps them as given. A
    # model trained from scratch learns one 2-D embedding row per coordinate value it sees; a
    # coarser grid (e.g. 10) lets each row see many more examples (pretrained models: keep 1)
    box_grid: int = 1

    def __post_init__(self):
        if not 1 <= self.box_grid <= 100:
            raise ValueError(f"model.box_grid={self.box_grid}: expected 1..100 (coordinates are 0-1000)")
        if self.max_length < 8:
            raise ValueError(f"model.max_length={self.max_length}: expected >= 8")
        if not 0 <= self.stride < self.max_length - 2:
            raise ValueError(f"model.stride={self.stride}: expected 0 <= stride < max_length - 2 "
                             f"({self.max_length - 2})")

    @property
    def content_length(self) -> int:
        return self.max_length - 2

    def window_starts(self, num_tokens: int) -> list[int]:
        """Start offsets of the windows over ``num_tokens`` content tokens (at least one)."""
        step = self.content_length - self.stride
        starts = [0]
        while starts[-1] + self.content_length < num_tokens:
            starts.append(starts[-1] + step)
        return starts

    def encode(self, tokenizer, words: Sequence[str], boxes: Sequence[Sequence[int]],
               labels: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
        """Windows of one document: ``input_ids``, ``bbox``, ``attention_mask``, ``labels``
        (token labels, -100 off first sub-tokens), ``word_index`` ([W, L], -1 off first
        sub-tokens); unpadded, every window full length except the last."""
        enc = tokenizer(list(words), boxes=[list(b) for b in boxes],
                        word_labels=list(labels) if labels is not None else None,
                        add_special_tokens=False, truncation=False, return_attention_mask=False)
        ids, bbox = enc["input_ids"], enc["bbox"]
        if self.box_grid > 1:
            g = self.box_grid
            bbox = [[v // g * g for v in box] for box in bbox]
        word_ids = enc.word_ids()
        token_labels = enc["labels"] if labels is not None else [IGNORE] * len(ids)
        first = [w if w is not None and (t == 0 or word_ids[t - 1] != w) else -1 for t, w in enumerate(word_ids)]
        cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        windows: dict[str, list] = {"input_ids": [], "bbox": [], "labels": [], "word_index": [], "attention_mask": []}
        for start in self.window_starts(len(ids)):
            stop = start + self.content_length
            windows["input_ids"].append([cls, *ids[start:stop], sep])
            windows["bbox"].append([[0, 0, 0, 0], *bbox[start:stop], [0, 0, 0, 0]])
            windows["labels"].append([IGNORE, *token_labels[start:stop], IGNORE])
            windows["word_index"].append([-1, *first[start:stop], -1])
            windows["attention_mask"].append([1] * len(windows["input_ids"][-1]))
        return {k: _pad([torch.tensor(x, dtype=torch.long) for x in v], _PAD[k](tokenizer))
                for k, v in windows.items()}


_PAD = {"input_ids": lambda tok: tok.pad_token_id, "bbox": lambda tok: 0, "labels": lambda tok: IGNORE,
        "word_index": lambda tok: -1, "attention_mask": lambda tok: 0}


def _pad(rows: list[torch.Tensor], value: int, length: int | None = None) -> torch.Tensor:
    length = length or max(len(r) for r in rows)
    out = torch.full((len(rows), length, *rows[0].shape[1:]), value, dtype=rows[0].dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


class DocumentEncoder:
    """What the data needs from a layout model, and nothing heavier (it goes to loader
    workers): its label map, tokenizer, window spec and page-image processor (``None``: no images)."""

    def __init__(self, tokenizer, spec: DocumentInputSpec, image_processor=None, labels=None):
        self.tokenizer = tokenizer
        self.spec = spec
        self.image_processor = image_processor
        self.labels = labels  # DocumentLabelMap

    @property
    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @property
    def uses_images(self) -> bool:
        return self.image_processor is not None

    def encode(self, words: Sequence[str], boxes: Sequence[Sequence[int]], labels: Sequence[int] | None = None,
               image=None) -> dict[str, torch.Tensor]:
        """One document -> its windows, plus its page as ``pixel_values`` when the model sees images."""
        out = self.spec.encode(self.tokenizer, words, boxes, labels)
        if self.image_processor is not None:
            if image is None:
                raise ValueError("this model sees the page image (visual_embed): give the image")
            out["pixel_values"] = self.image_processor(image.convert("RGB"), return_tensors="pt")["pixel_values"][0]
        return out

    def token_counts(self, documents: Sequence[Sequence[str]]) -> list[int]:
        """Sub-tokens per document (fast, batched): the key batches are grouped by."""
        encodings = self.tokenizer.backend_tokenizer.encode_batch([list(w) for w in documents],
                                                                  is_pretokenized=True, add_special_tokens=False)
        return [len(e.ids) for e in encodings]


def collate_windows(docs: Sequence[dict[str, Any]], pad_token_id: int, multiple_of: int = 8) -> dict[str, Any]:
    """Documents (each the output of :meth:`DocumentInputSpec.encode` plus per-document keys)
    -> one batch of windows padded to a common length (a multiple of ``multiple_of``)."""
    length = max(int(d["input_ids"].shape[1]) for d in docs)
    length = -(-length // multiple_of) * multiple_of
    batch: dict[str, Any] = {}
    pads = {"input_ids": pad_token_id, "bbox": 0, "labels": IGNORE, "word_index": -1, "attention_mask": 0}
    for key, value in pads.items():
        batch[key] = torch.cat([_pad(list(d[key]), value, length) for d in docs])
    batch["window_doc"] = torch.cat([torch.full((d["input_ids"].shape[0],), i, dtype=torch.long)
                                     for i, d in enumerate(docs)])
    if all(d.get("pixel_values") is not None for d in docs):
        images = torch.stack([d["pixel_values"] for d in docs])
        batch["pixel_values"] = images[batch["window_doc"]]  # every window sees its page
    for key in docs[0]:
        if key not in batch and key not in pads and key != "pixel_values":
            value = [d[key] for d in docs]
            # per-document targets as tensors; counts stay python ints (no device sync to read them)
            batch[key] = torch.tensor(value) if isinstance(value[0], int) and key != "num_words" else value
    return batch
