"""The text-line pieces shared by the line recognizers: the image/annotation folder reader (each bad
case a DatasetError naming its files) and the training augmentation (off: the images as before;
on: a function of (seed, epoch, item) alone, training split only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from ocrlab.datamodules import AugmentConfig, LineAugmenter, TextLineDataModule, read_image_annotation_dir
from ocrlab.datamodules.augment import TRANSFORMS
from ocrlab.datamodules.line_images import LineEncoding, LineImageSpec, image_to_tensor, open_image
from ocrlab.errors import ConfigError, DatasetError
from ocrlab.text import Charset


class LineModel:
    def data_encoder(self) -> LineEncoding:
        return LineEncoding(Charset.thai(), LineImageSpec())


def _line_image(path, text="ab 12", size=(160, 40), fmt=None):
    """Dark text on light-grey paper: every transform has ink and paper to change."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (225, 225, 225))
    draw = ImageDraw.Draw(image)
    draw.text((6, 10), text, fill=(20, 20, 20))
    draw.line([(4, 30), (size[0] - 8, 32)], fill=(40, 40, 40), width=2)
    image.save(path, fmt)
    return path


def _folder(root, samples: dict[str, str]):
    """``root/images/<stem>.png`` + ``root/annotations/<stem>.txt`` for each stem -> text."""
    for stem, text in samples.items():
        _line_image(root / "images" / f"{stem}.png", text)
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / f"{stem}.txt").write_text(text + "\n", encoding="utf-8")
    return root


# -- the image/annotation folder reader ---------------------------------------------------------


def test_folder_reader_reads_sorted_records_with_normalized_texts(tmp_path):
    root = _folder(tmp_path / "d", {"b": "สอง", "a10": "ten", "a2": "two"})
    _line_image(root / "images" / "c.JPG", fmt="JPEG")
    # no trailing newline, a UTF-8 BOM, CRLF and the decomposed SARA AM are all the one line
    (root / "annotations" / "c.txt").write_bytes("\ufeffน\u0e4d\u0e32  ดี\r\n".encode())
    (root / "images" / "._b.png").write_bytes(b"AppleDouble")  # a Mac's metadata, not an image
    recs = read_image_annotation_dir(root)
    assert [r.image_path.name for r in recs] == ["a10.png", "a2.png", "b.png", "c.JPG"]
    assert [r.label for r in recs] == ["ten", "two", "สอง", "น\u0e33 ดี"]
    assert recs[0].source == str(root / "annotations" / "a10.txt")


def test_annotations_without_images_are_counted_and_named(tmp_path):
    root = _folder(tmp_path / "d", {"a": "x"})
    for stem in ("orphan1", "orphan2", "orphan3", "orphan4", "orphan5", "orphan6"):
        (root / "annotations" / f"{stem}.txt").write_text("y", encoding="utf-8")
    Image.new("RGB", (10, 10)).save(root / "images" / "orphan1.gif")
    with pytest.raises(DatasetError) as err:
        read_image_annotation_dir(root)
    message = str(err.value)
    assert str(root) in message and "6 annotation(s) without an image in images/" in message
    assert "annotations/orphan1.txt, annotations/orphan2.txt" in message and "and 1 more" in message
    assert "found orphan1.gif, not a supported image type" in message
    assert "image(s) without" not in message


def test_images_without_annotations_are_counted_and_named(tmp_path):
    root = _folder(tmp_path / "d", {"a": "x"})
    _line_image(root / "images" / "lonely.png")
    _line_image(root / "images" / "alone.webp", fmt="WEBP")
    with pytest.raises(DatasetError, match=r"d: 2 image\(s\) without an annotation in annotations/ "
                                           r"\(expected <stem>.txt\): images/alone.webp, images/lonely.png"):
        read_image_annotation_dir(root)


def test_two_images_of_one_stem_is_an_error_naming_both(tmp_path):
    root = _folder(tmp_path / "d", {"a": "x"})
    _line_image(root / "images" / "a.jpg", fmt="JPEG")
    with pytest.raises(DatasetError, match=r"images: two files with the stem 'a': a.jpg and a.png"):
        read_image_annotation_dir(root)


