"""The shared dataset writer: resume, determinism across workers, conflicts, extension, killed runs."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import pytest
from conftest import descendants, survivors

from ocrlab.synth.dataset import (
    DatasetConflictError,
    DatasetIncompleteError,
    Sample,
    read_dataset_info,
    read_manifest,
    verify_dataset,
    write_dataset,
)


class CountingGenerator:
    """A tiny generator: sample i is two files whose bytes depend on (seed, i)."""

    kind = "counting"

    def __init__(self, seed: int = 0, fail_at: int | None = None):
        self.seed = seed
        self.fail_at = fail_at

    def spec(self) -> dict:
        return {"seed": self.seed}

    def static_files(self) -> dict[str, bytes]:
        return {"labels.txt": b"a\nb\n"}

    def sample(self, index: int) -> Sample:
        if index == self.fail_at:
            raise RuntimeError("simulated crash")
        data = hashlib.sha256(f"{self.seed}-{index}".encode()).digest() * (1 + index % 3)
        return Sample({f"data/{index:04d}.bin": data, f"meta/{index:04d}.json": json.dumps({"i": index}).encode()},
                      {"parity": index % 2})


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_writes_manifest_with_checksums_and_verifies(tmp_path):
    summary = write_dataset(CountingGenerator(), tmp_path / "d", 7, progress=False)
    assert summary.num_samples == 7 and summary.made == 7
    records = read_manifest(tmp_path / "d")
    assert [r["index"] for r in records] == list(range(7))
    assert records[3]["parity"] == 1
    for r in records:
        for rel, sha in r["files"].items():
            assert hashlib.sha256((tmp_path / "d" / rel).read_bytes()).hexdigest() == sha
    assert verify_dataset(tmp_path / "d") == 7 * 2 + 1
    (tmp_path / "d" / "data" / "0002.bin").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="0002.bin: checksum differs"):
        verify_dataset(tmp_path / "d")


def test_same_output_for_one_or_two_workers(tmp_path):
    write_dataset(CountingGenerator(seed=3), tmp_path / "one", 20, workers=1, progress=False)
    write_dataset(CountingGenerator(seed=3), tmp_path / "two", 20, workers=2, progress=False)
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")


def test_interrupted_run_resumes_to_the_same_dataset(tmp_path):
    write_dataset(CountingGenerator(seed=1), tmp_path / "full", 12, progress=False)
    with pytest.raises(RuntimeError, match="making sample 8 failed"):
        write_dataset(CountingGenerator(seed=1, fail_at=8), tmp_path / "cut", 12, progress=False)
    assert len(read_manifest(tmp_path / "cut")) == 8
    assert read_dataset_info(tmp_path / "cut")["complete"] is False
    # What a crash can leave: a torn manifest line and a temp file; neither may survive.
    with open(tmp_path / "cut" / "manifest.jsonl", "a") as f:
        f.write('{"index": 8, "fi')
    (tmp_path / "cut" / "data" / ".0009.bin.abc.tmp").write_bytes(b"half")
    summary = write_dataset(CountingGenerator(seed=1), tmp_path / "cut", 12, progress=False)
    assert summary.resumed_from == 8 and summary.made == 4
    assert tree_digest(tmp_path / "cut") == tree_digest(tmp_path / "full")
    # A complete dataset run again is left as is.
    assert write_dataset(CountingGenerator(seed=1), tmp_path / "cut", 12, progress=False).made == 0


def test_refuses_other_datasets_and_unrelated_files(tmp_path):
    write_dataset(CountingGenerator(seed=1), tmp_path / "d", 4, progress=False)
    with pytest.raises(DatasetConflictError, match=r"options \['seed'\].*--extend"):
        write_dataset(CountingGenerator(seed=2), tmp_path / "d", 4, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetConflictError, match="holds no dataset.json"):
        write_dataset(CountingGenerator(), tmp_path / "other", 2, progress=False)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"

    class OtherKind(CountingGenerator):
        kind = "other"

    with pytest.raises(DatasetConflictError, match="holds a 'counting' dataset"):
        write_dataset(OtherKind(), tmp_path / "d", 4, progress=False)


def test_extend_adds_a_part_with_new_indices(tmp_path):
    write_dataset(CountingGenerator(seed=1), tmp_path / "d", 4, progress=False)
    summary = write_dataset(CountingGenerator(seed=2), tmp_path / "d", 3, extend=True, progress=False)
    assert summary.num_samples == 7 and summary.made == 3
    info = read_dataset_info(tmp_path / "d")
    assert [(p["start"], p["num_samples"], p["spec"]["seed"]) for p in info["parts"]] == [(0, 4, 1), (4, 3, 2)]
    assert [r["index"] for r in read_manifest(tmp_path / "d")] == list(range(7))
    assert verify_dataset(tmp_path / "d") == 7 * 2 + 1


@pytest.mark.parametrize("n", [0, -3])
def test_rejects_non_positive_sample_counts(tmp_path, n):
    with pytest.raises(ValueError, match="num_samples"):
        write_dataset(CountingGenerator(), tmp_path / "d", n, progress=False)
    assert not (tmp_path / "d").exists()


def test_verify_reports_an_interrupted_dataset_as_incomplete(tmp_path):
    with pytest.raises(RuntimeError, match="making sample 5 failed"):
        write_dataset(CountingGenerator(fail_at=5), tmp_path / "cut", 9, progress=False)
    with pytest.raises(DatasetIncompleteError, match=r"cut: incomplete.*lists 5 of 9 samples.*run the same command"):
        verify_dataset(tmp_path / "cut")
    write_dataset(CountingGenerator(), tmp_path / "cut", 9, progress=False)
    assert verify_dataset(tmp_path / "cut") == 9 * 2 + 1
    # complete but a line lost (the manifest cut by hand): also refused, never counted as fine
    lines = (tmp_path / "cut" / "manifest.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "cut" / "manifest.jsonl").write_text("".join(lines[:-1]))
    with pytest.raises(DatasetIncompleteError, match="lists 8 of 9"):
        verify_dataset(tmp_path / "cut")


def test_a_run_that_lists_nothing_removes_the_dir_it_created(tmp_path):
    with pytest.raises(RuntimeError, match="making sample 0 failed"):
        write_dataset(CountingGenerator(fail_at=0), tmp_path / "new" / "d", 3, progress=False)
    assert not (tmp_path / "new" / "d").exists()
    (tmp_path / "mine").mkdir()  # an empty dir the user made stays
    with pytest.raises(RuntimeError):
        write_dataset(CountingGenerator(fail_at=0), tmp_path / "mine", 3, progress=False)
    assert (tmp_path / "mine").is_dir()


class FinalFilesGenerator(CountingGenerator):
    kind = "with-final-files"
    extendable = False

    def final_files(self, records):
        return {"index.txt": "".join(f"{r['index']} {r['parity']}\n" for r in records).encode()}


def test_final_files_come_last_and_are_verified(tmp_path):
    with pytest.raises(RuntimeError):
        write_dataset(FinalFilesGenerator(fail_at=3), tmp_path / "d", 5, progress=False)
    assert not (tmp_path / "d" / "index.txt").exists()
    write_dataset(FinalFilesGenerator(), tmp_path / "d", 5, progress=False)
    assert (tmp_path / "d" / "index.txt").read_text() == "0 0\n1 1\n2 0\n3 1\n4 0\n"
    assert verify_dataset(tmp_path / "d") == 5 * 2 + 1 + 1
    (tmp_path / "d" / "index.txt").write_text("0 0\n")
    with pytest.raises(ValueError, match="index.txt: checksum differs"):
        verify_dataset(tmp_path / "d")
    with pytest.raises(ValueError, match="cannot be extended"):
        write_dataset(FinalFilesGenerator(seed=4), tmp_path / "d", 5, extend=True, progress=False)
    with pytest.raises(DatasetConflictError, match=r"seed: existing 0 != requested 4.*remove it or choose another"):
        write_dataset(FinalFilesGenerator(seed=4), tmp_path / "d", 5, progress=False)


def test_a_complete_dataset_run_again_is_untouched(tmp_path):
    write_dataset(CountingGenerator(), tmp_path / "d", 4, progress=False)
    before = {p: p.stat().st_mtime_ns for p in [tmp_path / "d", *(tmp_path / "d").rglob("*")]}
    summary = write_dataset(CountingGenerator(), tmp_path / "d", 4, workers=2, progress=False)
    assert (summary.made, summary.num_samples) == (0, 4)
    assert {p: p.stat().st_mtime_ns for p in [tmp_path / "d", *(tmp_path / "d").rglob("*")]} == before


@pytest.mark.parametrize(
    "args",
    [
        ["business-docs", "--num-samples", "300", "--dpi", "40", "--seed", "5"],
        ["thai-lines", "--train", "1200", "--max-chars", "12", "--seed", "5"],
    ],
    ids=["business-docs", "thai-lines"],
)
def test_sigkill_leaves_no_process_and_the_rerun_resumes(tmp_path, args):
    """SIGKILL the CLI (only the parent) while 2 workers run: within seconds no process it started
    (workers, resource tracker) is left, and the same command run again finishes the dataset."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "d"
    command = [sys.executable, "-m", "ocrlab.synth", *args, "--output-dir", str(out), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        manifest = out / "manifest.jsonl"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (not manifest.exists() or manifest.read_bytes().count(b"\n") < 20):
            time.sleep(0.02)
        started = descendants(proc.pid)
        assert len(started) >= 2, f"expected the 2 workers to be running, found {started}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        listed = manifest.read_bytes().count(b"\n")
        left = survivors(started)
        assert not left, f"processes left after the parent was killed: {left}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert read_dataset_info(out)["complete"] is False
    with pytest.raises(DatasetIncompleteError, match=f"lists {listed} of"):
        verify_dataset(out)
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert f"resuming an interrupted run: {listed} of" in done.stderr
    assert verify_dataset(out) > 0
    assert not list(out.rglob("*.tmp"))
