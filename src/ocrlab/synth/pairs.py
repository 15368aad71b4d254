"""Instruction pairs for VLM fine-tuning (PaddleOCR-VL) from an invoice dataset: ``ocrlab-synth pairs``.

Two modes, both rows in the chat JSONL layout VLM tools read (ms-swift, LLaMA-Factory)::

    {"id": "invoice_000042", "task": "vendor", "images": ["../inv/images/invoice_000042_p1.jpg"],
     "messages": [{"role": "user", "content": "<image>Extract the vendor ..."},
                  {"role": "assistant", "content": "{\\"vendor\\":{...}}"}],
     "document_type": "invoice", "locale": "de_DE", "currency": "EUR", "hard_kinds": [], "layout": "classic"}

* ``pages``: up to five tasks per document (:data:`TASKS`: full extraction, vendor, client, line
  items, summary) over every page image in order (one ``<image>`` each); the answer is compact
  JSON of the ground-truth values, keys in schema order.
* ``crops``: the element crops PaddleOCR-VL is trained on: each ground-truth region cropped from
  its page (``crops/<id>_p<n>_<block>.png``), answered with the text of the words inside it
  (``OCR:``) or, for the line-items table, its HTML or OTSL (``Table Recognition:``).

Documents are split train/val/test (default 80/10/10) **by document**, so no document's pairs
span two splits. Image paths are relative to the JSONL file's directory. The output directory
appears complete or not at all: it is built in a temp directory beside it and renamed into place,
so a failed or killed run leaves no half-written split. :func:`read_pairs` reads and validates a
pairs file for training.

This module runs the whole: the output directory, the split and the files. What one row asks and
answers (tasks, prompts, ground-truth answers, the chat row) is :mod:`ocrlab.synth.pair_rows`;
the crops mode's regions and their answers are :mod:`ocrlab.synth.pair_crops`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocrlab.synth.pair_crops import TABLE_FORMATS, crop_rows
from ocrlab.synth.pair_rows import IMAGE_TOKEN, MODES, TASKS, PairsError, load_prompts, page_rows
from ocrlab.utils.io import atomic_write_json

FORMAT = "ocrlab-synth-pairs/1"
MANIFEST_FILE = "pairs.json"
SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class PairsSummary:
    output: Path
    documents: dict[str, int]  # split -> documents
    pairs: dict[str, int]  # split -> rows
    skipped_regions: dict[str, int]  # crops mode: "degenerate" (a side < min_crop_side), "empty" (no text)
    made: bool  # False: an earlier identical run was found and left as is


# -- split -----------------------------------------------------------------------------------
def split_sizes(num_documents: int, fractions: Sequence[float]) -> list[int]:
    """Documents per split: largest remainders of ``n * fraction``, then every split with a
    positive fraction gets one document taken from the largest while that keeps one (30 -> 24/3/3,
    6 -> 4/1/1, 2 -> 1/1/0)."""
    raw = [num_documents * f for f in fractions]
    sizes = [math.floor(r + 1e-9) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - sizes[i]), i))
    for i in order[: num_documents - sum(sizes)]:
        sizes[i] += 1
    for i, fraction in enumerate(fractions):
        donor = max(range(len(sizes)), key=lambda j: (sizes[j], -j))
        if fraction > 0 and sizes[i] == 0 and sizes[donor] > 1:
            sizes[donor] -= 1
            sizes[i] += 1
    return sizes


def split_documents(ids: Sequence[str], seed: int, fractions: Sequence[float]) -> dict[str, list[str]]:
    """Assign documents to :data:`SPLITS`: ranked by a hash of ``(seed, id)``, cut at
    :func:`split_sizes`. The rank of a document does not depend on the others, so adding documents
    (``invoices --extend``) moves only those near the cut points. Each split's ids are sorted."""
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}\0{i}".encode()).hexdigest())
    out, start = {}, 0
    for split, size in zip(SPLITS, split_sizes(len(ranked), fractions), strict=True):
        out[split] = sorted(ranked[start : start + size])
        start += size
    return out