@pytest.mark.parametrize(("content", "pattern"), [
    (b"", r"a.txt is empty \(0 bytes\); expected the text of the line"),
    (b"  \n\t\n", r"a.txt holds only whitespace; expected the text of the line"),
    ("บรรทัด\nสอง\n".encode(), r"a.txt holds 2 lines of text \('บรรทัด', 'สอง'\); expected one line"),
    (b"one\r\n\r\ntwo", r"a.txt holds 2 lines of text"),
    ("caf\xe9".encode("latin-1"), r"a.txt is unreadable: line 1: .*expected UTF-8 text"),
    ("ab".encode("utf-16"), r"a.txt is unreadable: it is UTF-16 .*expected UTF-8"),
], ids=["empty", "whitespace", "two-lines", "crlf-two-lines", "latin1", "utf16"])
def test_bad_annotation_is_an_error_naming_the_file(tmp_path, content, pattern):
    root = _folder(tmp_path / "d", {"a": "x", "b": "y"})
    (root / "annotations" / "a.txt").write_bytes(content)
    with pytest.raises(DatasetError, match=r"annotation .*annotations/" + pattern):
        read_image_annotation_dir(root)


def test_missing_folder_or_subfolder_says_what_is_expected(tmp_path):
    with pytest.raises(DatasetError, match=r"image/annotation dir .*nope does not exist \(expected a folder with "
                                           r"images/<stem>.png"):
        read_image_annotation_dir(tmp_path / "nope")
    root = tmp_path / "d"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    with pytest.raises(DatasetError, match=r"d: annotations/ is missing \(expected .*; it holds images/, labels/\)"):
        read_image_annotation_dir(root)
    (root / "annotations").mkdir()
    with pytest.raises(DatasetError, match=r"d holds no images and no annotations"):
        read_image_annotation_dir(root)


# -- TextLineDataModule with folders ------------------------------------------------------------


def test_data_module_reads_folders_beside_label_files(tmp_path):
    _folder(tmp_path / "train_a", {"a": "หนึ่ง", "b": "สอง"})
    _folder(tmp_path / "val", {"v": "สาม"})
    _line_image(tmp_path / "img" / "x.png")
    (tmp_path / "train.txt").write_text("img/x.png\tสี่\n", encoding="utf-8")
    dm = TextLineDataModule(data_dir=str(tmp_path), train_files=["train.txt"], train_dirs=["train_a"],
                            val_dirs=[str(tmp_path / "val")])
    dm.attach_model(LineModel())
    assert dm.has_split("train") and dm.has_split("val") and not dm.has_split("test")
    assert dm.source_files("train") == [tmp_path / "train.txt", tmp_path / "train_a"]
    assert list(dm.training_texts()) == ["สี่", "หนึ่ง", "สอง"]
    dm.setup("fit")
    assert [item["label"] for item in dm.datasets["train"]] == ["สี่", "หนึ่ง", "สอง"]
    assert len(dm.datasets["val"]) == 1
    assert dm.summary()["splits"]["val"] == [str(tmp_path / "val")]
    with pytest.raises(ConfigError, match=r"data.test_dirs must be a list of folders, .*data.test_dirs=\[t\]"):
        TextLineDataModule(data_dir=str(tmp_path), test_dirs="t")
    with pytest.raises(ConfigError, match=r"data.train_dirs has relative paths \['a'\] but data.data_dir is not set"):
        TextLineDataModule(train_dirs=["a"]).annotation_dirs("train")
    assert "data.test_dirs=[" in TextLineDataModule(data_dir=str(tmp_path)).missing_split_error("test")


def test_misspelt_folder_is_named_at_setup(tmp_path):
    _folder(tmp_path / "train", {"a": "x"})
    dm = TextLineDataModule(data_dir=str(tmp_path), train_dirs=["trian"], val_dirs=["train"])
    dm.attach_model(LineModel())
    with pytest.raises(DatasetError, match=r"image/annotation dir .*trian does not exist"):
        dm.setup("fit")


# -- augmentation --------------------------------------------------------------------------------


