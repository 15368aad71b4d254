"""The Thai-line generator's typeface pool and line styles, and the held-out-typeface benchmark:
every pool face draws the characters it claims (a fallback draws what a Thai-only face lacks, and a
face is never given a line it cannot draw), the dataset lists its faces and their shares, the
line-style effects each change the drawing, and the benchmark never trains on a held-out family
and runs Tesseract on the very lines the model reads."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from ocrlab.synth.dataset import iter_manifest
from ocrlab.synth.fonts import (
    DEFAULT_FALLBACKS,
    FontNotFoundError,
    FontRecord,
    discover_fonts,
    required_chars,
)
from ocrlab.synth.line_render import STYLE_EFFECTS, LineStyle, _load_font, clusters, font_runs, render_line
from ocrlab.synth.text_sources import ThaiLineTextSampler
from ocrlab.synth.thai_lines import ThaiLineGenerator, build_spec, describe_dataset, generate_thai_lines
from ocrlab.text.charset import Charset

ROOT = Path(__file__).resolve().parents[1]
POOL = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/data/thai_lines.yaml").synth.font_shares)


def _pool() -> list[FontRecord]:
    return discover_fonts(fallbacks=DEFAULT_FALLBACKS)


def test_the_configured_pool_is_installed_and_wide() -> None:
    families = {f.family for f in _pool()}
    assert set(POOL) <= families, f"pool families not installed: {set(POOL) - families} (run scripts/setup.sh)"
    assert len(POOL) >= 20 and {"Noto Sans Thai", "Noto Serif Thai", "Noto Looped Thai", "Arundina Sans"} <= set(POOL)


def test_every_pool_face_draws_the_characters_it_claims() -> None:
    """Each claimed character, drawn through the face's runs (fallback included), leaves ink."""
    needed = [c for c in required_chars()]
    for face in (f for f in _pool() if f.family in POOL):
        for ch in needed:
            if ch in face.missing:
                continue
            ((run, path),) = font_runs(ch, face.path, face.fallback_path)
            bbox = _load_font(path, 24).getmask(run).getbbox()
            assert bbox is not None, f"{face.filename} (fallback {face.fallback_path}) draws no ink for {ch!r}"


