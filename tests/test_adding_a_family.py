"""README "Adding a family", tried: a family written as nothing but its own package, its config
entries and this test (outside the source tree, found through ``PYTHONPATH`` and
``hydra.searchpath``) trains with ``train.py``, learns its label space from its data through the
shared step, and evaluates from its checkpoint with ``evaluate.py``. No shared file is touched."""

from __future__ import annotations

import json
import textwrap

from conftest import run_cli

MODULE = '''
"""A toy family: the first character of a text, told from its bag of characters."""
import torch
from torch import nn
from torch.nn import functional as F

from ocrlab.lightning_modules.base import OcrModule


class FirstChar(OcrModule):
    label_space_keys = ("charset",)

    def __init__(self, charset, optimizer, scheduler=None):
        super().__init__(optimizer, scheduler)
        self.charset = charset
        self.net = nn.Linear(charset.num_classes, charset.num_classes)

    def data_encoder(self):
        return self.charset

    def forward(self, x):
        return self.net(x)

    def _step(self, batch, stage):
        logits = self(batch["x"])
        loss = F.cross_entropy(logits, batch["y"])
        n = len(batch["y"])
        self.log(f"{stage}/loss", loss, batch_size=n, on_epoch=True)
        self.log(f"{stage}/acc", (logits.argmax(-1) == batch["y"]).float().mean(), batch_size=n, on_epoch=True)
        return loss, logits

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")[0]

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def on_test_epoch_start(self):
        self.test_rows = []

    def test_step(self, batch, batch_idx):
        _, logits = self._step(batch, "test")
        for text, pred in zip(batch["text"], logits.argmax(-1).tolist(), strict=True):
            self.test_rows.append({"text": text, "prediction": self.charset.decode([pred])})

    def predict_step(self, batch, batch_idx=0):
        return [self.charset.decode([i]) for i in self(batch["x"]).argmax(-1).tolist()]
'''

DATA = '''
"""Its data: one text per line in <split>.txt."""
from pathlib import Path

import torch

from ocrlab.datamodules.base import OcrDataModule
from ocrlab.errors import DatasetError


class Texts(torch.utils.data.Dataset):
    def __init__(self, texts, charset):
        self.texts, self.charset = texts, charset
        self.lengths = [len(t) for t in texts]

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        ids = self.charset.encode(self.texts[i])
        x = torch.bincount(torch.tensor(ids), minlength=self.charset.num_classes).float()
        return {"x": x, "y": ids[0], "text": self.texts[i]}


class TextFiles(OcrDataModule):
    def __init__(self, data_dir, batch_size=4, seed=0):
        super().__init__(batch_size=batch_size, seed=seed)
        self.data_dir = Path(data_dir)

    def attach_model(self, model):
        self.charset = model.data_encoder()
        super().attach_model(model)

    def _file(self, split):
        return self.data_dir / f"{split}.txt"

    def _texts(self, split):
        if not self._file(split).is_file():
            raise DatasetError(f"{self._file(split)}: missing (one text per line)")
        return [t for t in self._file(split).read_text("utf-8").splitlines() if t]

    def training_texts(self):
        return iter(self._texts("train"))

    def has_split(self, split):
        return self._file(split).is_file()

    def source_files(self, split):
        return [self._file(split)]

    def build_dataset(self, split):
        return Texts(self._texts(split), self.charset)

    def collate(self, items):
        return {"x": torch.stack([i["x"] for i in items]), "y": torch.tensor([i["y"] for i in items]),
                "text": [i["text"] for i in items]}
'''

CONFIGS = {
    "model/first_char.yaml": """
        _target_: toyfam.module.FirstChar
        charset:
          _target_: ocrlab.text.charset.CharsetOfTrainingTexts
          name: first_char
        optimizer:
          _target_: torch.optim.Adam
          _partial_: true
          lr: 0.05
        """,
    "data/first_char_texts.yaml": """
        _target_: toyfam.data.TextFiles
        data_dir: ???
        batch_size: 4
        """,
    "experiment/first_char.yaml": """
        # @package _global_
        defaults:
          - override /data: first_char_texts
          - override /model: first_char
        monitor: {name: val/acc, mode: max}
        trainer:
          max_epochs: 4
        """,
}


def test_a_family_written_as_its_folder_configs_and_tests_trains_and_evaluates(tmp_path):
    package = tmp_path / "src" / "toyfam"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "module.py").write_text(MODULE)
    (package / "data.py").write_text(DATA)
    conf = tmp_path / "conf"
    for name, text in CONFIGS.items():
        (conf / name).parent.mkdir(parents=True, exist_ok=True)
        (conf / name).write_text(textwrap.dedent(text))
    data = tmp_path / "data"
    data.mkdir()
    words = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "honeydew"]
    for split, n in (("train", 24), ("val", 8), ("test", 8)):
        (data / f"{split}.txt").write_text("\n".join(words[i % len(words)] for i in range(n)) + "\n")
    env = {"PYTHONPATH": str(tmp_path / "src")}
    common = [f"hydra.searchpath=[file://{conf}]", f"data.data_dir={data}", f"paths.log_dir={tmp_path / 'logs'}"]
    trained = run_cli(["train.py", "experiment=first_char", "logger=csv", *common], env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    ckpt = next((tmp_path / "logs").glob("train/runs/*/checkpoints/last.ckpt"))
    import torch

    meta = torch.load(ckpt, map_location="cpu", weights_only=True)["ocrlab"]
    # the label space was learned from the training texts by the shared step, then stored
    assert sorted(meta["label_space"]["charset"]["d"]["symbols"]) == sorted(set("".join(words)))
    report = json.loads(next((tmp_path / "logs").glob("train/runs/*/training_report.json")).read_text())
    assert report["status"] == "success" and report["samples"] == {"train": 24, "val": 8, "test": 8}

    # the recorded experiment is found through hydra.searchpath: its data config is composed
    evaluated = run_cli(["evaluate.py", f"ckpt_path={ckpt}", *common], env=env)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "composing experiment=first_char" in evaluated.stderr
    metrics = json.loads(next((tmp_path / "logs").glob("eval/runs/*/metrics.json")).read_text())
    assert 0.0 <= metrics["test/acc"] <= 1.0 and "test/loss" in metrics
    rows = (next((tmp_path / "logs").glob("eval/runs/*/predictions.tsv")).read_text().splitlines())
    assert rows[0].split("\t")[:2] == ["text", "prediction"] and len(rows) == 9
