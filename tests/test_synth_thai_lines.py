"""Synthetic Thai text lines: degradations, fonts, text sampler, renderer, dataset writer, CLI."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocrlab.synth import line_render, thai_lines
from ocrlab.synth.cli import main
from ocrlab.synth.dataset import DatasetIncompleteError, read_dataset_info, read_manifest, verify_dataset
from ocrlab.synth.degrade import DEGRADATIONS, DegradationConfig, Degrader
from ocrlab.synth.fonts import FontNotFoundError, FontRecord, discover_fonts
from ocrlab.synth.text_sources import ThaiLineTextSampler
from ocrlab.synth.thai_lines import (
    DatasetMismatchError,
    RaqmUnavailableError,
    describe_dataset,
    ensure_thai_lines,
    generate_thai_lines,
    render_line,
)
from ocrlab.text.charset import Charset
from ocrlab.text.normalize import normalize_text

# Small images keep the dataset tests fast; every split name and count is arbitrary.
SPEC = {"splits": {"train": 10, "val": 4}, "seed": 0, "font_size": (20, 28), "progress": False}
STACKED_MARKS = ("ปั้น", "กี่", "ฤๅษี", "ผู้ใหญ่", "ญู ฐู ปิ่น ฟ้ำ")
# A consonant carrying an upper vowel and a tone mark, or a lower vowel and a tone mark.
STACKED = re.compile(r"[\u0e01-\u0e2e](?:[\u0e31\u0e34-\u0e37\u0e47]|[\u0e38\u0e39])[\u0e48-\u0e4b]")
AMOUNT = re.compile(
    r"฿\d[\d,]*\.\d\d|\d[\d,]*\.\d\d (?:บาท|THB)|(?:USD|EUR|JPY|THB|SGD|CNY|GBP) \d[\d,]*\.\d\d"
)
DATE = re.compile(r"\d{1,2} [\u0e01-\u0e4e.]+ \d{2,4}|\d\d/\d\d/\d{4}|\d{4}-\d\d-\d\d|พ\.ศ\. \d{4}")
CODE = re.compile(r"[A-Z]{2,3}-\d{4}-\d{5}|[A-Z]{2,3}#\d+|\b\d{13}\b|\d-\d{4}-\d{5}-\d\d-\d")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _labels(dataset: Path) -> list[str]:
    spec = describe_dataset(dataset)["spec"]
    lines = [
        line
        for split in spec["splits"]
        for line in (dataset / f"{split}.txt").read_text("utf-8").splitlines()
    ]
    return [line.split("\t", 1)[1] for line in lines]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_thai_lines(tmp_path_factory.mktemp("w1") / "lines", workers=1, **SPEC)


# -- dataset writer -----------------------------------------------------------------------------
def test_same_seed_is_byte_identical_for_any_worker_count(dataset: Path, tmp_path: Path) -> None:
    again = generate_thai_lines(tmp_path / "again", workers=1, **SPEC)
    two_workers = generate_thai_lines(tmp_path / "two_workers", workers=2, **SPEC)
    reference = _files(dataset)
    assert _files(again) == reference
    assert _files(two_workers) == reference


def test_different_seed_differs(dataset: Path, tmp_path: Path) -> None:
    other = generate_thai_lines(tmp_path / "seed1", workers=1, **{**SPEC, "seed": 1})
    assert (other / "manifest.jsonl").read_bytes() != (dataset / "manifest.jsonl").read_bytes()
    assert _labels(other) != _labels(dataset)
    assert (other / "images/train/000000.png").read_bytes() != (
        dataset / "images/train/000000.png"
    ).read_bytes()


def test_layout_labels_and_checksums(dataset: Path) -> None:
    """One writer for every generator: dataset.json + manifest.jsonl, and the PaddleOCR label files."""
    described = describe_dataset(dataset)
    assert described["counts"] == {"train": 10, "val": 4} and described["complete"]
    assert described["spec"]["format_version"] == thai_lines.FORMAT_VERSION
    info = read_dataset_info(dataset)
    assert info["kind"] == "thai-lines" and info["complete"] and info["num_samples"] == 14
    records = read_manifest(dataset)
    listed = {path: sha for record in records for path, sha in record["files"].items()}
    listed.update(info["final_files"])
    written = {p: hashlib.sha256(b).hexdigest() for p, b in _files(dataset).items()}
    assert listed == {p: d for p, d in written.items() if p not in ("dataset.json", "manifest.jsonl")}
    assert verify_dataset(dataset) == 14 + 2  # images + label files
    for split, count in described["counts"].items():
        lines = (dataset / f"{split}.txt").read_text("utf-8").splitlines()
        assert [line.split("\t")[0] for line in lines] == [f"images/{split}/{i:06d}.png" for i in range(count)]
        assert [line.split("\t", 1)[1] for line in lines] == [r["label"] for r in records if r["split"] == split]
        with Image.open(dataset / lines[0].split("\t")[0]) as image:
            assert image.mode == "RGB"
    assert sum(font["samples"] for font in described["fonts"]) == 14


def test_labels_are_normalized_and_encodable(dataset: Path) -> None:
    charset = Charset.thai()
    labels = _labels(dataset)
    assert len(labels) == 14
    for label in labels:
        assert normalize_text(label) == label and label
        assert charset.unknown_chars(label) == []


def test_ensure_twice_returns_the_same_dir_untouched(dataset: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in [dataset, *dataset.rglob("*")]}
    assert ensure_thai_lines(dataset, workers=2, **{**SPEC, "progress": True}) == dataset
    assert {p: p.stat().st_mtime_ns for p in [dataset, *dataset.rglob("*")]} == before


def test_different_spec_on_existing_dir_is_a_clear_error(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetMismatchError, match=r"(?s)lines.*\['seed', 'splits'\]"):
        ensure_thai_lines(dataset, **{**SPEC, "seed": 3, "splits": {"train": 11}})
    with pytest.raises(DatasetMismatchError, match="degradations"):
        ensure_thai_lines(dataset, **{**SPEC, "degradations": {"jpeg_p": 1.0}})
    (tmp_path / "not_a_dataset").mkdir()
    (tmp_path / "not_a_dataset" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetMismatchError, match=r"not_a_dataset.*holds no dataset.json"):
        ensure_thai_lines(tmp_path / "not_a_dataset", **SPEC)
    assert [p.name for p in (tmp_path / "not_a_dataset").iterdir()] == ["notes.txt"]


def test_a_dataset_of_the_earlier_layout_is_named_as_such(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "manifest.json").write_text('{"spec": {"generator": "ocrlab.synth.thai_lines"}}')
    (old / "train.txt").write_text("images/train/000000.png\tกี่\n")
    with pytest.raises(DatasetMismatchError, match=r"old holds a Thai-line dataset in the earlier layout"):
        ensure_thai_lines(old, **SPEC)
    assert sorted(p.name for p in old.iterdir()) == ["manifest.json", "train.txt"]


def test_failed_run_is_incomplete_without_label_files_and_resumes(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_render_line = thai_lines.render_line

    def render_line_failing_on_sample_3(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 4:
            raise OSError("disk on fire")
        return real_render_line(*args, **kwargs)

    monkeypatch.setattr(thai_lines, "render_line", render_line_failing_on_sample_3)
    with pytest.raises(RuntimeError, match="sample 3 of split 'train'.*disk on fire"):
        generate_thai_lines(tmp_path / "broken", workers=1, **SPEC)
    assert not list((tmp_path / "broken").glob("*.txt"))  # no label file before every image exists
    with pytest.raises(DatasetIncompleteError, match=r"broken: incomplete.*lists 3 of 14 samples"):
        verify_dataset(tmp_path / "broken")
    monkeypatch.setattr(thai_lines, "render_line", real_render_line)
    generate_thai_lines(tmp_path / "broken", workers=2, **SPEC)  # resumes
    assert _files(tmp_path / "broken") == _files(dataset)


def test_worker_failure_cleans_up_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing_font = FontRecord("Ghost", "Regular", "ghost.ttf", str(tmp_path / "ghost.ttf"), "0" * 64)
    monkeypatch.setattr(thai_lines, "discover_fonts", lambda **filters: [missing_font])
    with pytest.raises(RuntimeError, match="ghost.ttf"):
        generate_thai_lines(tmp_path / "broken", workers=2, **SPEC)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"splits": {}}, "empty"),
        ({"splits": {"Train": 3}}, "split name"),
        ({"splits": {"train": 0}}, "positive"),
        ({"splits": {"train": 2.5}}, "positive"),
        ({"splits": {"train": True}}, "positive"),
        ({"seed": -1}, "seed"),
        ({"font_size": (30, 20)}, "font_size"),
        ({"image_format": "gif"}, "image_format"),
        ({"min_chars": 0}, "min_chars"),
        ({"workers": 0}, "workers"),
        ({"degradations": {"blurr_p": 0.5}}, "blurr_p"),
        ({"text_weights": {"emoji": 1.0}}, "emoji"),
    ],
)
def test_invalid_arguments_are_rejected_before_writing(tmp_path: Path, bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_thai_lines(tmp_path / "out", **{**SPEC, **bad})
    assert not (tmp_path / "out").exists()


# -- fonts ------------------------------------------------------------------------------------------
def test_font_filters() -> None:
    fonts = discover_fonts()
    families = {f.family for f in fonts}
    assert {"Sarabun", "Kanit", "Prompt"} <= families
    assert fonts == sorted(fonts)
    held_out = discover_fonts(exclude=["kanit"])
    assert {f.family for f in held_out} == families - {"Kanit"}
    assert {f.family for f in discover_fonts(include=["Sarabun"])} == {"Sarabun"}
    sarabun = next(f for f in fonts if f.family == "Sarabun")
    assert hashlib.sha256(Path(sarabun.path).read_bytes()).hexdigest() == sarabun.sha256
    with pytest.raises(FontNotFoundError, match="Kanitt"):
        discover_fonts(exclude=["Kanitt"])
    with pytest.raises(FontNotFoundError, match="no font"):
        discover_fonts(chars="\ue000")  # a private-use character no font maps


def test_font_exclude_reaches_the_dataset(tmp_path: Path) -> None:
    out = generate_thai_lines(tmp_path / "no_kanit", workers=1, fonts_exclude=["Kanit"], **SPEC)
    assert "Kanit" not in {font["family"] for font in describe_dataset(out)["fonts"]}


# -- text ------------------------------------------------------------------------------------------
def test_sampler_mixes_thai_amounts_dates_and_codes() -> None:
    sampler = ThaiLineTextSampler()
    rng = np.random.default_rng(0)
    lines = [sampler.sample(rng) for _ in range(300)]
    charset = Charset.thai()
    for line in lines:
        assert normalize_text(line) == line
        assert charset.unknown_chars(line) == []
        assert 5 <= len(line) <= 40
    assert sum(bool(STACKED.search(line)) for line in lines) >= 20
    assert sum(bool(AMOUNT.search(line)) for line in lines) >= 10
    assert sum(bool(DATE.search(line)) for line in lines) >= 10
    assert sum(bool(CODE.search(line)) for line in lines) >= 10
    assert any(re.search("[๐-๙]", line) for line in lines)
    assert any(re.search("[A-Za-z]{3}", line) for line in lines)


def test_sampler_is_deterministic_and_respects_lengths() -> None:
    sampler = ThaiLineTextSampler(min_chars=3, max_chars=8)
    first = [sampler.sample(np.random.default_rng(i)) for i in range(50)]
    assert first == [sampler.sample(np.random.default_rng(i)) for i in range(50)]
    assert all(3 <= len(line) <= 8 for line in first)
    one_char = ThaiLineTextSampler(min_chars=1, max_chars=1, weights={"thai_words": 0, "business_term": 0})
    assert all(len(one_char.sample(np.random.default_rng(i))) == 1 for i in range(30))


# -- rendering -----------------------------------------------------------------------------------
def _ink_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of pixels far from the (corner) paper colour."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    ink = np.abs(pixels - pixels[0, 0]).max(axis=2) > 40
    return Image.fromarray(ink).getbbox()


@pytest.mark.parametrize("text", STACKED_MARKS)
def test_stacked_marks_are_inside_the_image(text: str) -> None:
    for font in {f.family: f for f in discover_fonts()}.values():  # one style per family
        image = render_line(text, font.path, 32, np.random.default_rng(0))
        box = _ink_box(image)
        assert box is not None, f"no ink for {text!r} in {font.name}"
        left, top, right, bottom = box
        assert top > 0 and left > 0 and bottom < image.height and right < image.width, (
            font.name,
            box,
            image.size,
        )
        # Same ink extent as the text drawn on a roomy canvas: nothing was cut off.
        roomy = Image.new("L", (image.width * 2, image.height * 3), 0)
        pil_font = ImageFont.truetype(font.path, 32, layout_engine=ImageFont.Layout.RAQM)
        ImageDraw.Draw(roomy).text((image.width // 2, image.height), text, font=pil_font, fill=255)
        r_left, r_top, r_right, r_bottom = Image.eval(roomy, lambda v: 255 if v > 40 else 0).getbbox()
        # (<= 2 px: the ink threshold meets anti-aliased edges at a contrast-dependent level.)
        assert abs((bottom - top) - (r_bottom - r_top)) <= 2 and abs((right - left) - (r_right - r_left)) <= 2


def test_render_refuses_to_run_without_raqm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line_render.features, "check_feature", lambda name: False)
    font = discover_fonts(include=["Sarabun"])[0]
    with pytest.raises(RaqmUnavailableError, match="RAQM"):
        render_line("กี่", font.path, 24, np.random.default_rng(0))


# -- degradations -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clean_line() -> Image.Image:
    font = discover_fonts(include=["Sarabun"])[0]
    return render_line("ผู้ใหญ่ ฿1,250.00 INV-2024-00123", font.path, 32, np.random.default_rng(0))


@pytest.mark.parametrize("name", DEGRADATIONS)
def test_each_degradation_changes_the_image_deterministically(name: str, clean_line: Image.Image) -> None:
    degrader = Degrader(DegradationConfig.from_dict({"preset": "none", f"{name}_p": 1.0}))
    out = degrader(clean_line, np.random.default_rng(7))
    again = degrader(clean_line, np.random.default_rng(7))
    assert out.mode == clean_line.mode
    assert np.array_equal(np.asarray(out), np.asarray(again))
    assert out.size != clean_line.size or not np.array_equal(np.asarray(out), np.asarray(clean_line))
    gray = degrader(clean_line.convert("L"), np.random.default_rng(7))  # any mode, any size
    assert gray.mode == "L"


def test_no_degradation_is_identity_and_stages_are_independent(clean_line: Image.Image) -> None:
    out = Degrader(DegradationConfig.none())(clean_line, np.random.default_rng(0))
    assert np.array_equal(np.asarray(out), np.asarray(clean_line))
    # Turning blur on does not move the specks drawn by a later stage (grey stays grey under blur).
    grey = Image.new("RGB", (200, 50), (128, 128, 128))
    specks_only = DegradationConfig.from_dict({"preset": "none", "salt_pepper_p": 1.0})
    blur_and_specks = DegradationConfig.from_dict(
        {"preset": "none", "salt_pepper_p": 1.0, "gaussian_blur_p": 1.0}
    )
    specks = [
        np.asarray(Degrader(c)(grey, np.random.default_rng(3))) != 128 for c in (specks_only, blur_and_specks)
    ]
    assert specks[0].any() and np.array_equal(specks[0], specks[1])


def test_unknown_or_invalid_degradation_config_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"blurr_p.*allowed keys.*gaussian_blur_p"):
        DegradationConfig.from_dict({"blurr_p": 0.3})
    with pytest.raises(ValueError, match="probability"):
        DegradationConfig.from_dict({"jpeg_p": 1.5})
    with pytest.raises(ValueError, match="lo <= hi"):
        DegradationConfig.from_dict({"rotation_degrees": [2, -2]})
    with pytest.raises(ValueError, match="preset"):
        DegradationConfig.from_dict({"preset": "heavy"})
    config = DegradationConfig.from_dict({"rotation_degrees": [-1, 1]})
    assert DegradationConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["thai-lines", "--output-dir", str(out), "--train", "3", "--val", "2", "--clean", "--no-progress"]
    assert main([*args, "--font-include", "Sarabun", "--seed", "5"]) == 0
    manifest = describe_dataset(out)
    assert manifest["counts"] == {"train": 3, "val": 2}
    assert manifest["spec"]["seed"] == 5
    assert manifest["spec"]["degradations"] == DegradationConfig.none().to_dict()
    assert {font["family"] for font in manifest["fonts"]} == {"Sarabun"}
    assert "train 3, val 2" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--font-include", "Sarabun", "--seed", "6"])
    assert exit_info.value.code == 2
    assert "seed" in capsys.readouterr().err