def test_a_thai_only_face_gets_its_latin_and_digits_from_the_fallback() -> None:
    noto = next(f for f in _pool() if f.filename == "NotoSansThai-Regular.ttf")
    assert noto.fallback_path and Path(noto.fallback_path).name == "NotoSans-Regular.ttf" and noto.missing == ""
    # Without its fallback the face lacks digits and Latin: recorded as missing, or (strict) not usable
    alone = next(f for f in discover_fonts(fallbacks={}) if f.filename == "NotoSansThai-Regular.ttf")
    assert {"0", "9", "A", "z"} <= set(alone.missing) and alone.fallback_path is None
    assert "Noto Sans Thai" not in {f.family for f in discover_fonts()}
    runs = font_runs("ราคา 12.50 บาท", noto.path, noto.fallback_path)
    assert [path for _, path in runs] == [noto.path, noto.fallback_path, noto.path]
    assert "".join(text for text, _ in runs) == "ราคา 12.50 บาท"
    image = render_line("ราคา 12.50 บาท", noto.path, 32, np.random.default_rng(0), fallback_path=noto.fallback_path)
    ink = np.asarray(image.convert("L")) < 128
    assert ink[:, image.width // 2:].sum() > 0 and ink.any(axis=0).sum() > image.width // 3


def test_a_face_is_never_given_a_line_it_cannot_draw() -> None:
    sarabun = discover_fonts(include=["Sarabun"])[0]
    no_digits = FontRecord("No Digits", "Regular", "nodigits.ttf", sarabun.path, "0" * 64, missing="0123456789")
    spec = build_spec({"train": 1}, 0)
    gen = ThaiLineGenerator(spec, [sarabun, no_digits])
    rng = np.random.default_rng(0)
    picks = collections.Counter(gen.pick_font("เลขที่ 123", rng).family for _ in range(200))
    assert picks == {"Sarabun": 200}
    picks = collections.Counter(gen.pick_font("ยอดรวม", rng).family for _ in range(400))
    assert 150 < picks["No Digits"] < 250  # equal shares when both can draw it
    with pytest.raises(FontNotFoundError, match="can draw"):
        ThaiLineGenerator(spec, [no_digits]).pick_font("123", rng)


def test_the_dataset_lists_its_faces_and_shares(tmp_path: Path) -> None:
    out = generate_thai_lines(tmp_path / "lines", splits={"train": 160}, seed=0, workers=1, progress=False,
                              font_size=(20, 24), font_shares={"Sarabun": 3.0, "Kanit": 1.0, "Prompt": 0.0},
                              style={"preset": "none"}, degradations={"preset": "none"})
    fonts = describe_dataset(out)["fonts"]
    share = collections.defaultdict(float)
    for font in fonts:
        share[font["family"]] += font["share"]
    assert share == pytest.approx({"Sarabun": 0.75, "Kanit": 0.25})  # Prompt's share is 0: not in the pool
    drawn = collections.Counter(r["family"] for r in iter_manifest(out))
    assert set(drawn) == {"Sarabun", "Kanit"} and 0.6 < drawn["Sarabun"] / 160 < 0.9
    assert {r["font"] for r in iter_manifest(out)} <= {f["filename"] for f in fonts}


def test_a_pool_family_that_is_not_installed_names_its_package(tmp_path: Path) -> None:
    with pytest.raises(FontNotFoundError, match="Nonexistent Sans"):
        generate_thai_lines(tmp_path / "x", splits={"train": 2}, progress=False,
                            font_shares={"Sarabun": 1.0, "Nonexistent Sans": 1.0})
    assert not (tmp_path / "x").exists()


# -- line styles -------------------------------------------------------------------------------------
@pytest.mark.parametrize("effect", [e for e in STYLE_EFFECTS if e != "small"])
def test_each_style_effect_changes_the_drawing(effect: str) -> None:
    font = discover_fonts(include=["Sarabun"])[0]
    text, neighbours = "ผู้ใหญ่ ฿1,250.00 INV-2024", ["บรรทัดบน 99", "ปิ่นปั้น"]
    plain = render_line(text, font.path, 28, np.random.default_rng(3), style=LineStyle.none(), neighbours=neighbours)
    style = LineStyle.from_dict({"preset": "none", f"{effect}_p": 1.0})
    styled = render_line(text, font.path, 28, np.random.default_rng(3), style=style, neighbours=neighbours)
    assert styled.size != plain.size or not np.array_equal(np.asarray(styled), np.asarray(plain))
    assert 0.5 < styled.height / plain.height < 2.0


def test_small_print_draws_small_text() -> None:
    font = discover_fonts(include=["Sarabun"])[0]
    style = LineStyle.from_dict({"preset": "none", "small_p": 1.0, "small_font_size": [12, 12]})
    small = render_line("ยอดรวม 1,250.00", font.path, 40, np.random.default_rng(0), style=style)
    big = render_line("ยอดรวม 1,250.00", font.path, 40, np.random.default_rng(0))
    assert small.width < big.width * 0.5


def test_letter_spacing_keeps_marks_on_their_base() -> None:
    assert clusters("ผู้ใหญ่") == ["ผู้", "ใ", "ห", "ญ่"]
    font = discover_fonts(include=["Sarabun"])[0]
    loose = LineStyle.from_dict({"preset": "none", "letter_spacing_p": 1.0, "letter_spacing": [0.3, 0.3]})
    wide = render_line("ผู้ใหญ่ปั้น", font.path, 30, np.random.default_rng(0), style=loose)
    plain = render_line("ผู้ใหญ่ปั้น", font.path, 30, np.random.default_rng(0))
    assert wide.width > plain.width + 6 * 0.3 * 30 * 0.8


def test_style_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="underlines"):
        LineStyle.from_dict({"underlines_p": 0.5})
    with pytest.raises(ValueError, match="probability"):
        LineStyle.from_dict({"bold_p": 2})
    assert LineStyle.from_dict(LineStyle().to_dict()) == LineStyle()


def test_document_text_kinds_fit_the_charset() -> None:
    kinds = {"person_name": 1.0, "address": 1.0, "company": 1.0}
    sampler = ThaiLineTextSampler(20, 60, {k: (kinds.get(k, 0.0)) for k in ThaiLineTextSampler.resolve_weights(None)})
    charset = Charset.thai()
    lines = [sampler.sample(np.random.default_rng(i)) for i in range(200)]
    assert all(20 <= len(line) <= 60 and not charset.unknown_chars(line) for line in lines)
    assert len(set(lines)) == 200 and sum(any("a" <= c <= "z" for c in line) for line in lines) > 5


# -- the held-out-typeface benchmark -----------------------------------------------------------------
@pytest.mark.slow
def test_unseen_typefaces_benchmark_holds_families_out_and_scores_tesseract_on_the_same_lines(tmp_path) -> None:
    out = tmp_path / "unseen.json"
    proc = subprocess.run([sys.executable, "bench/unseen_typefaces.py", "--quick", "--output", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    held_out = set(json.loads(out.read_text())["method"]["held_out"])
    train_families = {r["family"] for r in iter_manifest(Path(results["train_data_dir"]))}
    assert train_families and not train_families & held_out
    for name, test in results["tests"].items():
        families = {r["family"] for r in iter_manifest(Path(test["dir"]))}
        assert families <= held_out if test["group"] == "held-out" else not families & held_out, name
    assert set(results["tesseract"]) == {f"held-out {v}" for v in ("clean", "degraded", "small_noisy")}
    for name, row in results["tesseract"].items():
        assert row["images"] == results["rows"][name]["images"] and len(row["images"]) == row["lines"] >= 12
        assert 0 <= row["cer"] and 0 <= results["rows"][name]["cer"]
