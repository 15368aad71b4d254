"""The shared dataset writer: resume, determinism across workers, conflicts, extension."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ocrlab.synth.dataset import (
    DatasetConflictError,
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
