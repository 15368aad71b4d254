"""The LayoutLMv3 multitask family: tokenizer, windows, overfitting, export, label extension."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import compose_config, model_and_data, tiny_doc_overrides
from hydra.utils import instantiate

from ocrlab.errors import CheckpointError, ConfigError, DatasetError
from ocrlab.families.layoutlmv3.inputs import DocumentInputSpec, collate_windows
from ocrlab.families.layoutlmv3.labels import DocumentLabelMap
from ocrlab.families.layoutlmv3.tokenizer import DocumentTokenizer
from ocrlab.loading import build_model, load_model

EXPERIMENT = "layoutlmv3_multitask_cpu"


def _compose(tiny_docs: Path, tmp_path: Path, extra: tuple[str, ...] = ()):
    return compose_config("train", [f"experiment={EXPERIMENT}", *tiny_doc_overrides(tiny_docs, tmp_path / "logs"),
                                    *extra], tmp_path / "run")


def _model_and_data(tiny_docs: Path, tmp_path: Path, extra: tuple[str, ...] = (), seed: int = 0):
    cfg = _compose(tiny_docs, tmp_path, extra)
    torch.manual_seed(seed)
    return model_and_data(cfg)


@pytest.fixture(scope="module")
def built(tiny_docs, tmp_path_factory):
    return _model_and_data(tiny_docs, tmp_path_factory.mktemp("layoutlmv3"))


def test_tokenizer_is_learned_from_the_training_words_and_rebuilds_from_its_config(tiny_docs, tmp_path):
    from ocrlab.families.layoutlmv3.data import DocumentDataModule
    from ocrlab.families.layoutlmv3.tokenizer import BpeOfTrainingWords

    data = DocumentDataModule(data_dir=str(tiny_docs))
    tok = BpeOfTrainingWords(vocab_size=600).fit(data)
    # the same words give the same BPE: every process of a multi-process run learns the same one
    assert BpeOfTrainingWords(vocab_size=600).fit(data).to_config() == tok.to_config()
    hf = tok.get()
    assert len(hf) <= 600 and hf.pad_token_id == 1 and hf.cls_token_id == 0
    assert hf.tokenize("Invoice")[0] == "ĠInvoice"  # a word of the training documents: learned as one piece
    again = instantiate(tok.to_config())
    words = ["Invoice", "Number:", "INV-2024-0001", "Straße"]
    assert again.get()(words, boxes=[[0, 0, 1, 1]] * 4)["input_ids"] == hf(words, boxes=[[0, 0, 1, 1]] * 4)["input_ids"]
    again.check_same(tok, "resuming")
    # a model config whose tokenizer is still to be learned is not built: it names the key
    cfg = _compose(tiny_docs, tmp_path)
    with pytest.raises(ConfigError, match=r"model.tokenizer \(BpeOfTrainingWords\) is learned from the training"):
        build_model(cfg.model)
    other = DocumentTokenizer(vocab={**again._vocab, "zzz": 599}, merges=again._merges, vocab_size=600)
    with pytest.raises(CheckpointError, match="tokenizer differs"):
        other.check_same(again, "resuming")


def test_missing_pretrained_dir_is_a_clear_error(tiny_docs, tmp_path):
    cfg = _compose(tiny_docs, tmp_path, (f"model.pretrained={tmp_path / 'nope'}",))
    with pytest.raises(ConfigError, match=r"nope.*no config.json.*no model hub"):
        build_model(cfg.model)


def test_windows_give_one_prediction_per_word_equal_to_the_unsplit_one(built):
    model, dm = built
    model.eval()
    rec = max(dm.datasets["train"].records, key=lambda r: len(r.words))
    encoder = model.data_encoder()
    page = _page(dm, rec) if model.visual else None
    split = encoder.encode(rec.words, rec.boxes, rec.labels, page)
    assert split["input_ids"].shape[0] > 1  # a long document: several overlapping windows
    # every word's first sub-token is in some window; labels only there
    covered = set(split["word_index"][split["word_index"] >= 0].tolist())
    assert covered == set(range(len(rec.words)))
    assert torch.equal(split["labels"] != -100, split["word_index"] >= 0)
    with torch.no_grad():
        batch = collate_windows([{**split, "num_words": len(rec.words)}], encoder.pad_token_id)
        words = model._documents(batch)[1][2]
        assert len(words) == 1 and words[0].shape == (len(rec.words), len(model.labels))
        # a document that fits one window: the same word logits whatever the window settings
        short_doc = rec.words[:20], rec.boxes[:20], rec.labels[:20]
        a = _word_logits(model, encoder, short_doc, DocumentInputSpec(128, 32), page)
        b = _word_logits(model, encoder, short_doc, DocumentInputSpec(512, 128), page)
        assert torch.allclose(a, b, atol=1e-5)
        # and it equals the network's own output at each word's first sub-token
        encoder.spec = DocumentInputSpec(128, 32)
        item = encoder.encode(*short_doc, page)
        inputs = {k: item[k] for k in ("input_ids", "bbox", "attention_mask")}
        if page is not None:
            inputs["pixel_values"] = item["pixel_values"][None]
        direct = model(**inputs)[2][0][item["word_index"][0] >= 0]
        assert torch.allclose(a, direct, atol=1e-5)


def _page(dm, rec):
    return dm.datasets["train"]._image(rec)


def _word_logits(model, encoder, doc, spec, page):
    encoder.spec = spec
    item = encoder.encode(*doc, page)
    batch = collate_windows([{**item, "num_words": len(doc[0])}], encoder.pad_token_id)
    return model._documents(batch)[1][2][0]


def test_window_starts_overlap_by_the_stride():
    spec = DocumentInputSpec(max_length=10, stride=3)  # 8 content tokens, step 5
    assert spec.window_starts(8) == [0]
    assert spec.window_starts(9) == [0, 5]
    assert spec.window_starts(20) == [0, 5, 10, 15]
    with pytest.raises(ValueError, match="stride"):
        DocumentInputSpec(max_length=10, stride=8)


def test_box_grid_rounds_coordinates_down_and_grid_one_keeps_them(built):
    model, _ = built
    tokenizer = model.data_encoder().tokenizer
    words, boxes = ["Total", "12.50"], [[13, 27, 99, 41], [105, 27, 219, 41]]
    exact = DocumentInputSpec(64, 8).encode(tokenizer, words, boxes)["bbox"][0]
    coarse = DocumentInputSpec(64, 8, box_grid=10).encode(tokenizer, words, boxes)["bbox"][0]
    assert exact[1].tolist() == boxes[0]  # after CLS: the first word's first sub-token
    assert coarse[1].tolist() == [10, 20, 90, 40]
    assert torch.equal(coarse, exact // 10 * 10)
    with pytest.raises(ValueError, match="box_grid"):
        DocumentInputSpec(64, 8, box_grid=0)


def test_tiny_model_overfits_a_few_documents(tiny_docs, tmp_path):
    model, dm = _model_and_data(tiny_docs, tmp_path, ("model.dropout=0.0",))
    ds = dm.datasets["train"]
    # four documents of different types, one of them a purchase order (its subtype is learned)
    picked, seen = [], set()
    for i, rec in enumerate(ds.records):
        if rec.doc_type not in seen and (rec.doc_type == "PURCHASE_ORDER" or len(picked) < 3):
            picked.append(i)
            seen.add(rec.doc_type)
        if len(picked) == 4 and "PURCHASE_ORDER" in seen:
            break
    batch = dm.collate([ds[i] for i in picked])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _step in range(300):
        tok, (doc, sub, _) = model._documents(batch)
        loss = model._loss(tok, doc, sub, batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.02:
            break
    model.eval()
    preds = model.predict_step(batch)
    truth = [model.describe(batch["words"][i], int(batch["doc_type"][i]), int(batch["po_subtype"][i]),
                            batch["word_labels"][i]) for i in range(len(picked))]
    assert [p["doc_type"] for p in preds] == [t["doc_type"] for t in truth]
    assert [p["po_subtype"] for p in preds] == [t["po_subtype"] for t in truth]
    assert any(t["po_subtype"] for t in truth)
    assert [p["fields"] for p in preds] == [t["fields"] for t in truth], f"loss {loss.item():.4f}"


def test_export_with_onnx_reloads_and_matches(built, tmp_path):
    from ocrlab.onnx_export import run_session, session

    model, _ = built
    out = model.export(tmp_path / "export", onnx=True)
    report = json.loads((out / "onnx_report.json").read_text())
    assert report["max_abs_diff"] < 1e-4
    inputs = model.example_inputs(batch_size=2, length=40)
    with torch.no_grad():
        expected = model(**inputs)
    got = run_session(session(out / "model.onnx"), inputs)
    for e, g in zip(expected, got, strict=True):
        assert g.shape == tuple(e.shape) and abs(e.numpy() - g).max() < 1e-4
    reloaded = load_model(out)
    with torch.no_grad():
        again = reloaded(**inputs)
    for e, g in zip(expected, again, strict=True):
        assert torch.equal(e, g)
    assert DocumentLabelMap.from_file(out / "label_map.json") == model.labels
    assert (out / "processor" / "tokenizer.json").is_file()


def test_predict_document_returns_fields_by_name(built):
    model, dm = built
    rec = dm.datasets["train"].records[0]
    image = dm.datasets["train"]._image(rec) if model.visual else None
    out = model.predict_document(rec.words, rec.boxes, image)
    assert out["doc_type"] in model.labels.doc_types
    assert isinstance(out["fields"], dict) and all(isinstance(v, list) for v in out["fields"].values())
    assert set(out["fields"]) <= set(model.labels.fields)


def test_appended_labels_keep_the_trained_rows(tiny_docs, tmp_path):
    cfg = _compose(tiny_docs, tmp_path, ("trainer.max_epochs=1", "trainer.max_steps=1", "test=false"))
    from ocrlab.training import train

    _, objects = train(cfg)
    general = objects["model"]
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    labels = general.labels
    extended = DocumentLabelMap([*labels.labels, "B-CUSTOM_FIELD", "I-CUSTOM_FIELD"], labels.doc_types,
                                labels.po_subtypes)

    def dataset(name: str, label_map: DocumentLabelMap) -> Path:
        """The documents with another label map, and fewer training words than the first run's."""
        data = tmp_path / name
        shutil.copytree(tiny_docs, data)
        (data / "label_map.json").write_text(json.dumps(label_map.to_dict()))
        for path in sorted((data / "train" / "annotations").iterdir())[1:]:
            path.unlink()
        return data

    domain_cfg = _compose(dataset("ext", extended), tmp_path / "d", ("model/labels=from_dataset",
                                                                     f"model.init_from={ckpt}"))
    domain, _ = model_and_data(domain_cfg, stage=None)
    old_w, new_w = general.net.token_head.weight, domain.net.token_head.weight
    assert new_w.shape[0] == old_w.shape[0] + 2
    assert torch.equal(new_w[: old_w.shape[0]], old_w)
    assert torch.equal(domain.net.backbone.embeddings.word_embeddings.weight,
                       general.net.backbone.embeddings.word_embeddings.weight)
    assert domain.tokenizer.to_config() == general.tokenizer.to_config()  # the weights', not learned again
    # another map (a label removed) is refused, naming what differs
    other = DocumentLabelMap(labels.labels[:-2], labels.doc_types, labels.po_subtypes)
    bad = _compose(dataset("other", other), tmp_path / "b", ("model/labels=from_dataset", f"model.init_from={ckpt}"))
    with pytest.raises(CheckpointError, match="label map differs"):
        model_and_data(bad, stage=None)


