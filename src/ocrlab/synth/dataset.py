"""The one dataset writer of every generator (Thai text lines, invoices, business documents).

A generator is a picklable object with

* ``kind``: a name (``"invoices"``), recorded in the dataset and checked on reuse;
* ``spec() -> dict``: everything that determines the output (seed, options, font checksums),
  JSON-able; two runs with equal specs write equal bytes;
* ``static_files() -> dict[str, bytes]``: files written once per dataset (e.g. a label map);
* ``sample(index) -> Sample``: the files of sample ``index`` (relative path -> bytes) and its
  manifest record, a pure function of ``(spec, index)`` so that any worker may make any sample;
* optionally ``final_files(records) -> dict[str, bytes]``: files made from the manifest records
  of every sample (in index order) once all are listed, e.g. the PaddleOCR label files of the
  Thai lines; ``extendable`` (default True: ``extend=True`` may add parts); ``unit`` (the
  progress bar's, default ``"doc"``).

:func:`write_dataset` lays a dataset out as::

    D/dataset.json      kind, format version, parts [{spec, start, num_samples}], complete flag,
                        checksums of the static and final files
    D/manifest.jsonl    one line per sample, in index order: index, files {path: sha256}, record
    D/<sample files>    written by the generator's paths
    D/<final files>     written when every sample is listed, before ``complete`` turns true

Guarantees: every file appears under its final name only when complete (temp file + rename);
``manifest.jsonl`` lists a sample only after all its files exist, so an interrupted run (an
error, Ctrl-C, SIGKILL) resumes from the first index it does not list (a sample made but not yet
listed is made again, with the same bytes; temp files are removed); the final files exist only
once every sample does; :func:`verify_dataset` refuses an incomplete dataset; the same spec gives
byte-identical output for any number of workers; worker processes exit when the writing process
dies; one process writes a directory at a time (a second one waits for it); a complete dataset
run again is left untouched; an output directory that holds anything else (another kind, another
spec, unrelated files) is refused unless ``extend=True`` asks to add a new part with the new spec
to an existing dataset.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ocrlab.utils.io import atomic_write_bytes, atomic_write_json
from ocrlab.utils.processes import exit_with_parent

DATASET_FILE = "dataset.json"
MANIFEST_FILE = "manifest.jsonl"
FORMAT = "ocrlab-synth-dataset/1"
log = logging.getLogger(__name__)


class DatasetConflictError(FileExistsError):
    """The output directory holds something this run must not overwrite or mix with."""


class DatasetIncompleteError(ValueError):
    """The dataset's run was interrupted: it lists fewer samples than it should hold."""


@dataclass
class Sample:
    files: dict[str, bytes]
    record: dict[str, Any] = field(default_factory=dict)


class SampleGenerator(Protocol):
    kind: str

    def spec(self) -> dict[str, Any]: ...

    def static_files(self) -> dict[str, bytes]: ...

    def sample(self, index: int) -> Sample: ...


@dataclass(frozen=True)
class DatasetSummary:
    output_dir: Path
    num_samples: int  # all parts
    made: int  # by this call
    resumed_from: int  # samples of this part that were already there