# -- writing ---------------------------------------------------------------------------------
def make_pairs(
    dataset: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    mode: str = "pages",
    pairs_per_sample: int = 5,
    table_format: str = "html",
    prompts: str | os.PathLike[str] | None = None,
    seed: int = 0,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    min_crop_side: int = 4,
    progress: bool = True,
) -> PairsSummary:
    """Write ``output/{train,val,test}.jsonl`` and ``output/pairs.json`` (plus ``output/crops/``
    in crops mode) from the invoice dataset ``dataset``. An ``output`` holding this same run is
    left as is; one holding anything else is refused."""
    if mode not in MODES:
        raise PairsError(f"mode {mode!r}: expected one of {list(MODES)}")
    if table_format not in TABLE_FORMATS:
        raise PairsError(f"table format {table_format!r}: expected one of {list(TABLE_FORMATS)}")
    if not isinstance(pairs_per_sample, int) or not 1 <= pairs_per_sample <= len(TASKS):
        raise PairsError(f"pairs per sample {pairs_per_sample!r}: expected 1..{len(TASKS)} ({', '.join(TASKS)})")
    fractions = [float(f) for f in split]
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6 or fractions[0] == 0:
        raise PairsError(f"split {list(split)}: expected three fractions (train val test) >= 0 summing to 1, train > 0")
    if min_crop_side < 1:
        raise PairsError(f"min crop side {min_crop_side}: expected at least 1 pixel")
    source, out = Path(dataset).resolve(), Path(output).resolve()
    gt_files = _ground_truth_files(source)
    spec = {
        "dataset": str(source),
        "dataset_fingerprint": _fingerprint(source, gt_files),
        "mode": mode,
        "tasks": list(TASKS)[:pairs_per_sample] if mode == "pages" else None,
        "table_format": table_format if mode == "crops" else None,
        "min_crop_side": min_crop_side if mode == "crops" else None,
        "seed": seed,
        "split": fractions,
        "prompts": load_prompts(prompts, mode),
    }
    earlier = _earlier_run(out, spec)
    if earlier is not None:
        counts = earlier["counts"]
        return PairsSummary(out, counts["documents"], counts["pairs"], counts["skipped_regions"], made=False)
    if len({p.stem for p in gt_files}) != len(gt_files):
        raise PairsError(f"{source / 'ground_truth'}: two ground-truth files share a document id")
    documents = split_documents([p.stem for p in gt_files], seed, fractions)
    split_of = {doc_id: name for name, ids in documents.items() for doc_id in ids}
    for doc_id in split_of:
        if "_p" in doc_id:
            raise PairsError(f"document id {doc_id!r} contains '_p': image names <id>_p<n> would not name it")

    from tqdm import tqdm

    _remove_stale_temp_dirs(out)
    new_dirs = [d for d in (out.parent, *out.parent.parents) if not d.exists()]  # removed again on failure
    tmp = out.parent / f".{out.name}.pairs-{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pairs = dict.fromkeys(SPLITS, 0)
    skipped = {"degenerate": 0, "empty": 0}
    try:
        with contextlib.ExitStack() as stack:
            files = {
                name: stack.enter_context(open(tmp / f"{name}.jsonl", "w", encoding="utf-8", newline="\n"))
                for name in SPLITS
            }
            for path in tqdm(gt_files, disable=not progress, desc=f"pairs -> {out}", unit="doc"):
                gt = _read_ground_truth(path)
                if mode == "pages":
                    rows = page_rows(gt, path, source, out, spec)
                else:
                    rows = crop_rows(gt, path, source, tmp, spec, skipped)
                split_name = split_of[path.stem]
                for row in rows:
                    files[split_name].write(json.dumps(row, ensure_ascii=False) + "\n")
                    pairs[split_name] += 1
            for f in files.values():
                f.flush()
                os.fsync(f.fileno())
        counts = {"documents": {k: len(v) for k, v in documents.items()}, "pairs": pairs, "skipped_regions": skipped}
        atomic_write_json(tmp / MANIFEST_FILE, {
            "format": FORMAT,
            "spec": spec,
            "counts": counts,
            "image_paths": "relative to the directory of this file",
            "documents": documents,
        })
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # an empty directory the user made: replaced by the finished one
        try:
            tmp.rename(out)
        except OSError as error:
            raise PairsError(f"output dir {out}: cannot move the finished pairs into place ({error})") from error
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for d in new_dirs:
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    return PairsSummary(out, counts["documents"], pairs, skipped, made=True)


def _ground_truth_files(source: Path) -> list[Path]:
    if not source.is_dir():
        raise PairsError(f"dataset dir {source} does not exist (expected an `ocrlab-synth invoices` output)")
    gt_dir = source / "ground_truth"
    files = sorted(gt_dir.glob("*.json")) if gt_dir.is_dir() else []
    if not files:
        raise PairsError(f"{source} is not an invoice dataset: expected ground_truth/<id>.json files in it")
    return files