def test_dataset_with_another_label_map_is_refused(tiny_docs, tmp_path):
    import shutil

    data = tmp_path / "docs"
    shutil.copytree(tiny_docs, data)
    lm = json.loads((data / "label_map.json").read_text())
    lm["doc_types"] = lm["doc_types"][::-1]
    (data / "label_map.json").write_text(json.dumps(lm))
    cfg = _compose(data, tmp_path)
    _, dm = model_and_data(cfg, stage=None)
    with pytest.raises(DatasetError, match="label_map.json"):
        dm.setup("fit")


@pytest.fixture(scope="module")
def trained_run(tiny_docs, tmp_path_factory):
    from ocrlab.training import train

    tmp = tmp_path_factory.mktemp("trained")
    cfg = _compose(tiny_docs, tmp, ("trainer.max_epochs=2", "test=true"))
    metrics, _ = train(cfg)
    return tmp / "run", metrics


def test_training_reports_document_metrics_and_writes_reports(trained_run):
    run_dir, metrics = trained_run
    for key in ("val/entity_f1", "val/doc_type_acc", "val/po_subtype_acc", "val/token_acc", "test/entity_f1",
                "test/doc_type_acc", "test/doc_type_f1", "test/po_subtype_acc", "test/ms_per_doc"):
        assert key in metrics, key
    assert metrics["test/documents"] == 4
    reports = run_dir / "reports"
    report = json.loads((reports / "classification_report.json").read_text())
    assert set(report) == {"doc_type", "po_subtype", "fields"}
    assert sum(v["support"] for k, v in report["doc_type"].items() if k != "confusion_matrix") == 4
    from PIL import Image

    with Image.open(reports / "doc_type_confusion.png") as img:
        assert img.size[0] > 100
    assert "== fields" in (reports / "classification_report.txt").read_text()


