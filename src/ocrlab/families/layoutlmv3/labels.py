"""The label space of a document-understanding model: BIO token labels, document types, subtypes.

A :class:`DocumentLabelMap` is what a multitask document model predicts over; it travels in the
model's checkpoint (``to_config()``) so evaluation and inference never need the dataset's
``label_map.json`` again. New labels may be appended to a trained map (:meth:`extends`): the
rows of the trained ones keep their ids, so their head weights stay valid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ocrlab.errors import CheckpointError, DatasetError

OUTSIDE = "O"


class DocumentLabelMap:
    """Token labels (``O`` first, then ``B-<FIELD>`` / ``I-<FIELD>``), document types and
    the subtypes of one document type (``subtype_of``, e.g. purchase orders)."""

    def __init__(self, labels: Sequence[str], doc_types: Sequence[str], po_subtypes: Sequence[str] = (),
                 subtype_of: str = "PURCHASE_ORDER"):
        self.labels = tuple(str(x) for x in labels)
        self.doc_types = tuple(str(x) for x in doc_types)
        self.po_subtypes = tuple(str(x) for x in po_subtypes)
        self.subtype_of = str(subtype_of)
        self._validate()
        self.label2id = {label: i for i, label in enumerate(self.labels)}
        self.doc_type2id = {t: i for i, t in enumerate(self.doc_types)}
        self.po_subtype2id = {t: i for i, t in enumerate(self.po_subtypes)}

    def _validate(self) -> None:
        where = "document label map"
        for name, values in (("labels", self.labels), ("doc_types", self.doc_types),
                             ("po_subtypes", self.po_subtypes)):
            dup = sorted({v for v in values if values.count(v) > 1})
            if dup:
                raise ValueError(f"{where}: {name} repeats {dup[:5]}")
        if not self.labels or self.labels[0] != OUTSIDE:
            raise ValueError(f"{where}: labels must start with {OUTSIDE!r} (id 0), got {self.labels[:1]}")
        bad = [x for x in self.labels[1:] if not (x[:2] in ("B-", "I-") and len(x) > 2)]
        if bad:
            raise ValueError(f"{where}: labels after 'O' must be B-<FIELD> or I-<FIELD>, got {bad[:5]}")
        begins = {x[2:] for x in self.labels if x.startswith("B-")}
        orphans = [x for x in self.labels if x.startswith("I-") and x[2:] not in begins]
        if orphans:
            raise ValueError(f"{where}: {orphans[:5]} have no B- label")
        if not self.doc_types:
            raise ValueError(f"{where}: no doc_types")
        if self.po_subtypes and self.subtype_of not in self.doc_types:
            raise ValueError(f"{where}: subtypes belong to {self.subtype_of!r}, which is not a doc type")

    # -- what a model needs ------------------------------------------------------------------
    @property
    def fields(self) -> tuple[str, ...]:
        """Field names in label order (``B-VENDOR_NAME`` -> ``VENDOR_NAME``)."""
        return tuple(x[2:] for x in self.labels if x.startswith("B-"))

    @property
    def subtype_doc_id(self) -> int:
        """Id of the document type whose documents carry a subtype (-1 if there are none)."""
        return self.doc_type2id.get(self.subtype_of, -1) if self.po_subtypes else -1

    def __len__(self) -> int:
        return len(self.labels)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DocumentLabelMap) and self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash((self.labels, self.doc_types, self.po_subtypes, self.subtype_of))

    def extends(self, other: DocumentLabelMap) -> bool:
        """Whether this map is ``other`` with labels appended (doc types and subtypes equal)."""
        return (self.labels[: len(other.labels)] == other.labels and self.doc_types == other.doc_types
                and self.po_subtypes == other.po_subtypes and self.subtype_of == other.subtype_of)

    def check_same(self, other: DocumentLabelMap, context: str) -> None:
        """Raise naming what differs (called when a checkpoint's map is not this one)."""
        if self == other:
            return
        parts = []
        for name in ("labels", "doc_types", "po_subtypes"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                added, removed = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
                what = f"{len(theirs)} in the checkpoint vs {len(mine)} in this run"
                if added or removed:
                    what += f"; new here: {added[:5]}, only in the checkpoint: {removed[:5]}"
                else:
                    what += "; same names in another order"
                parts.append(f"{name} differ ({what})")
        raise CheckpointError(f"{context}: the label map differs from the checkpoint's: {'; '.join(parts)}. "
                              "To add labels to a trained model, append them to its map and start from its "
                              "weights with model.init_from=<checkpoint>")

    # -- (de)serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The ``label_map.json`` layout."""
        return {"labels": list(self.labels), "label2id": dict(self.label2id), "doc_types": list(self.doc_types),
                "po_subtypes": list(self.po_subtypes), "subtype_of": self.subtype_of}

    def to_config(self) -> dict[str, Any]:
        return {"_target_": f"{__name__}.DocumentLabelMap", "labels": list(self.labels),
                "doc_types": list(self.doc_types), "po_subtypes": list(self.po_subtypes),
                "subtype_of": self.subtype_of}

    @classmethod
    def from_dict(cls, data: Any, where: str = "label map") -> DocumentLabelMap:
        if not isinstance(data, dict):
            raise DatasetError(f"{where}: expected a JSON object with 'labels' and 'doc_types'")
        labels = data.get("labels")
        if labels is None and isinstance(data.get("label2id"), dict):
            ids = data["label2id"]
            if sorted(ids.values()) != list(range(len(ids))):
                raise DatasetError(f"{where}: label2id ids must be 0..{len(ids) - 1} without gaps")
            labels = sorted(ids, key=ids.get)
        for key, value in (("labels", labels), ("doc_types", data.get("doc_types"))):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DatasetError(f"{where}: '{key}' must be a list of strings")
        if isinstance(data.get("label2id"), dict) and data["label2id"] != {x: i for i, x in enumerate(labels)}:
            raise DatasetError(f"{where}: 'label2id' disagrees with the order of 'labels'")
        try:
            return cls(labels, data["doc_types"], data.get("po_subtypes") or (),
                       data.get("subtype_of", "PURCHASE_ORDER"))
        except ValueError as e:
            raise DatasetError(f"{where}: {e}") from e

    @classmethod
    def from_file(cls, path: str | Path) -> DocumentLabelMap:
        """Read a ``label_map.json`` (``labels`` or ``label2id``, ``doc_types``, ``po_subtypes``)."""
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"label map {path} does not exist (expected a label_map.json with 'labels', "
                               "'doc_types' and 'po_subtypes')")
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DatasetError(f"label map {path} is not valid UTF-8 JSON: {e}") from e
        return cls.from_dict(data, where=f"label map {path}")
