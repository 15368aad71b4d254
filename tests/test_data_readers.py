"""The data readers never turn bad input into wrong data: each case is a DatasetError naming
the file (and line) and what was expected, and every valid variant (BOM, CRLF, other image
suffixes) is read in full."""

import json

import numpy as np
import pytest
from PIL import Image

from ocrlab.datamodules import lines as lines_module
from ocrlab.datamodules.labels import LineRecord, read_correction_samples, read_label_file
from ocrlab.datamodules.line_images import open_image
from ocrlab.datamodules.lines import probe_image
from ocrlab.errors import DatasetError


def _img(path, size=(60, 20), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    # noisy pixels: the compressed data is long enough to cut in the middle
    arr = (np.random.default_rng(0).random((size[1], size[0], 3)) * 255).astype("uint8")
    Image.fromarray(arr).save(path, fmt)
    return path


def _labels(tmp_path, content, name="labels.txt"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


# -- PaddleOCR label files --------------------------------------------------------------------


def test_second_label_field_is_an_error_naming_line_and_fields(tmp_path):
    path = _labels(tmp_path, "a.png\tok\nb.png\tfirst\tsecond\n")
    with pytest.raises(DatasetError, match=r"labels.txt:2: 2 label fields after image 'b.png' "
                                           r"\('first', 'second'\); expected 'image_path<TAB>label'"):
        read_label_file(path)


def test_trailing_tabs_add_nothing(tmp_path):
    recs = read_label_file(_labels(tmp_path, "a.png\tสวัสดี\t\nb.png\tบาท\t \t\n"))
    assert [r.label for r in recs] == ["สวัสดี", "บาท"]


def test_empty_first_field_then_label_is_an_error(tmp_path):
    # PaddleOCR would read the empty first field as the label
    with pytest.raises(DatasetError, match=r"labels.txt:1: 2 label fields"):
        read_label_file(_labels(tmp_path, "a.png\t\tสวัสดี\n"))


def test_utf8_bom_is_not_part_of_the_first_image_path(tmp_path):
    recs = read_label_file(_labels(tmp_path, "\ufeffimg/a.png\tสวัสดี\nimg/b.png\tบาท\n"))
    assert [r.image_path for r in recs] == [tmp_path / "img" / "a.png", tmp_path / "img" / "b.png"]
    assert "\ufeff" not in recs[0].label


def test_bom_of_a_concatenated_second_file_is_stripped(tmp_path):
    # `cat a.txt b.txt` of two files saved with a BOM
    recs = read_label_file(_labels(tmp_path, "\ufeffa.png\tหนึ่ง\n\ufeffb.png\tสอง\n"))
    assert [r.image_path.name for r in recs] == ["a.png", "b.png"]


def test_crlf_line_ends(tmp_path):
    recs = read_label_file(_labels(tmp_path, b"a.png\t\xe0\xb8\x9a\r\n\r\nb.png\tabc\r\n"))
    assert [(r.image_path.name, r.label, r.source.rsplit(":", 1)[1]) for r in recs] == [
        ("a.png", "บ", "1"), ("b.png", "abc", "3")]


def test_bom_and_crlf_together(tmp_path):
    recs = read_label_file(_labels(tmp_path, "\ufeffa.png\tx\r\nb.png\ty\r\n"))
    assert [(r.image_path.name, r.label) for r in recs] == [("a.png", "x"), ("b.png", "y")]


@pytest.mark.parametrize("sep", ["\u2028", "\x85", "\x0c", "\x1e"], ids=["U+2028", "NEL", "FF", "RS"])
def test_unicode_line_separators_inside_a_label_do_not_split_the_line(tmp_path, sep):
    # str.splitlines breaks here; PaddleOCR (universal newlines) does not
    recs = read_label_file(_labels(tmp_path, f"a.png\tราคา{sep}100\nb.png\tบาท\n"))
    assert [(r.label, r.source.rsplit(":", 1)[1]) for r in recs] == [("ราคา 100", "1"), ("บาท", "2")]


def test_label_file_that_is_a_directory_says_so(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError, match=r"label file .*train is a directory \(expected a PaddleOCR file"):
        read_label_file(tmp_path / "train")


def test_missing_label_file_still_does_not_exist(tmp_path):
    with pytest.raises(DatasetError, match=r"label file .*nope.txt does not exist \(expected a PaddleOCR file"):
        read_label_file(tmp_path / "nope.txt")


def test_empty_label_file_vs_only_blank_lines(tmp_path):
    with pytest.raises(DatasetError, match=r"label file .*labels.txt is empty \(0 bytes\)"):
        read_label_file(_labels(tmp_path, b""))
    with pytest.raises(DatasetError, match=r"label file .*labels.txt holds only blank lines"):
        read_label_file(_labels(tmp_path, "\n  \r\n\t\n"))


def test_nul_bytes_are_an_error_naming_the_line(tmp_path):
    with pytest.raises(DatasetError, match=r"labels.txt:2: NUL byte in .*expected UTF-8 text"):
        read_label_file(_labels(tmp_path, b"a.png\tok\nb.png\tx\x00y\n"))


def test_utf16_without_bom_is_caught_by_its_nul_bytes(tmp_path):
    # valid UTF-8 byte-wise (ASCII + NUL): would become an image path full of NULs
    with pytest.raises(DatasetError, match=r"labels.txt:1: NUL byte .*UTF-16"):
        read_label_file(_labels(tmp_path, "a.png\tabc\n".encode("utf-16-le")))


def test_utf16_with_bom_says_utf16(tmp_path):
    with pytest.raises(DatasetError, match=r"labels.txt is unreadable: it is UTF-16 .*expected UTF-8"):
        read_label_file(_labels(tmp_path, "a.png\tabc\n".encode("utf-16")))


def test_non_utf8_names_the_line(tmp_path):
    with pytest.raises(DatasetError, match=r"labels.txt is unreadable: line 3: .*expected UTF-8 text"):
        read_label_file(_labels(tmp_path, "a.png\tx\nb.png\ty\nc.png\tcaf\xe9\n".encode("latin-1")))


def test_detection_label_file_is_not_read_as_recognition_labels(tmp_path):
    det = json.dumps([{"transcription": "ราคา", "points": [[0, 0], [9, 0], [9, 9], [0, 9]]}], ensure_ascii=False)
    with pytest.raises(DatasetError, match=r"labels.txt:1: .*'transcription' \(a PaddleOCR detection label"):
        read_label_file(_labels(tmp_path, f"img/a.jpg\t{det}\n"))


# -- correction samples -----------------------------------------------------------------------


def _sample(directory, name, text="ราคา", image_name=None, fmt=None):
    _img(directory / (image_name or f"{name}.png"), fmt=fmt)
    (directory / f"{name}.json").write_text(json.dumps({"corrected_text": text}, ensure_ascii=False), encoding="utf-8")


def test_json_without_its_image_is_an_error_naming_it_and_the_names_looked_for(tmp_path):
    for i in range(10):
        _sample(tmp_path, f"s{i}")
    (tmp_path / "orphan.json").write_text(json.dumps({"corrected_text": "บาท"}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"correction sample .*orphan.json has no image beside it "
                                           r"\(looked for orphan.png, orphan.jpg, orphan.jpeg"):
        read_correction_samples(tmp_path)


def test_json_beside_an_unsupported_image_type_names_it(tmp_path):
    _sample(tmp_path, "a", image_name="a.gif", fmt="GIF")
    with pytest.raises(DatasetError, match=r"a.json has no image .*found a.gif, not a supported image type"):
        read_correction_samples(tmp_path, min_samples=1)


def test_upper_case_and_jpeg_suffixes_are_read(tmp_path):
    _sample(tmp_path, "a", "หนึ่ง", "a.PNG")
    _sample(tmp_path, "b", "สอง", "b.jpg", "JPEG")
    _sample(tmp_path, "c", "สาม", "c.JPEG", "JPEG")
    _sample(tmp_path, "d", "สี่", "d.Jpg", "JPEG")
    _sample(tmp_path, "e", "ห้า")
    recs = read_correction_samples(tmp_path, min_samples=5)
    assert [(r.image_path.name, r.label) for r in recs] == [
        ("a.PNG", "หนึ่ง"), ("b.jpg", "สอง"), ("c.JPEG", "สาม"), ("d.Jpg", "สี่"), ("e.png", "ห้า")]
    assert recs[0].source.endswith("a.json")


def test_readme_documents_every_correction_image_suffix_in_any_case(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = " ".join(readme[readme.index("**Correction samples**"):].split("\n\n")[0].split())
    suffixes = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"]
    for suffix in suffixes:  # each documented suffix is read, in upper case too
        assert f"`{suffix}`" in section or f"NAME{suffix}`" in section, suffix
        _sample(tmp_path, suffix[1:], "ราคา", suffix[1:] + suffix.upper())
    assert "any case" in section and "`NAME.PNG`" in section
    assert len(read_correction_samples(tmp_path, min_samples=len(suffixes))) == len(suffixes)


def test_two_images_with_one_name_is_an_error_naming_both(tmp_path):
    _sample(tmp_path, "a")
    _img(tmp_path / "a.jpg", fmt="JPEG")
    with pytest.raises(DatasetError, match=r"two images named 'a': a.jpg and a.png"):
        read_correction_samples(tmp_path, min_samples=1)


def test_image_without_json_and_too_few_samples_still_error(tmp_path):
    for i in range(9):
        _sample(tmp_path, f"s{i}")
    with pytest.raises(DatasetError, match=r"found 9 correction samples .* at least 10"):
        read_correction_samples(tmp_path)
    _img(tmp_path / "s9.JPG", fmt="JPEG")
    with pytest.raises(DatasetError, match=r"correction sample .*s9.JPG has no s9.json beside it"):
        read_correction_samples(tmp_path)


def test_order_is_sorted_by_name_whatever_the_suffix(tmp_path):
    for name, ext in [("c", "png"), ("a", "JPG"), ("b", "jpeg"), ("a10", "png"), ("a2", "PNG")]:
        _sample(tmp_path, name, name, f"{name}.{ext}", "PNG" if ext.lower() == "png" else "JPEG")
    recs = read_correction_samples(tmp_path, min_samples=1)
    assert [r.label for r in recs] == ["a", "a10", "a2", "b", "c"]


def test_json_with_a_utf8_bom_is_read(tmp_path):
    _img(tmp_path / "a.png")
    (tmp_path / "a.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"corrected_text": "บาท"}).encode())
    assert [r.label for r in read_correction_samples(tmp_path, min_samples=1)] == ["บาท"]


def test_macos_appledouble_files_are_not_samples(tmp_path):
    _sample(tmp_path, "a")
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / "._a.json").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    assert [r.image_path.name for r in read_correction_samples(tmp_path, min_samples=1)] == ["a.png"]


def test_correction_samples_dir_that_is_a_file_or_missing(tmp_path):
    (tmp_path / "f.json").write_text("{}")
    with pytest.raises(DatasetError, match=r"correction samples dir .*f.json is not a directory"):
        read_correction_samples(tmp_path / "f.json")
    with pytest.raises(DatasetError, match=r"correction samples dir .*nope does not exist"):
        read_correction_samples(tmp_path / "nope")


def test_samples_only_in_subfolders_say_subfolders_are_not_searched(tmp_path):
    _sample(tmp_path / "batch1", "a")
    with pytest.raises(DatasetError, match=r"found 0 correction samples .*subfolders are not searched: batch1"):
        read_correction_samples(tmp_path)


# -- image checks -----------------------------------------------------------------------------


def _rec(path):
    return LineRecord(path, "x", "labels.txt:7")


@pytest.mark.parametrize(("fmt", "ext"), [("PNG", "png"), ("JPEG", "jpg")])
@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_header_check_catches_truncated_png_and_jpeg(tmp_path, fmt, ext, cut):
    path = _img(tmp_path / f"a.{ext}", (300, 40), fmt)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(DatasetError, match=rf"labels.txt:7: image .*a.{ext} is corrupt or truncated: a {fmt} file ends"):
        probe_image(_rec(path))


def test_header_check_catches_jpeg_missing_only_its_end_marker(tmp_path):
    path = _img(tmp_path / "a.jpg", (300, 40), "JPEG")
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(DatasetError, match=r"labels.txt:7: image .*a.jpg is corrupt or truncated"):
        probe_image(_rec(path))


@pytest.mark.parametrize(("fmt", "ext"), [("PNG", "png"), ("JPEG", "jpg")])
def test_header_check_does_not_decode_complete_files(tmp_path, monkeypatch, fmt, ext):
    path = _img(tmp_path / f"a.{ext}", (300, 40), fmt)

    def no_decode(*a, **k):
        raise AssertionError("header mode decoded a complete file")

    monkeypatch.setattr(lines_module, "open_image", no_decode)
    assert probe_image(_rec(path)) == (300, 40)
    path.write_bytes(path.read_bytes() + b"\x00" * 512)  # zero padding after the end marker
    assert probe_image(_rec(path)) == (300, 40)


@pytest.mark.parametrize(("fmt", "ext"), [("PNG", "png"), ("JPEG", "jpg")])
def test_trailing_data_after_the_end_marker_is_decoded_not_rejected(tmp_path, fmt, ext):
    path = _img(tmp_path / f"a.{ext}", (300, 40), fmt)
    path.write_bytes(path.read_bytes() + b"trailing bytes of some tool")
    assert probe_image(_rec(path)) == (300, 40)


@pytest.mark.parametrize(("fmt", "ext"), [("BMP", "bmp"), ("WEBP", "webp"), ("TIFF", "tif")])
def test_header_check_of_other_formats_decodes(tmp_path, fmt, ext):
    path = _img(tmp_path / f"a.{ext}", (300, 40), fmt)
    assert probe_image(_rec(path)) == (300, 40)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=rf"labels.txt:7: image .*a.{ext} is corrupt"):
        probe_image(_rec(path))


@pytest.mark.parametrize("full", [False, True], ids=["header", "full"])
def test_image_path_that_is_a_directory(tmp_path, full):
    (tmp_path / "a.png").mkdir()
    with pytest.raises(DatasetError, match=r"labels.txt:7: image .*a.png is a directory \(expected an image file\)"):
        probe_image(_rec(tmp_path / "a.png"), full=full)


def test_open_image_of_a_directory_says_so(tmp_path):
    with pytest.raises(DatasetError, match=r"labels.txt:7: image .* is a directory"):
        open_image(tmp_path, "labels.txt:7")


def test_windows_path_in_a_label_file_gets_a_hint(tmp_path):
    with pytest.raises(DatasetError, match=r"does not exist \(missing image\) \(a Windows path\?"):
        probe_image(_rec(tmp_path / "img\\a.png"))


@pytest.mark.parametrize("full", [False, True], ids=["header", "full"])
def test_decompression_bomb_is_a_dataset_error(tmp_path, monkeypatch, full):
    path = _img(tmp_path / "a.png", (300, 40))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 300*40 > 2x: PIL refuses to open it
    with pytest.raises(DatasetError, match=r"labels.txt:7: image .*a.png is too large"):
        probe_image(_rec(path), full=full)
