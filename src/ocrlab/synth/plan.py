"""The synthesis plan: what hard-sample mining asks the invoice generator to make more of.

A plan is a JSON object (every key optional)::

    {
      "version": 1,
      "hard_ratio": 0.3,
      "hard_kinds": {"many_line_items": 3.0, "stamp": 0.5},
      "fields": {"line_items.description": 2.0, "taxes": 1.0},
      "locales": {"th_TH": 2.0, "en_US": 1.0},
      "currencies": {"THB": 1.0, "JPY": 1.0},
      "document_types": {"invoice": 1.0, "receipt": 0.0},
      "layouts": {"sidebar": 2.0}
    }

* ``hard_ratio`` (0..1) replaces the ``--hard-ratio`` option: the fraction of hard documents.
* every other section maps names to non-negative relative weights. A section that is absent
  keeps the default (uniform) draw; names left out of a present section get weight 0, except in
  ``hard_kinds`` and ``fields``, which add to the defaults (each hard kind has base weight 1).
* ``hard_kinds``: weight of each named kind (:data:`~ocrlab.synth.invoices.schema.HARD_KINDS`)
  when a hard document draws its kinds.
* ``fields``: a field group that the model gets wrong (``vendor``, ``client``, ``dates``,
  ``line_items``, ``amounts``, ``taxes``, ``discounts``, ``total``, ``number``: the groups of
  :data:`~ocrlab.synth.invoices.schema.FIELD_GROUPS`; a ``group.sub`` key such as
  ``line_items.description`` counts for its group) raises the weight of every hard kind that
  stresses it (:data:`~ocrlab.synth.invoices.schema.FIELD_STRESSORS`) by the field's weight.
  The sub-field must be one of the ground truth's
  (:data:`~ocrlab.synth.invoices.schema.PLAN_SUBFIELDS`: ``vendor.name``, ``dates.due_date``,
  ``taxes.rate``, ...): ``vendor.website`` is an error listing the valid ones, not a no-op.

Field names and hard kinds come from :mod:`ocrlab.synth.invoices.schema`, the module that
defines the ground truth, so a plan names fields exactly as the ground truth and the metrics do.
* ``locales`` / ``currencies`` / ``document_types`` / ``layouts``: the draw of those attributes.
  A currency outside a locale's usual one is printed with that locale's number style.

Invalid plans raise :class:`PlanError` naming the key and the allowed values.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocrlab.synth.invoices.schema import FIELD_STRESSORS, HARD_KINDS, PLAN_NAMES, PLAN_SUBFIELDS

SECTIONS = ("hard_kinds", "fields", "locales", "currencies", "document_types", "layouts")
TOP_LEVEL_KEYS = ("version",) + ("hard_ratio",) + SECTIONS


class PlanError(ValueError):
    """An invalid plan: the message names the key and what is allowed."""


@dataclass(frozen=True)
class SynthesisPlan:
    hard_ratio: float | None = None
    hard_kinds: dict[str, float] = field(default_factory=dict)
    fields: dict[str, float] = field(default_factory=dict)
    locales: dict[str, float] | None = None
    currencies: dict[str, float] | None = None
    document_types: dict[str, float] | None = None
    layouts: dict[str, float] | None = None

    def hard_kind_weights(self) -> dict[str, float]:
        """Base weight 1 per kind, plus the plan's kind weights, plus its field weights spread
        over the kinds that stress each field."""
        weights = {kind: 1.0 for kind in HARD_KINDS}
        for kind, w in self.hard_kinds.items():
            weights[kind] += w
        for name, w in self.fields.items():
            for kind in FIELD_STRESSORS[name.split(".")[0]]:
                weights[kind] += w
        return weights

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": 1}
        if self.hard_ratio is not None:
            d["hard_ratio"] = self.hard_ratio
        for name in SECTIONS:
            value = getattr(self, name)
            if value:
                d[name] = dict(sorted(value.items()))
        return d


def load_plan(path: str | os.PathLike[str]) -> SynthesisPlan:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise PlanError(f"plan file {path}: cannot read ({error.strerror or error})") from error
    try:
        data = json.loads(text)
    except ValueError as error:
        raise PlanError(f"plan file {path}: not valid JSON ({error})") from error
    try:
        return parse_plan(data, allowed=None)
    except PlanError as error:
        raise PlanError(f"plan file {path}: {error}") from error


def parse_plan(data: Any, allowed: Mapping[str, tuple[str, ...]] | None = None) -> SynthesisPlan:
    """Validate a plan mapping. ``allowed`` gives the legal names of ``locales``,
    ``currencies``, ``document_types`` and ``layouts`` (default: the invoice generator's)."""
    if allowed is None:
        allowed = PLAN_NAMES
    if not isinstance(data, dict):
        raise PlanError(f"expected a JSON object with keys {list(TOP_LEVEL_KEYS)}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise PlanError(f"unknown key(s) {unknown}; allowed keys: {list(TOP_LEVEL_KEYS)}")
    if data.get("version", 1) != 1:
        raise PlanError(f"version={data['version']!r}: this ocrlab reads plan version 1")
    hard_ratio = data.get("hard_ratio")
    if hard_ratio is not None and (
        isinstance(hard_ratio, bool) or not isinstance(hard_ratio, (int, float)) or not 0 <= hard_ratio <= 1
    ):
        raise PlanError(f"hard_ratio={hard_ratio!r}: expected a number in [0, 1]")
    names = dict(allowed)
    names["hard_kinds"] = HARD_KINDS
    values: dict[str, dict[str, float] | None] = {}
    for section in SECTIONS:
        if section not in data:
            values[section] = None
            continue
        values[section] = _weights(section, data[section], names.get(section))
        if section not in ("hard_kinds", "fields") and not any(values[section].values()):  # type: ignore[union-attr]
            raise PlanError(f"{section}: every weight is 0, nothing could be drawn")
    return SynthesisPlan(
        hard_ratio=None if hard_ratio is None else float(hard_ratio),
        hard_kinds=values["hard_kinds"] or {},
        fields=values["fields"] or {},
        locales=values["locales"],
        currencies=values["currencies"],
        document_types=values["document_types"],
        layouts=values["layouts"],
    )


def _weights(section: str, value: Any, allowed: tuple[str, ...] | None) -> dict[str, float]:
    if not isinstance(value, dict):
        raise PlanError(f"{section}: expected an object of name -> weight, got {type(value).__name__}")
    out = {}
    for name, w in value.items():
        if section == "fields":
            _check_field_key(name)
        elif allowed is not None and name not in allowed:
            raise PlanError(f"{section}.{name}: unknown name; allowed values: {list(allowed)}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise PlanError(f"{section}.{name}={w!r}: expected a non-negative number")
        out[name] = float(w)
    return out


def _check_field_key(name: str) -> None:
    """A ``fields`` key: a group of :data:`FIELD_STRESSORS`, or ``group.sub`` with a sub-field of
    the ground-truth schema (:data:`~ocrlab.synth.invoices.schema.PLAN_SUBFIELDS`)."""
    group = name.split(".")[0]
    if group not in FIELD_STRESSORS:
        raise PlanError(f"fields.{name}: unknown field; allowed: {sorted(FIELD_STRESSORS)} (or 'group.sub', e.g. "
                        "'line_items.description')")
    if name == group or name in PLAN_SUBFIELDS[group]:
        return
    subs = [key[len(group) + 1:] for key in PLAN_SUBFIELDS[group]]
    allowed = (f"valid sub-fields of {group!r}: {subs}" if subs
               else f"{group!r} has no sub-fields (write fields.{group})")
    raise PlanError(f"fields.{name}: unknown sub-field of the invoice ground truth; {allowed}")
