"""The one step between data and model: label spaces learned from the prepared training split,
before the model is built (or taken from a resumed checkpoint), never halfway through training."""

from __future__ import annotations

import pytest
from conftest import compose_config

from ocrlab import label_spaces
from ocrlab.datamodules.base import OcrDataModule
from ocrlab.errors import ConfigError, DatasetError
from ocrlab.label_spaces import fit_label_spaces
from ocrlab.loading import build_model
from ocrlab.text import Charset


class GeneratedTexts(OcrDataModule):
    """Training texts that exist only once ``prepare_splits`` ran (as generated data)."""

    def __init__(self, texts: list[str], appear_after: int = 0):
        super().__init__()
        self.texts, self.appear_after = texts, appear_after
        self.prepared: list[tuple[str, ...]] = []
        self.reads = 0

    def prepare_splits(self, splits):
        self.prepared.append(tuple(splits))

    def training_texts(self):
        self.reads += 1
        if not self.prepared and self.reads <= self.appear_after:
            raise DatasetError("train.txt: not there yet")
        if not self.prepared and not self.appear_after:
            raise DatasetError("train.txt: the data was never prepared")
        return iter(self.texts)


def _crnn_config(tmp_path, charset: str):
    return compose_config("train", ["model=crnn", f"model/charset={charset}"], tmp_path / "run").model


def test_a_charset_is_learned_from_the_prepared_training_texts_before_the_model_is_built(tmp_path):
    cfg = _crnn_config(tmp_path, "from_label_files")
    data = GeneratedTexts(["กข 12", "abc"])
    fitted = fit_label_spaces(cfg, data)
    assert data.prepared == [("train",)]  # prepared (generated when missing) before anything is read
    expected = Charset.from_texts(["กข 12", "abc"], name="from_label_files")
    assert fitted["charset"] == expected.to_config()
    assert cfg.charset._target_ == "ocrlab.text.charset.CharsetOfTrainingTexts"  # the input config is unchanged
    model = build_model(fitted)
    assert model.charset == expected and model.net.head.out_channels == expected.num_classes
    with pytest.raises(ConfigError, match=r"model.charset \(CharsetOfTrainingTexts\) is learned from the training"):
        build_model(cfg)


def test_a_resumed_checkpoint_s_label_space_is_used_and_no_data_is_read(tmp_path):
    cfg = _crnn_config(tmp_path, "from_label_files")
    stored = Charset.from_texts(["xyz"], name="from_label_files").to_config()
    data = GeneratedTexts(["something else"])
    fitted = fit_label_spaces(cfg, data, stored={"charset": stored})
    assert fitted["charset"] == stored and data.prepared == [] and data.reads == 0


def test_a_complete_label_space_prepares_and_reads_nothing(tmp_path):
    data = GeneratedTexts(["abc"])
    fitted = fit_label_spaces(_crnn_config(tmp_path, "thai"), data)
    assert fitted["charset"] == {"_target_": "ocrlab.text.Charset.thai"}
    assert data.prepared == [] and data.reads == 0


def test_a_process_that_is_not_its_node_s_first_waits_for_the_data_and_prepares_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(label_spaces, "WAIT_STEP_S", 0.0)
    data = GeneratedTexts(["abc"], appear_after=2)  # the first process writes it meanwhile
    fitted = fit_label_spaces(_crnn_config(tmp_path, "from_label_files"), data)
    assert data.prepared == [] and data.reads == 3
    assert fitted["charset"] == Charset.from_texts(["abc"], name="from_label_files").to_config()
    monkeypatch.setenv("LOCAL_RANK", "0")  # the first process: missing data is an error at once
    first = GeneratedTexts(["abc"], appear_after=5)
    first.prepare_splits = lambda splits: None  # its preparing wrote nothing
    with pytest.raises(DatasetError, match="not there yet"):
        fit_label_spaces(_crnn_config(tmp_path, "from_label_files"), first)
    assert first.reads == 1