def test_evaluate_scores_a_checkpoint_and_names_a_bad_annotation(trained_run, tiny_docs, tmp_path):
    import csv
    import shutil

    from ocrlab.evaluation import evaluate

    run_dir, _ = trained_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    cfg = compose_config("evaluate", [f"ckpt_path={ckpt}", f"experiment={EXPERIMENT}", f"data.data_dir={tiny_docs}",
                                      "data.synth=null", f"paths.log_dir={tmp_path}"], tmp_path / "eval")
    metrics, _ = evaluate(cfg)
    assert metrics["test/documents"] == 4 and 0.0 <= metrics["test/entity_f1"] <= 1.0
    with open(tmp_path / "eval" / "predictions.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == 4 and {"id", "doc_type", "predicted_doc_type", "predicted_fields"} <= set(rows[0])
    assert all(isinstance(json.loads(r["predicted_fields"]), dict) for r in rows)
    # words and boxes of different lengths: an error naming the file and the field, nothing written
    bad = tmp_path / "bad"
    shutil.copytree(tiny_docs, bad)
    path = min((bad / "test" / "annotations").glob("*.json"))
    doc = json.loads(path.read_text())
    doc["boxes"] = doc["boxes"][:-1]
    path.write_text(json.dumps(doc))
    cfg = compose_config("evaluate", [f"ckpt_path={ckpt}", f"experiment={EXPERIMENT}", f"data.data_dir={bad}",
                                      "data.synth=null", f"paths.log_dir={tmp_path}"], tmp_path / "eval2")
    with pytest.raises(DatasetError, match=rf"{path.name}.*boxes"):
        evaluate(cfg)
    assert not (tmp_path / "eval2" / "metrics.json").exists()


def test_evaluate_reads_a_plain_annotation_dir_and_never_generates(trained_run, tiny_docs, tmp_path):
    """The README's ``evaluate.py ckpt_path=<ckpt> data.data_dir=<annotation dir>`` under the recorded
    (generated-data) experiment: the user's documents are scored as they are, nothing is written
    among them; a dir of another format or a misspelt one is an error naming it, never generated into."""
    from ocrlab.evaluation import evaluate

    ckpt = trained_run[0] / "checkpoints" / "last.ckpt"
    own = tmp_path / "own_docs"  # what a user has: a label map and a test split, no dataset.json
    (own / "test").mkdir(parents=True)
    shutil.copy(tiny_docs / "label_map.json", own)
    shutil.copytree(tiny_docs / "test", own / "test", dirs_exist_ok=True)
    before = sorted(p.relative_to(own) for p in own.rglob("*"))

    def run(data_dir: Path, name: str):
        cfg = compose_config("evaluate", [f"ckpt_path={ckpt}", f"experiment={EXPERIMENT}", f"data.data_dir={data_dir}",
                                          f"paths.log_dir={tmp_path}"], tmp_path / name)
        return evaluate(cfg)[0]

    assert run(own, "eval")["test/documents"] == 4
    assert sorted(p.relative_to(own) for p in own.rglob("*")) == before
    paddle = tmp_path / "rec"  # a text-line dataset: the error says which format was expected
    (paddle / "images").mkdir(parents=True)
    (paddle / "test.txt").write_text("images/a.png\tabc\n")
    with pytest.raises(DatasetError, match=r"test/annotations is missing.*annotation format.*rec holds images/, test.txt"):
        run(paddle, "eval2")
    typo = tmp_path / "own_dcos"
    with pytest.raises(DatasetError, match="own_dcos does not exist"):
        run(typo, "eval3")
    assert not typo.exists()


def test_synth_config_generates_once_and_never_writes_over_other_documents(tiny_docs, tmp_path):
    from ocrlab.families.layoutlmv3 import DocumentDataModule

    out = tmp_path / "gen"
    dm = DocumentDataModule(data_dir=str(out), synth={"num_samples": 20, "seed": 1, "dpi": 40, "workers": 1})
    dm.prepare_splits(["train"])
    info = json.loads((out / "dataset.json").read_text())
    assert info["complete"] and len(list((out / "train" / "annotations").glob("*.json"))) == 16
    stamp = (out / "dataset.json").stat().st_mtime_ns
    dm.prepare_splits(["train"])  # a finished dataset is used as it is
    assert (out / "dataset.json").stat().st_mtime_ns == stamp
    # documents not generated here (no dataset.json) are never written over, whatever synth says
    import shutil

    own = tmp_path / "own"
    shutil.copytree(tiny_docs, own)
    (own / "dataset.json").unlink()
    before = sorted(p.name for p in (own / "train" / "annotations").iterdir())
    DocumentDataModule(data_dir=str(own), synth={"num_samples": 50, "seed": 9}).prepare_splits(["train"])
    assert sorted(p.name for p in (own / "train" / "annotations").iterdir()) == before
    with pytest.raises(DatasetError, match="does not exist"):
        DocumentDataModule(data_dir=str(tmp_path / "nope")).prepare_splits(["test"])


def test_freeze_by_prefix_and_gradient_checkpointing(tiny_docs, tmp_path):
    cfg = _compose(tiny_docs, tmp_path, ("model.freeze=[backbone.embeddings]", "model.gradient_checkpointing=true"))
    model, dm2 = model_and_data(cfg)
    # checkpointed blocks keep their parameter names: checkpoints load into a plain model
    assert model.state_dict().keys() == model_and_data(_compose(tiny_docs, tmp_path / "plain"), None)[0].state_dict().keys()
    frozen = {n for n, p in model.net.named_parameters() if not p.requires_grad}
    assert any(n.startswith("backbone.embeddings.") for n in frozen)
    assert all(n.startswith(("backbone.embeddings.", "backbone.encoder.rel_pos")) for n in frozen)
    model.train()
    batch = dm2.collate([dm2.datasets["train"][i] for i in range(2)])
    tok, (doc, sub, _) = model._documents(batch)
    model._loss(tok, doc, sub, batch)["loss"].backward()
    assert model.net.token_head.weight.grad is not None
    assert model.net.backbone.embeddings.word_embeddings.weight.grad is None
    bad = _compose(tiny_docs, tmp_path / "bad", ("model.freeze=[nothing]",))
    with pytest.raises(ConfigError, match="nothing.*matches no parameter"):
        model_and_data(bad, None)
