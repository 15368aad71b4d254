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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ocrlab.errors import DatasetError
from ocrlab.synth.invoices.schema import CONTENT_FIELDS, LINE_ITEM_FIELDS, PARTY_FIELDS
from ocrlab.utils.io import atomic_write_json

FORMAT = "ocrlab-synth-pairs/1"
MANIFEST_FILE = "pairs.json"
IMAGE_TOKEN = "<image>"
MODES: tuple[str, ...] = ("pages", "crops")
TABLE_FORMATS: tuple[str, ...] = ("html", "otsl")
SPLITS: tuple[str, ...] = ("train", "val", "test")
CROP_KINDS: tuple[str, ...] = ("text", "table")
SUMMARY_FIELDS: tuple[str, ...] = ("subtotal", "discounts", "taxes", "shipping", "total", "currency")
# task -> the content fields its answer holds, in order (``pairs_per_sample`` N takes the first N)
TASKS: dict[str, tuple[str, ...]] = {
    "full": CONTENT_FIELDS,
    "vendor": ("vendor",),
    "client": ("client",),
    "line_items": ("line_items",),
    "summary": SUMMARY_FIELDS,
}
# the key order of nested ground-truth values (objects, and objects in lists)
_OBJECT_KEYS: dict[str, tuple[str, ...]] = {"vendor": PARTY_FIELDS, "client": PARTY_FIELDS}
_ITEM_KEYS: dict[str, tuple[str, ...]] = {
    "line_items": LINE_ITEM_FIELDS,
    "discounts": ("description", "amount"),
    "taxes": ("rate", "amount"),
}
_CROP_FIELDS = ("pages", "regions", "words", "table_html", "line_items")
DEFAULT_PROMPTS = "pair_prompts.yaml"


class PairsError(DatasetError):
    """Bad input or a conflicting output directory: the message names the file and what was expected."""


@dataclass(frozen=True)
class PairsSummary:
    output: Path
    documents: dict[str, int]  # split -> documents
    pairs: dict[str, int]  # split -> rows
    skipped_regions: dict[str, int]  # crops mode: "degenerate" (a side < min_crop_side), "empty" (no text)
    made: bool  # False: an earlier identical run was found and left as is


