import json

import pytest
from PIL import Image

from ocrlab.datamodules import DatasetError, TextLineDataModule, read_correction_samples, read_label_file
from ocrlab.datamodules.line_images import LineEncoding, LineImageSpec, image_to_tensor
from ocrlab.datamodules.lines import collate_lines
from ocrlab.datamodules.samplers import BucketBatchSampler
from ocrlab.errors import ConfigError
from ocrlab.text import Charset


class LineModel:
    """What a text-lines data module takes from its model: the charset and the input spec."""

    def data_encoder(self) -> LineEncoding:
        return LineEncoding(Charset.thai(), LineImageSpec())


def _img(path, size=(60, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "white").save(path)
    return path


def _dm(tmp_path, files, **kw) -> TextLineDataModule:
    dm = TextLineDataModule(data_dir=str(tmp_path), test_files=files, **kw)
    dm.attach_model(LineModel())
    return dm


def test_label_file_paths_relative_to_label_file(tmp_path):
    _img(tmp_path / "img" / "a.png")
    (tmp_path / "labels.txt").write_text("img/a.png\tสวัสดี\n\n", encoding="utf-8")
    recs = read_label_file(tmp_path / "labels.txt")
    assert len(recs) == 1 and recs[0].image_path == tmp_path / "img" / "a.png"
    assert recs[0].source.endswith("labels.txt:1")


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("img/a.png no tab\n", r"labels.txt:1: no tab"),
        ("img/a.png\t   \n", r"labels.txt:1: empty label"),
        ("\tสวัสดี\n", r"labels.txt:1: empty image path"),
    ],
)
def test_malformed_label_lines(tmp_path, content, pattern):
    (tmp_path / "labels.txt").write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=pattern):
        read_label_file(tmp_path / "labels.txt")