def _fingerprint(source: Path, gt_files: list[Path]) -> str:
    """What identifies the dataset's content: its manifest's checksum for a dataset written by
    ``ocrlab-synth`` (refused if its run was interrupted), else the ground-truth names and sizes."""
    info_path = source / "dataset.json"
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise PairsError(f"{info_path}: unreadable dataset description ({error})") from None
        if not isinstance(info, dict) or info.get("kind") != "invoices":
            raise PairsError(f"{info_path}: not an invoice dataset (kind {info.get('kind')!r}, expected 'invoices')"
                             if isinstance(info, dict) else f"{info_path}: not a dataset description")
        if not info.get("complete"):
            raise PairsError(f"{source}: its `ocrlab-synth invoices` run was interrupted; run it again to finish it")
        try:
            return hashlib.sha256((source / "manifest.jsonl").read_bytes()).hexdigest()
        except OSError as error:
            raise PairsError(f"{source}: the dataset's manifest.jsonl is unreadable ({error})") from None
    listing = "\n".join(f"{p.name}\t{p.stat().st_size}" for p in gt_files)
    return hashlib.sha256(listing.encode()).hexdigest()


def _earlier_run(out: Path, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of an identical earlier run in ``out``; None for a new or empty ``out``."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    if not out.is_dir():
        raise PairsError(f"output {out} exists and is not a directory")
    try:
        manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
        old = manifest["spec"]
    except (OSError, ValueError, KeyError, TypeError):
        raise PairsError(
            f"output dir {out} is not empty and holds no pairs of an earlier run ({MANIFEST_FILE}): "
            "choose a new or empty directory"
        ) from None
    changed = sorted(k for k in set(spec) | set(old) if spec.get(k) != old.get(k))
    if changed:
        what = "; ".join(f"{k}: existing {_short(old.get(k))} != requested {_short(spec.get(k))}" for k in changed)
        hint = " (the dataset changed since)" if "dataset_fingerprint" in changed else ""
        raise PairsError(f"output dir {out} holds pairs of another run{hint}: {what}; choose another directory")
    return manifest


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _remove_stale_temp_dirs(out: Path) -> None:
    """Temp dirs left by killed runs (their process is gone): never visible as output."""
    for tmp in out.parent.glob(f".{out.name}.pairs-*.tmp"):
        pid = tmp.name.rsplit("-", 1)[-1].removesuffix(".tmp")
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_ground_truth(path: Path) -> dict[str, Any]:
    try:
        gt = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise PairsError(f"{path}: not a valid ground-truth JSON file ({error})") from None
    if not isinstance(gt, dict):
        raise PairsError(f"{path}: expected a JSON object (the ground truth of one document)")
    return gt


# -- reading ---------------------------------------------------------------------------------
def read_pairs(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a pairs JSONL file, each validated, with ``images`` resolved to absolute paths
    (relative ones against the file's directory). A bad row raises :class:`PairsError` naming the
    file, the line and the problem."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise PairsError(f"{path}: cannot read the pairs file ({error})") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(_check_row(line, path.parent))
        except PairsError as error:
            raise PairsError(f"{path}, line {number}: {error}") from None
    return rows


def _check_row(line: str, base: Path) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except ValueError as error:
        raise PairsError(f"not valid JSON ({error})") from None
    if not isinstance(row, dict):
        raise PairsError("a pairs row that is not a JSON object")
    images = row.get("images")
    if not isinstance(images, list) or not images or not all(isinstance(i, str) and i for i in images):
        raise PairsError("a pairs row without images (expected 'images': a non-empty list of paths)")
    resolved = [str(base / image) if not os.path.isabs(image) else image for image in images]
    for image, full in zip(images, resolved, strict=True):
        if not os.path.isfile(full):
            raise PairsError(f"image {image} does not exist ({full})")
    messages = row.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise PairsError("a pairs row without messages (expected a list of {role, content})")
    roles = [m.get("role") for m in messages]
    for role in ("user", "assistant"):
        if roles.count(role) != 1:
            what = "without" if role not in roles else "with more than one"
            raise PairsError(f"a pairs row {what} {'an' if role == 'assistant' else 'a'} {role} message")
    if len(messages) != 2 or roles != ["user", "assistant"]:
        raise PairsError(f"expected exactly a user then an assistant message, got roles {roles}")
    user, answer = (m.get("content") for m in messages)
    if not isinstance(answer, str) or not answer.strip():
        raise PairsError("a pairs row with an empty assistant message")
    if not isinstance(user, str):
        raise PairsError("a pairs row whose user message is not text")
    if user.count(IMAGE_TOKEN) != len(images):
        raise PairsError(f"the user message has {user.count(IMAGE_TOKEN)} {IMAGE_TOKEN} for {len(images)} images")
    return {**row, "images": resolved}