def write_dataset(
    generator: SampleGenerator,
    output_dir: str | os.PathLike[str],
    num_samples: int,
    *,
    workers: int = 1,
    extend: bool = False,
    progress: bool = True,
) -> DatasetSummary:
    """Write (or resume, or extend) a dataset of ``num_samples`` samples from ``generator``."""
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise ValueError(f"num_samples={num_samples!r}: expected an integer >= 1")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r}: expected an integer >= 1")
    out = Path(output_dir)
    spec = json.loads(json.dumps(generator.spec()))  # normalized as it will be stored
    if extend and not getattr(generator, "extendable", True):
        raise ValueError(f"{generator.kind} datasets cannot be extended: write the new samples to another directory")
    _plan_parts(out, generator, spec, num_samples, extend)  # refuse before creating anything
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise DatasetConflictError(f"output dir {out}: cannot create it ({error.strerror})") from error
    with _exclusive(out), _removed_on_failure(out, created):
        info = _plan_parts(out, generator, spec, num_samples, extend)  # again: another run may have written it
        part = info["parts"][-1]
        start, stop = part["start"], part["start"] + part["num_samples"]
        if info.get("complete") and info.get("num_samples") == stop:
            return DatasetSummary(out, stop, 0, part["num_samples"])  # nothing to do: left untouched
        _remove_temp_files(out)
        static = generator.static_files()
        for rel, data in static.items():
            atomic_write_bytes(out / rel, data)
        info["static_files"] = {rel: _sha256(data) for rel, data in sorted(static.items())}
        info["complete"] = False
        atomic_write_json(out / DATASET_FILE, info)

        done = _listed_samples(out / MANIFEST_FILE, stop)
        resumed = max(0, done - start)
        todo = range(max(start, done), stop)
        if resumed:
            log.warning("%s: resuming an interrupted run: %d of %d samples were listed", out, done, stop)
        from tqdm import tqdm

        with (
            open(out / MANIFEST_FILE, "a", encoding="utf-8", newline="\n") as manifest,
            tqdm(
                total=stop - start,
                initial=resumed,
                disable=not progress,
                desc=f"{generator.kind} -> {out}",
                unit=getattr(generator, "unit", "doc"),
            ) as bar,
            _results(generator, str(out), todo, workers) as results,
        ):
            for i, line in enumerate(results):
                manifest.write(line)
                manifest.flush()  # a killed process loses no listed sample
                if i % 64 == 63:  # bound what a machine crash can lose without an fsync per sample
                    os.fsync(manifest.fileno())
                bar.update()
            manifest.flush()
            os.fsync(manifest.fileno())
        make_final = getattr(generator, "final_files", None)
        final = make_final(iter_manifest(out)) if make_final is not None else {}
        for rel, data in final.items():
            atomic_write_bytes(out / rel, data)
        if final:
            info["final_files"] = {rel: _sha256(data) for rel, data in sorted(final.items())}
        info["complete"] = True
        info["num_samples"] = stop
        atomic_write_json(out / DATASET_FILE, info)
    return DatasetSummary(out, stop, len(todo), resumed)