@pytest.fixture
def lines_dir(tmp_path):
    widths = [120, 200, 160, 90, 240, 140, 180, 110]
    samples = {f"s{i}": f"ab {i}{i}" for i in range(len(widths))}
    root = _folder(tmp_path / "lines", samples)
    for i, w in enumerate(widths):
        _line_image(root / "images" / f"s{i}.png", samples[f"s{i}"], size=(w, 40))
    return root


def _augmenting_dm(lines_dir, augment=True, seed=7, **kw) -> TextLineDataModule:
    dm = TextLineDataModule(train_dirs=[str(lines_dir)], val_dirs=[str(lines_dir)], test_dirs=[str(lines_dir)],
                            augment=augment, seed=seed, batch_size=3, **kw)
    dm.attach_model(LineModel())
    dm.setup()
    return dm


def _epoch_items(dm, epoch, num_workers=0) -> dict[str, torch.Tensor]:
    """path -> image tensor of every training item the train loader gives in ``epoch``."""
    dm.num_workers = num_workers
    loader = dm.train_dataloader()
    loader.batch_sampler.set_epoch(epoch)
    out = {}
    for batch in loader:
        for path, image, width in zip(batch["paths"], batch["images"], batch["widths"]):
            out[path] = image[:, :, :width].clone()
    return out


def test_augmentation_off_gives_the_images_as_before(lines_dir):
    spec = LineImageSpec()
    for setting in (None, False, {"enabled": False, "jpeg_p": 1.0}):
        dm = _augmenting_dm(lines_dir, augment=setting)
        train = dm.datasets["train"]
        assert dm.augment is None and train.augment is None and not train.per_epoch_items
        assert dm.train_dataloader().batch_sampler.epoch_keys is False
        for i, rec in enumerate(train.records):
            assert torch.equal(train[i]["image"], image_to_tensor(open_image(rec.image_path), spec))


def test_augmented_item_is_a_function_of_seed_epoch_and_index(lines_dir):
    dm, again = _augmenting_dm(lines_dir), _augmenting_dm(lines_dir)
    a, b = dm.datasets["train"], again.datasets["train"]
    assert a.per_epoch_items and dm.train_dataloader().batch_sampler.epoch_keys
    n = len(a)
    for i in range(n):
        assert torch.equal(a[(3, i)]["image"], b[(3, i)]["image"])  # two constructions agree
        assert torch.equal(a[i]["image"], a[(0, i)]["image"])  # a plain index is epoch 0's item
    differ = sum(not torch.equal(a[(0, i)]["image"], a[(1, i)]["image"]) for i in range(n))
    assert differ >= n - 1, "epochs should see different augmentations"
    other_seed = _augmenting_dm(lines_dir, seed=8).datasets["train"]
    assert sum(not torch.equal(a[(0, i)]["image"], other_seed[(0, i)]["image"]) for i in range(n)) >= n - 1


def test_augmentation_is_the_same_with_any_number_of_workers_and_after_a_resume(lines_dir):
    """Persistent workers started in epoch 0 give epoch 1's images in epoch 1, as a fresh loader
    set to epoch 1 (a resumed run) in the main process does."""
    dm = _augmenting_dm(lines_dir)
    dm.num_workers = 2
    loader = dm.train_dataloader()
    assert loader.persistent_workers
    running = {}
    for epoch in (0, 1):
        loader.batch_sampler.set_epoch(epoch)
        running[epoch] = {p: img[:, :, :w].clone() for batch in loader
                          for p, img, w in zip(batch["paths"], batch["images"], batch["widths"])}
    resumed = _epoch_items(_augmenting_dm(lines_dir), epoch=1, num_workers=0)
    assert running[1].keys() == resumed.keys() and len(resumed) == len(dm.datasets["train"])
    for path, image in resumed.items():
        assert torch.equal(running[1][path], image), path
    assert any(not torch.equal(running[0][p], running[1][p]) for p in resumed)