def test_missing_and_undecodable_label_file(tmp_path):
    with pytest.raises(DatasetError, match="nope.txt does not exist"):
        read_label_file(tmp_path / "nope.txt")
    (tmp_path / "latin1.txt").write_bytes("a.png\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="latin1.txt is unreadable.*UTF-8"):
        read_label_file(tmp_path / "latin1.txt")


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda p: None, r"labels.txt:1: image .*a.png does not exist"),
        (lambda p: p.write_bytes(b""), r"labels.txt:1: image .*a.png is empty"),
        (lambda p: p.write_bytes(b"not a png at all"), r"labels.txt:1: image .*a.png is corrupt"),
        (lambda p: (_img(p, (400, 80)), p.write_bytes(p.read_bytes()[:200])), r"labels.txt:1: image .*a.png is corrupt"),
    ],
    ids=["missing", "empty", "corrupt", "truncated"],
)
def test_bad_images_fail_at_setup_naming_file_and_line(tmp_path, make, pattern):
    (tmp_path / "img").mkdir()
    make(tmp_path / "img" / "a.png")
    (tmp_path / "labels.txt").write_text("img/a.png\tสวัสดี\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=pattern):
        _dm(tmp_path, ["labels.txt"], verify_images="full").setup("test")
    # the default header check catches them all at setup too (truncation by the file's end marker)
    with pytest.raises(DatasetError, match=pattern):
        _dm(tmp_path, ["labels.txt"]).setup("test")


def test_label_outside_charset_errors_or_is_skipped_and_counted(tmp_path, caplog):
    _img(tmp_path / "a.png")
    _img(tmp_path / "b.png")
    (tmp_path / "labels.txt").write_text("a.png\tราคา中文\nb.png\tราคา\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"labels.txt:1: label .* outside the charset .*U\+4E2D"):
        _dm(tmp_path, ["labels.txt"]).setup("test")
    dm = _dm(tmp_path, ["labels.txt"], on_unknown_char="skip")
    with caplog.at_level("WARNING"):
        dm.setup("test")
    assert len(dm.datasets["test"]) == 1
    assert "labels.txt:1" in caplog.text
    assert dm.summary()["sample_warnings"] == {"skipped_unknown_chars": 1}


def test_skip_that_empties_the_train_split_names_the_option_and_its_counts(tmp_path):
    for name in "abc":
        _img(tmp_path / f"{name}.png")
    (tmp_path / "train.txt").write_text("a.png\tราคา中\nb.png\tabc中\nc.png\tΩ\n", encoding="utf-8")
    dm = TextLineDataModule(data_dir=str(tmp_path), train_files=["train.txt"], val_files=["train.txt"],
                            on_unknown_char="skip")
    dm.attach_model(LineModel())
    with pytest.raises(DatasetError) as err:
        dm.setup("fit")
    message = str(err.value)
    assert "no train lines left in" in message and "train.txt" in message
    assert "data.on_unknown_char=skip removed all 3" in message
    assert "3 for characters outside the charset 'thai'" in message
    # how many lines each character removed, the most frequent first
    assert "'中' (U+4E2D) in 2 lines" in message and "'Ω' (U+03A9) in 1 lines" in message
    assert message.index("U+4E2D") < message.index("U+03A9")


def test_correction_samples(tmp_path):
    for i in range(9):
        _img(tmp_path / f"s{i}.png")
        (tmp_path / f"s{i}.json").write_text(json.dumps({"corrected_text": f"ราคา {i}", "ocr_text": "x"}))
    with pytest.raises(DatasetError, match=r"found 9 correction samples .* at least 10"):
        read_correction_samples(tmp_path)
    _img(tmp_path / "s9.png")
    (tmp_path / "s9.json").write_text(json.dumps({"text": "no corrected_text key"}))
    with pytest.raises(DatasetError, match=r"s9.json: expected a non-empty string field 'corrected_text'"):
        read_correction_samples(tmp_path)
    (tmp_path / "s9.json").write_text(json.dumps({"corrected_text": "บาท"}))
    assert len(read_correction_samples(tmp_path)) == 10
    dm = TextLineDataModule(correction_samples_dir=str(tmp_path))
    dm.attach_model(LineModel())
    dm.setup("fit")
    assert (len(dm.datasets["train"]), len(dm.datasets["val"])) == (8, 2)
    assert not dm.has_split("test")  # this format has no test split: training skips the test phase


def test_resize_keeps_aspect_and_collate_pads():
    spec = LineImageSpec(height=32, max_width=100)
    a = image_to_tensor(Image.new("RGB", (40, 16), "white"), spec)
    b = image_to_tensor(Image.new("RGB", (400, 16), "black"), spec)
    assert a.shape == (3, 32, 80)  # height 16 -> 32, width follows
    assert b.shape == (3, 32, 100)  # clamped to max_width
    c = image_to_tensor(Image.new("RGB", (30, 30), "white"), spec)
    assert c.shape == (3, 32, 32) and float(c.max()) == 1.0
    batch = collate_lines([
        {"image": c, "label": "ab", "target": [1, 2], "path": "c"},
        {"image": b, "label": "a", "target": [1], "path": "b"},
    ])
    assert batch["images"].shape == (2, 3, 32, 100)
    assert batch["widths"].tolist() == [32, 100]
    assert batch["targets"].tolist() == [1, 2, 1] and batch["target_lengths"].tolist() == [2, 1]


def test_bucket_sampler_deterministic_per_epoch_and_sharded():
    widths = [(i * 37) % 300 + 10 for i in range(103)]
    s = BucketBatchSampler(widths, batch_size=8, seed=3, pool_batches=4)
    s.set_epoch(1)
    first = list(s)
    s2 = BucketBatchSampler(widths, batch_size=8, seed=3, pool_batches=4)
    s2.set_epoch(1)
    assert list(s2) == first  # same (seed, epoch) -> same batches, e.g. after resume
    s2.set_epoch(2)
    assert list(s2) != first
    assert sorted(i for b in first for i in b) == list(range(103))
    assert len(first) == len(s) == 13
    # within a batch widths are close: bucketing cuts padding
    spread = sum(max(widths[i] for i in b) - min(widths[i] for i in b) for b in first) / len(first)
    assert spread < 100
    ranks = [BucketBatchSampler(widths, 8, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    for r in ranks:
        r.set_epoch(1)
    parts = [list(r) for r in ranks]
    assert len(parts[0]) == len(parts[1]) == len(ranks[0]) == 7
    covered = {i for p in parts for b in p for i in b}
    assert covered == set(range(103))


def test_sampler_without_shuffle_is_stable():
    s = BucketBatchSampler([5, 1, 3], batch_size=2, shuffle=False, bucket_by_length=False)
    assert list(s) == [[0, 1], [2]]
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler([1], batch_size=0)


def test_missing_data_dir_is_an_error_naming_it_and_nothing_is_generated(tmp_path):
    typo = tmp_path / "tpyo"
    dm = _dm(typo, ["labels.txt"])
    with pytest.raises(DatasetError, match=r"data.data_dir .*tpyo does not exist"):
        dm.prepare_splits(["test"])
    with pytest.raises(DatasetError, match=r"data.data_dir .*tpyo does not exist"):
        dm.setup("test")
    assert not typo.exists()


def test_model_without_line_label_space_is_refused(tmp_path):
    import torch

    from ocrlab.lightning_modules import OcrModule

    with pytest.raises(ConfigError, match="not a text-line recognizer .*gives NoneType, not a LineEncoding"):
        TextLineDataModule(data_dir=str(tmp_path)).attach_model(OcrModule(optimizer=torch.optim.SGD))


def test_a_string_where_a_list_of_files_is_expected(tmp_path):
    with pytest.raises(ConfigError, match=r"data.train_files must be a list .*data.train_files=\[a.txt\]"):
        TextLineDataModule(data_dir=str(tmp_path), train_files="a.txt")