def read_dataset_info(output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(output_dir) / DATASET_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as error:
        raise DatasetConflictError(f"{path}: unreadable dataset description ({error})") from error
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise DatasetConflictError(f"{path}: not an ocrlab-synth dataset (format {FORMAT!r} expected)")
    return info


def iter_manifest(output_dir: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The manifest's records in index order, one at a time (a torn last line is skipped)."""
    with open(Path(output_dir) / MANIFEST_FILE, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                yield json.loads(line)


def read_manifest(output_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The manifest's records in index order."""
    return list(iter_manifest(output_dir))


def expected_samples(info: dict[str, Any]) -> int:
    """How many samples the dataset described by ``info`` holds once complete (all parts)."""
    last = info["parts"][-1]
    return last["start"] + last["num_samples"]


def verify_dataset(output_dir: str | os.PathLike[str]) -> int:
    """Check that the dataset is complete and every listed file matches its checksum; returns
    the number of files checked.

    Raises :class:`DatasetIncompleteError` for an interrupted dataset (naming how many samples
    it lists of how many) and ``ValueError`` naming the first missing or changed file."""
    out = Path(output_dir)
    info = read_dataset_info(out)
    records = read_manifest(out) if (out / MANIFEST_FILE).exists() else []
    expected = expected_samples(info)
    if not info.get("complete") or len(records) != expected:
        state = "complete but " if info.get("complete") else "incomplete: its run was interrupted; "
        raise DatasetIncompleteError(
            f"{out}: {state}the manifest lists {len(records)} of {expected} samples; run the same "
            "command again to finish it"
        )
    listed = [*info.get("static_files", {}).items(), *info.get("final_files", {}).items()]
    for record in records:
        listed += list(record["files"].items())
    for rel, sha in listed:
        path = out / rel
        if not path.is_file():
            raise ValueError(f"{path}: listed in the manifest but missing")
        if _sha256(path.read_bytes()) != sha:
            raise ValueError(f"{path}: checksum differs from the manifest (file changed or truncated)")
    return len(listed)


def _plan_parts(
    out: Path, generator: SampleGenerator, spec: dict[str, Any], num_samples: int, extend: bool
) -> dict[str, Any]:
    """The dataset description this run writes: new, resumed, or extended by one part."""
    kind = generator.kind
    new_part = {"spec": spec, "start": 0, "num_samples": num_samples}
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return {"format": FORMAT, "kind": kind, "parts": [new_part], "num_samples": 0}
    if not out.is_dir():
        raise DatasetConflictError(f"output dir {out} exists and is not a directory")
    try:
        info = read_dataset_info(out)
    except FileNotFoundError:
        raise DatasetConflictError(
            f"output dir {out} is not empty and holds no {DATASET_FILE}: refusing to write a dataset "
            "among unrelated files; choose a new or empty directory"
        ) from None
    if info.get("kind") != kind:
        raise DatasetConflictError(
            f"output dir {out} holds a {info.get('kind')!r} dataset, not {kind!r}; choose another directory"
        )
    last = info["parts"][-1]
    if last["spec"] == spec and last["num_samples"] == num_samples:
        return info  # resume (or nothing left to do)
    if not extend:
        changed = sorted(k for k in set(spec) | set(last["spec"]) if spec.get(k) != last["spec"].get(k))
        if changed:
            details = "; ".join(
                f"{k}: existing {_short(last['spec'].get(k))} != requested {_short(spec.get(k))}" for k in changed
            )
            what = f"options {changed} differ from this run's ({details})"
        else:
            what = f"num_samples {last['num_samples']} differs from this run's {num_samples}"
        hint = "pass --extend (extend=True) to add these samples to it as a new part, or choose another directory"
        raise DatasetConflictError(
            f"output dir {out} holds another dataset (its {what}); "
            + (hint if getattr(generator, "extendable", True) else "remove it or choose another directory")
        )
    if not info.get("complete"):
        raise DatasetConflictError(
            f"output dir {out} holds an interrupted run: finish it first by running it again with the same "
            "arguments, then extend"
        )
    start = last["start"] + last["num_samples"]
    info["parts"].append(dict(new_part, start=start))
    return info


@contextlib.contextmanager
def _removed_on_failure(out: Path, created: bool) -> Iterator[None]:
    """On an error, remove ``out`` if this run created it and listed no sample in it: there is
    nothing to resume. A dataset with listed samples stays, for the next run to resume."""
    try:
        yield
    except BaseException:
        if created and _listed_samples(out / MANIFEST_FILE, sys.maxsize) == 0:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the directory ``out`` (released when the process dies, whatever
    kills it): a second writer of the same directory waits, then finds the dataset made."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another process writing %s ...", out)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _listed_samples(manifest: Path, stop: int) -> int:
    """How many samples the manifest lists; drops a torn last line left by a crash."""
    if not manifest.exists():
        return 0
    data = manifest.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        with open(manifest, "r+b") as f:
            f.truncate(len(keep))
    count = keep.count(b"\n")
    if count > stop:
        raise DatasetConflictError(f"{manifest} lists {count} samples, more than the {stop} the dataset should hold")
    return count


def _remove_temp_files(out: Path) -> None:
    """Temp files of an interrupted run: never visible as data, removed before resuming."""
    for tmp in out.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- workers -------------------------------------------------------------------------------
_worker_state: tuple[SampleGenerator, str] | None = None


def _init_worker(generator: SampleGenerator, out: str, parent_pid: int) -> None:
    global _worker_state
    exit_with_parent(parent_pid)
    _worker_state = (generator, out)


def _make_in_worker(index: int) -> str:
    assert _worker_state is not None, "_init_worker did not run in this process"
    return _make_sample(*_worker_state, index)


def _make_sample(generator: SampleGenerator, out: str, index: int) -> str:
    """Write sample ``index``'s files; returns its manifest line."""
    try:
        sample = generator.sample(index)
    except Exception as error:
        raise RuntimeError(f"{generator.kind}: making sample {index} failed: {error}") from error
    checksums = {}
    for rel, data in sample.files.items():
        atomic_write_bytes(Path(out) / rel, data, fsync=False)
        checksums[rel] = _sha256(data)
    record = {"index": index, "files": checksums, **sample.record}
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


@contextlib.contextmanager
def _results(generator: SampleGenerator, out: str, indices: range, workers: int) -> Iterator[Iterator[str]]:
    """Manifest lines in index order, made here (one worker) or by a process pool."""
    if workers == 1 or len(indices) <= 1:
        yield (_make_sample(generator, out, i) for i in indices)
        return
    # spawn, not fork: forking a parent that runs torch/tokenizer threads can deadlock.
    # ProcessPoolExecutor: a worker that dies raises BrokenProcessPool instead of hanging.
    executor = concurrent.futures.ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(generator, out, os.getpid()),
    )
    try:
        chunksize = max(1, min(16, len(indices) // (workers * 8)))
        yield executor.map(_make_in_worker, indices, chunksize=chunksize)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