def test_validation_and_test_items_are_never_augmented(lines_dir):
    dm = _augmenting_dm(lines_dir)
    spec = LineImageSpec()
    assert dm.datasets["train"].augment is not None
    for split in ("val", "test"):
        dataset = dm.datasets[split]
        assert dataset.augment is None and not dataset.per_epoch_items
        assert dm.loader(split, shuffle=False, batch_size=3).batch_sampler.epoch_keys is False
        for i, rec in enumerate(dataset.records):
            assert torch.equal(dataset[i]["image"], image_to_tensor(open_image(rec.image_path), spec))


@pytest.mark.parametrize("name", TRANSFORMS)
def test_each_transform_changes_the_image_and_keeps_the_input_contract(lines_dir, name):
    only = {f"{t}_p": float(t == name) for t in TRANSFORMS}
    dm = _augmenting_dm(lines_dir, augment=only)
    train, spec = dm.datasets["train"], dm.spec
    augmenter = train.augment
    for i, rec in enumerate(train.records):
        source = open_image(rec.image_path).convert(spec.mode)
        out = augmenter(source, epoch=0, index=i)
        assert out.mode == source.mode
        changed = out.size != source.size or not np.array_equal(np.asarray(out), np.asarray(source))
        assert changed, f"{name} left item {i} unchanged"
        image = train[(0, i)]["image"]
        assert image.shape[:2] == (spec.channels, spec.height)
        assert spec.min_width <= image.shape[2] <= spec.max_width
        if name in ("rotation", "shear", "border"):
            # the geometric ones change the aspect ratio a little (the canvas grows or is cut)
            assert abs(image.shape[2] - train.lengths[i]) <= 0.3 * train.lengths[i], (name, i)
        else:
            assert out.size == source.size and image.shape[2] == train.lengths[i]


def test_one_transform_settings_leave_the_others_draws_alone():
    image = Image.new("L", (80, 24), 200)
    ImageDraw.Draw(image).text((4, 6), "x1", fill=20)
    base = {f"{t}_p": 0.0 for t in TRANSFORMS} | {"gaussian_noise_p": 1.0}
    a = LineAugmenter(AugmentConfig.from_setting(base), seed=1)
    b = LineAugmenter(AugmentConfig.from_setting(base | {"jpeg_quality": [10, 20], "stroke_size": 5}), seed=1)
    assert np.array_equal(np.asarray(a(image, 2, 5)), np.asarray(b(image, 2, 5)))


@pytest.mark.parametrize(("setting", "pattern"), [
    ({"rotaton_p": 0.5}, r"unknown data.augment key\(s\) \['rotaton_p'\]; allowed: \['enabled', 'stroke_p'"),
    ({"jpeg_p": 1.5}, r"data.augment.jpeg_p=1.5: expected a probability in \[0, 1\]"),
    ({"rotation_degrees": [3, -3]}, r"data.augment.rotation_degrees=\[3, -3\]: expected \[lo, hi\] with lo <= hi"),
    ({"downscale_factor": [0.0, 0.5]}, r"data.augment.downscale_factor=\[0.0, 0.5\]: .*factors in \[0.05, 1\]"),
    ({"border": 0.1}, r"data.augment.border=0.1: expected a range \[lo, hi\]"),
    ({"stroke_size": 4}, r"data.augment.stroke_size=4: expected an odd filter size >= 3"),
    ({"enabled": "yes"}, r"data.augment.enabled must be true or false, got 'yes'"),
    ("on", r"data.augment must be null, true/false or a mapping"),
])
def test_bad_augment_settings_name_the_key(setting, pattern):
    with pytest.raises(ConfigError, match=pattern):
        TextLineDataModule(augment=setting)


def test_augment_settings_from_hydra(tmp_path):
    from conftest import compose_config

    cfg = compose_config("train", ["data=paddle_labels", "data.augment.enabled=true", "data.augment.jpeg_p=0",
                                   "data.augment.rotation_degrees=[-3,3]"], tmp_path)
    config = AugmentConfig.from_setting(cfg.data.augment)
    assert config == AugmentConfig(jpeg_p=0.0, rotation_degrees=(-3, 3))
    default = compose_config("train", [], tmp_path / "default")
    assert default.data.augment.enabled is False and AugmentConfig.from_setting(default.data.augment) is None