# -- prompts, answers, split -----------------------------------------------------------------
def load_prompts(path: str | os.PathLike[str] | None, mode: str) -> dict[str, str]:
    """The prompts of ``mode`` (task -> prompt for pages, crop kind -> prompt for crops) from the
    YAML file ``path``, or from the one shipped beside this module."""
    import yaml

    names = tuple(TASKS) if mode == "pages" else CROP_KINDS
    where = str(path) if path is not None else f"ocrlab/synth/{DEFAULT_PROMPTS}"
    try:
        if path is None:
            text = resources.files("ocrlab.synth").joinpath(DEFAULT_PROMPTS).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except FileNotFoundError:
        raise PairsError(f"prompts file {where} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PairsError(f"prompts file {where}: unreadable YAML ({error})") from None
    expected = f"a mapping with sections {list(MODES)}: pages: {{task: prompt}} for {list(TASKS)}, " \
               f"crops: {{kind: prompt}} for {list(CROP_KINDS)}"
    if not isinstance(data, dict) or set(data) - set(MODES):
        raise PairsError(f"prompts file {where}: expected {expected}")
    for section, allowed in (("pages", tuple(TASKS)), ("crops", CROP_KINDS)):
        value = data.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise PairsError(f"prompts file {where}: section {section!r} is not a mapping; expected {expected}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise PairsError(f"prompts file {where}: unknown {section} name(s) {unknown}; allowed: {list(allowed)}")
        bad = [k for k, v in value.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise PairsError(f"prompts file {where}: {section} prompt(s) {bad} are not non-empty strings")
    section = data.get(mode) or {}
    missing = [k for k in names if k not in section]
    if missing:
        raise PairsError(f"prompts file {where}: section {mode!r} has no prompt for {missing}; it needs {list(names)}")
    return {k: section[k] for k in names}


def task_answer(gt: dict[str, Any], task: str, where: str = "ground truth") -> dict[str, Any]:
    """The ground-truth values task ``task`` asks for, keys in schema order; a missing field is
    a :class:`PairsError` naming ``where`` and the field."""
    return {name: _ordered(gt, name, f"{where}: task {task!r} needs field") for name in TASKS[task]}


def to_json(value: Any) -> str:
    """Compact, deterministic JSON (the assistant's answer)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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
                    rows = _page_rows(gt, path, source, out, spec)
                else:
                    rows = _crop_rows(gt, path, source, tmp, spec, skipped)
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


def _ordered(gt: dict[str, Any], name: str, what: str) -> Any:
    """``gt[name]`` with nested keys in schema order; a missing key raises ``what`` + its path."""
    if name not in gt:
        raise PairsError(f"{what} {name!r}, which is missing")
    value = gt[name]
    if name in _OBJECT_KEYS:
        return _keys(value, _OBJECT_KEYS[name], name, what)
    if name in _ITEM_KEYS:
        if not isinstance(value, list):
            raise PairsError(f"{what} {name!r} as a list")
        return [_keys(item, _ITEM_KEYS[name], f"{name}.{i}", what) for i, item in enumerate(value)]
    return value


def _keys(value: Any, keys: tuple[str, ...], name: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PairsError(f"{what} {name!r} as an object with keys {list(keys)}")
    for key in keys:
        if key not in value:
            raise PairsError(f"{what} {name}.{key!r}, which is missing")
    return {key: value[key] for key in keys}


def _metadata(gt: dict[str, Any]) -> dict[str, Any]:
    """Row fields for metric breakdowns."""
    rendering = gt.get("rendering")
    return {
        "document_type": gt.get("document_type"),
        "locale": gt.get("locale"),
        "currency": gt.get("currency"),
        "hard_kinds": list(gt.get("hard_kinds") or []),
        "layout": rendering.get("layout") if isinstance(rendering, dict) else None,
    }


def _row(doc_id: str, task: str, images: list[str], prompt: str, answer: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc_id,
        "task": task,
        "images": images,
        "messages": [
            {"role": "user", "content": IMAGE_TOKEN * len(images) + prompt},
            {"role": "assistant", "content": answer},
        ],
        **meta,
    }


def _page_images(gt: dict[str, Any], path: Path, source: Path) -> list[Path]:
    pages = gt.get("pages")
    if not isinstance(pages, list) or not pages or not all(isinstance(p, dict) and "image" in p for p in pages):
        raise PairsError(f"{path}: expected 'pages' as a non-empty list of {{image, width, height}}")
    images = [source / p["image"] for p in pages]
    for image in images:
        if not image.is_file():
            raise PairsError(f"{path}: page image {image} does not exist")
    return images


def _page_rows(gt: dict[str, Any], path: Path, source: Path, out: Path, spec: dict[str, Any]) -> list[dict]:
    images = [os.path.relpath(image, out) for image in _page_images(gt, path, source)]
    meta = _metadata(gt)
    return [
        _row(path.stem, task, images, spec["prompts"][task], to_json(task_answer(gt, task, str(path))), meta)
        for task in spec["tasks"]
    ]


# -- crops -----------------------------------------------------------------------------------
def pixel_box(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """A region's float pixel box as the integer crop box that covers it, inside the page."""
    x0, y0, x1, y1 = box
    return (max(0, math.floor(x0)), max(0, math.floor(y0)), min(width, math.ceil(x1)), min(height, math.ceil(y1)))


def region_text(words: Sequence[dict[str, Any]], page: int, box: Sequence[float]) -> str:
    """The text of the words whose centre lies in ``box`` on ``page``, in drawing order, stamps
    left out; a word starts a new line when it lies left of the previous word's end or below it
    (every block's lines run left to right)."""
    lines: list[list[str]] = []
    prev: Sequence[float] | None = None
    for word in words:
        x0, y0, x1, y1 = word["box"]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if word["page"] != page or word.get("field") == "stamp":
            continue
        if not (box[0] <= cx <= box[2] and box[1] <= cy <= box[3]):
            continue
        if prev is None or cx < prev[2] or y0 > prev[3]:
            lines.append([])
        lines[-1].append(word["text"])
        prev = word["box"]
    return "\n".join(" ".join(line) for line in lines)


def page_table_html(gt: dict[str, Any], page: int) -> str:
    """``table_html`` with the rows printed on ``page`` (its header repeats on every page); the
    whole table when it lies on one page."""
    table = gt["table_html"]
    pages = sorted({r["page"] for r in gt["regions"] if r["block"] == "table"})
    if len(pages) <= 1:
        return table
    head, body = table.split("<tbody>", 1)
    rows = re.findall(r"<tr>.*?</tr>", body, flags=re.DOTALL)
    item_page: dict[int, int] = {}
    for word in gt["words"]:
        parts = (word.get("field") or "").split(".")
        if parts[0] == "line_items" and len(parts) > 1 and parts[1].isdigit():
            item_page.setdefault(int(parts[1]), word["page"])
    if len(rows) != len(gt["line_items"]):
        raise PairsError(f"table_html has {len(rows)} rows for {len(gt['line_items'])} line items")
    kept = "".join(row for i, row in enumerate(rows) if item_page.get(i) == page)
    return f"{head}<tbody>{kept}</tbody></table>"


def _grid_table(gt: dict[str, Any]) -> bool:
    """Whether the line items are printed as a table (receipts print them as text lines)."""
    from ocrlab.synth.invoices.layout import LAYOUTS

    layout = LAYOUTS.get((gt.get("rendering") or {}).get("layout"))
    return layout is None or layout.table != "receipt"


def _crop_rows(
    gt: dict[str, Any], path: Path, source: Path, tmp: Path, spec: dict[str, Any], skipped: dict[str, int]
) -> Iterator[dict]:
    from PIL import Image

    missing = [k for k in _CROP_FIELDS if k not in gt]
    if missing:
        raise PairsError(f"{path}: crops mode needs ground-truth field(s) {missing}, which are missing")
    images = _page_images(gt, path, source)
    doc_id, meta, grid = path.stem, _metadata(gt), _grid_table(gt)
    opened: dict[int, Image.Image] = {}
    names: set[str] = set()
    for n, region in enumerate(gt["regions"]):
        block, page, box = _region(region, len(images), f"{path}: regions[{n}]")
        if page not in opened:
            try:
                with Image.open(images[page]) as im:
                    opened[page] = im.copy()
            except OSError as error:
                raise PairsError(f"{path}: page image {images[page]} is unreadable ({error})") from None
        crop = pixel_box(box, *opened[page].size)
        if min(crop[2] - crop[0], crop[3] - crop[1]) < spec["min_crop_side"]:
            skipped["degenerate"] += 1
            continue
        kind = "table" if block == "table" and grid else "text"
        try:
            answer = _table_answer(gt, page, spec["table_format"]) if kind == "table" else \
                region_text(gt["words"], page, box)
        except (KeyError, TypeError, ValueError) as error:
            raise PairsError(f"{path}: regions[{n}] ({block}, page {page}): {error}") from None
        if not answer.strip():
            skipped["empty"] += 1
            continue
        name, k = f"{doc_id}_p{page + 1}_{block}", 2
        while name in names:
            name, k = f"{doc_id}_p{page + 1}_{block}-{k}", k + 1
        names.add(name)
        rel = f"crops/{name}.png"
        (tmp / "crops").mkdir(exist_ok=True)
        opened[page].crop(crop).save(tmp / rel, format="PNG", compress_level=1)
        row = _row(doc_id, block, [rel], spec["prompts"][kind], answer, meta)
        yield {**row, "block": block, "page": page, "box": list(crop)}


def _region(region: Any, num_pages: int, where: str) -> tuple[str, int, list[float]]:
    try:
        block, page, box = region["block"], region["page"], [float(v) for v in region["box"]]
    except (KeyError, TypeError, ValueError):
        box = []
    if not box or not isinstance(block, str) or not isinstance(page, int) or not 0 <= page < num_pages \
            or len(box) != 4:
        raise PairsError(f"{where} is not {{block, page (0..{num_pages - 1}), box [x0, y0, x1, y1]}}")
    return block, page, box


def _table_answer(gt: dict[str, Any], page: int, table_format: str) -> str:
    table = page_table_html(gt, page)
    if table_format == "html":
        return table
    from ocrlab.text.otsl import html_to_otsl

    return html_to_otsl(table)


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
