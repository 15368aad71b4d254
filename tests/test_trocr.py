"""The TrOCR family: distillation losses against hand computations, the frozen teacher, the
pseudo-label cache, the student copied from the teacher, LoRA, and the plain transformers export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import compose_config, tiny_overrides

from ocrlab.errors import ConfigError
from ocrlab.families.trocr.kd_losses import generalized_jsd, token_kd_loss
from ocrlab.loading import export_model, load_checkpoint, load_model
from ocrlab.training import train


# -- losses --------------------------------------------------------------------------------------
def _softmax(row: list[float]) -> list[float]:
    e = [math.exp(x) for x in row]
    return [x / sum(e) for x in e]


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


@pytest.mark.parametrize(("temperature", "alpha"), [(1.0, 0.5), (5.0, 0.5), (2.0, 0.3), (5.0, 1.0)])
def test_token_kd_loss_equals_its_hand_computation(temperature, alpha):
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 4, generator=g)
    targets = torch.tensor([[1, 2, -100], [3, -100, -100]])  # padding: 3 of 6 positions
    kept = [(0, 0), (0, 1), (1, 0)]
    kl = sum(_kl(_softmax((teacher[b, t] / temperature).tolist()), _softmax((student[b, t] / temperature).tolist()))
             for b, t in kept) / 3
    ce = sum(-math.log(_softmax(student[b, t].tolist())[int(targets[b, t])]) for b, t in kept) / 3
    total, got_kl, got_ce = token_kd_loss(student, teacher, targets, temperature, alpha)
    assert got_kl.item() == pytest.approx(kl, rel=1e-5) and got_ce.item() == pytest.approx(ce, rel=1e-5)
    assert total.item() == pytest.approx(alpha * kl * temperature**2 + (1 - alpha) * ce, rel=1e-5)
    # what the padding holds does not count
    student[0, 2] += 100.0
    assert token_kd_loss(student, teacher, targets, temperature, alpha)[0].item() == pytest.approx(total.item())


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 0.2])
def test_generalized_jsd_equals_its_hand_computation(beta):
    g = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(1, 3, 5, generator=g), torch.randn(1, 3, 5, generator=g)
    mask = torch.tensor([[True, True, False]])
    values = []
    for t in range(2):
        s, te = _softmax(student[0, t].tolist()), _softmax(teacher[0, t].tolist())
        if beta == 0.0:
            values.append(_kl(te, s))  # forward KL(teacher || student)
        elif beta == 1.0:
            values.append(_kl(s, te))  # reverse KL(student || teacher)
        else:
            m = [beta * a + (1 - beta) * b for a, b in zip(te, s, strict=True)]
            values.append(beta * _kl(te, m) + (1 - beta) * _kl(s, m))
    assert generalized_jsd(student, teacher, mask, beta).item() == pytest.approx(sum(values) / 2, rel=1e-5)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_jsd_is_zero_only_for_the_same_distribution(beta):
    logits = torch.randn(1, 2, 6)
    mask = torch.ones(1, 2, dtype=torch.bool)
    assert generalized_jsd(logits, logits, mask, beta).item() == pytest.approx(0.0, abs=1e-6)
    assert generalized_jsd(logits, torch.randn(1, 2, 6), mask, beta).item() > 1e-4


# -- training runs on the tiny lines ---------------------------------------------------------------
def _overrides(tiny_lines: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [*tiny_overrides(tiny_lines, tmp_path / "logs"), "model/trocr_net=tiny", "trainer.max_epochs=1",
            "trainer.max_steps=3", "++trainer.limit_val_batches=1", "test=false", *extra]


def _run(tiny_lines, tmp_path, name, *extra):
    return train(compose_config("train", _overrides(tiny_lines, tmp_path, *extra), tmp_path / name))


def test_teacher_is_frozen_and_absent_from_the_students_checkpoint(tiny_lines, tiny_trocr_teacher, tmp_path):
    teacher_before = {k: v.clone() for k, v in load_model(tiny_trocr_teacher).state_dict().items()}
    _, objects = _run(tiny_lines, tmp_path, "kd", "experiment=trocr_distill_cpu", f"model.teacher={tiny_trocr_teacher}",
                      "model.distill.mode=logits")
    student = objects["model"]
    teacher = student._teacher.module
    assert not teacher.training and all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(torch.equal(v, teacher_before[k]) for k, v in teacher.state_dict().items())
    optimizer = objects["trainer"].optimizers[0]
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not in_optimizer & {id(p) for p in teacher.parameters()}
    ckpt = load_checkpoint(tmp_path / "kd" / "checkpoints" / "last.ckpt")
    assert set(ckpt["state_dict"]) == set(student.state_dict())  # the student's weights, nothing of the teacher
    assert ckpt["ocrlab"]["model_config"]["_target_"] == "ocrlab.families.trocr.module.TrOCR"
    assert "teacher" not in ckpt["ocrlab"]["model_config"]
    # the student loads and reads without its teacher
    assert type(load_model(tmp_path / "kd" / "checkpoints" / "last.ckpt")).__name__ == "TrOCR"


def test_sequence_mode_caches_the_teachers_text_and_reuses_it(tiny_lines, tiny_trocr_teacher, tmp_path, monkeypatch):
    from ocrlab.families.trocr import pseudo_labels

    calls = []
    real = pseudo_labels._generate
    monkeypatch.setattr(pseudo_labels, "_generate", lambda *a: calls.append(1) or real(*a))
    common = ["experiment=trocr_distill_cpu", f"model.teacher={tiny_trocr_teacher}", "model.distill.mode=sequence",
              f"model.distill.cache_dir={tmp_path / 'cache'}"]
    _, first = _run(tiny_lines, tmp_path, "first", *common)
    _, second = _run(tiny_lines, tmp_path, "second", *common)
    assert len(calls) == 1  # generated once, read from the cache the second time
    cached = list((tmp_path / "cache").glob("teacher_*.jsonl"))
    assert len(cached) == 1
    assert first["model"].teacher_texts == second["model"].teacher_texts
    rows = [json.loads(line) for line in cached[0].read_text().splitlines()]
    assert {Path(r["image"]).name for r in rows} <= {Path(p).name for p in first["model"].teacher_texts}


def test_a_teacher_that_reads_nothing_leaves_the_ground_truth(tiny_lines, tiny_trocr_teacher, tmp_path, monkeypatch):
    """An untrained teacher ends every line at once: the lines keep their labels, nothing is cached."""
    from ocrlab.families.trocr import pseudo_labels

    monkeypatch.setattr(pseudo_labels, "_generate", lambda module, records, trainer: {str(r.image_path): ""
                                                                                      for r in records})
    _, objects = _run(tiny_lines, tmp_path, "empty", "experiment=trocr_distill_cpu", "model.distill.mode=sequence",
                      f"model.teacher={tiny_trocr_teacher}", f"model.distill.cache_dir={tmp_path / 'cache'}")
    student = objects["model"]
    assert student.teacher_texts == {}
    assert not list((tmp_path / "cache").glob("teacher_*.jsonl"))
    batch = next(iter(objects["datamodule"].train_dataloader()))
    assert torch.equal(student.sequence_targets(batch), student.decoder_targets(batch))  # the labels themselves


def test_teacher_outputs_file_is_the_students_text(tiny_lines, tmp_path):
    from ocrlab.datamodules.labels import read_label_file
    from ocrlab.datamodules.teacher_outputs import write_teacher_outputs

    records = read_label_file(tiny_lines / "train.txt")
    path = write_teacher_outputs(tmp_path / "teacher.jsonl", [{"image": str(r.image_path), "text": "TEACHER"}
                                                             for r in records[:10]])
    _, objects = _run(tiny_lines, tmp_path, "ext", "experiment=trocr_distill_cpu", f"model.teacher_outputs={path}",
                      "model.distill.mode=sequence", "model.student.tokenizer=own")
    texts = objects["model"].teacher_texts
    assert len(texts) == 10 and set(texts.values()) == {"TEACHER"}
    # an image that is not in the data is refused, naming it
    bad = write_teacher_outputs(tmp_path / "bad.jsonl", [{"image": str(tmp_path / "nowhere.png"), "text": "x"}])
    with pytest.raises(Exception, match="nowhere.png"):
        _run(tiny_lines, tmp_path, "bad", "experiment=trocr_distill_cpu", f"model.teacher_outputs={bad}",
             "model.distill.mode=sequence", "model.student.tokenizer=own")


def test_student_from_teacher_copies_the_layers_it_says(tiny_lines, tiny_trocr_teacher, tmp_path):
    from ocrlab.families.trocr import net as trocr_net

    teacher = load_model(tiny_trocr_teacher)
    # a 3-layer teacher copied into a 2-layer student: layers 0 and 2
    t_net = trocr_net.build_network({**trocr_net.architecture(teacher.net)["encoder"], "num_hidden_layers": 3},
                                    {**trocr_net.architecture(teacher.net)["decoder"], "decoder_layers": 3},
                                    teacher.tokenizer)
    s_net = trocr_net.build_network({**trocr_net.architecture(teacher.net)["encoder"], "num_hidden_layers": 2},
                                    {**trocr_net.architecture(teacher.net)["decoder"], "decoder_layers": 2},
                                    teacher.tokenizer)
    maps = trocr_net.copy_from_teacher(s_net, t_net)
    assert maps == {"encoder": [0, 2], "decoder": [0, 2]}
    for i, j in enumerate(maps["encoder"]):
        for (_, a), (_, b) in zip(trocr_net.encoder_layers(s_net)[i].state_dict().items(),
                                  trocr_net.encoder_layers(t_net)[j].state_dict().items(), strict=True):
            assert torch.equal(a, b)
    for i, j in enumerate(maps["decoder"]):
        assert torch.equal(trocr_net.decoder_layers(s_net)[i].fc1.weight, trocr_net.decoder_layers(t_net)[j].fc1.weight)
    assert torch.equal(s_net.decoder.output_projection.weight, t_net.decoder.output_projection.weight)
    assert trocr_net.spread_layers(12, 6) == [0, 2, 4, 7, 9, 11]
    # through the config: the student has the teacher's widths and its own depth
    _, objects = _run(tiny_lines, tmp_path, "init", "experiment=trocr_distill_cpu", f"model.teacher={tiny_trocr_teacher}",
                      "model.student.init=from_teacher", "trainer.max_steps=1")
    assert objects["model"].copied_layers == {"encoder": [0], "decoder": [0]}


def test_vocabulary_mismatch_is_refused_naming_both_sizes(tiny_lines, tiny_trocr_teacher, tmp_path):
    with pytest.raises(ConfigError, match=r"teacher's tokenizer has \d+ entries and the student's \d+.*sequence"):
        _run(tiny_lines, tmp_path, "mm", "experiment=trocr_distill_cpu", f"model.teacher={tiny_trocr_teacher}",
             "model.student.tokenizer=own", "model.tokenizer.unit=bpe", "model.tokenizer.charset=null",
             "model.tokenizer.vocab_size=300", "model.distill.mode=logits")


def test_teacher_and_student_inputs_must_agree_for_token_level_modes(tiny_lines, tiny_trocr_teacher, tmp_path):
    with pytest.raises(ConfigError, match=r"teacher's input is 32x128 px and the student's 32x384"):
        _run(tiny_lines, tmp_path, "size", "experiment=trocr_distill_cpu", f"model.teacher={tiny_trocr_teacher}",
             "model/trocr_net=cpu_student")


@pytest.mark.parametrize("teacher", ["missing", "other_family"])
def test_a_bad_teacher_is_a_clear_error(teacher, tiny_lines, tmp_path):
    if teacher == "missing":
        path, pattern = tmp_path / "no_such_teacher", "no_such_teacher"
    else:
        overrides = [*tiny_overrides(tiny_lines, tmp_path / "logs"), "experiment=crnn_thai_dev", "trainer.max_epochs=1",
                     "trainer.max_steps=1", "++trainer.limit_val_batches=1", "test=false"]
        train(compose_config("train", overrides, tmp_path / "crnn"))
        path, pattern = tmp_path / "crnn" / "checkpoints" / "last.ckpt", "CTCRecognizer"
    with pytest.raises(Exception, match=pattern):
        _run(tiny_lines, tmp_path, "kd", "experiment=trocr_distill_cpu", f"model.teacher={path}")


def test_lora_trains_only_adapters_and_the_merged_export_reads_the_same(tiny_lines, tiny_trocr_teacher, tmp_path):
    from PIL import Image
    from transformers import AutoProcessor, VisionEncoderDecoderModel

    _, objects = _run(tiny_lines, tmp_path, "lora", "experiment=trocr_lora_cpu", f"model.pretrained={tiny_trocr_teacher}",
                      "model.lora.parts=[encoder,decoder]")
    model = objects["model"].eval()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    base = load_model(tiny_trocr_teacher)
    frozen = {n.replace("base_model.model.", "").replace(".base_layer", ""): p for n, p in model.net.named_parameters()
              if "lora_" not in n}
    assert all(torch.equal(p, frozen[n]) for n, p in base.net.named_parameters() if n in frozen)
    # adapter-only checkpoints (the base is reloaded from model.pretrained): they reload equal
    ckpt = tmp_path / "lora" / "checkpoints" / "last.ckpt"
    saved = load_checkpoint(ckpt)["state_dict"]
    assert set(saved) == set(trainable)
    reloaded = load_model(ckpt)
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())
    # the merged export: plain transformers, no ocrlab, the adapted model's outputs
    export = export_model(ckpt, tmp_path / "export")
    hf = VisionEncoderDecoderModel.from_pretrained(export / "model").eval()
    processor = AutoProcessor.from_pretrained(export / "model")
    image = Image.open(next((tiny_lines / "test").glob("*.png")) if (tiny_lines / "test").is_dir()
                       else next(tiny_lines.rglob("*.png"))).convert("RGB")
    pixels = processor(images=image, return_tensors="pt").pixel_values
    targets = torch.tensor([[5, 6, model.tokenizer.ids["eos"]]])
    with torch.no_grad():
        ours = model.teacher_forced_logits(model.net, pixels, targets)
        theirs = model.teacher_forced_logits(hf, pixels, targets)
    assert torch.allclose(ours, theirs, atol=1e-5)
    with torch.no_grad():
        text = processor.batch_decode(hf.generate(pixels, max_new_tokens=12), skip_special_tokens=True)[0]
        assert text.strip() == model.generate_texts({"images": pixels})[0].strip()


def test_the_processor_prepares_lines_as_training_does(tiny_lines, tiny_trocr_teacher, tmp_path):
    """The exported TrOCRProcessor stretches and scales a line as the data module does."""
    from PIL import Image
    from transformers import AutoProcessor

    from ocrlab.datamodules.line_images import image_to_tensor

    model = load_model(tiny_trocr_teacher)
    export = export_model(tiny_trocr_teacher, tmp_path / "export")
    processor = AutoProcessor.from_pretrained(export / "model")
    image = Image.open(next(tiny_lines.rglob("*.png"))).convert("RGB")
    ours = image_to_tensor(image, model.input_spec)
    theirs = processor(images=image, return_tensors="pt").pixel_values[0]
    assert ours.shape == theirs.shape and (ours - theirs).abs().max() < 0.02


def test_lora_targets_that_match_nothing_list_the_linear_layers(tiny_lines, tiny_trocr_teacher, tmp_path):
    with pytest.raises(ConfigError, match=r"matches no Linear layer.*encoder\.layers\.N\.attention\.q_proj"):
        _run(tiny_lines, tmp_path, "bad", "experiment=trocr_lora_cpu", f"model.pretrained={tiny_trocr_teacher}",
             "model.lora.target_modules=no_such_layer")


def test_int8_evaluation_and_a_comparison_with_the_teacher(tiny_lines, tiny_trocr_teacher, tmp_path):
    from ocrlab.config import compose_config as compose
    from ocrlab.evaluation import evaluate

    _run(tiny_lines, tmp_path, "student", "experiment=trocr_distill_cpu", f"model.teacher={tiny_trocr_teacher}")
    student = tmp_path / "student" / "checkpoints" / "last.ckpt"
    common = [f"data.data_dir={tiny_lines}", "data.test_files=[test.txt]", f"paths.log_dir={tmp_path / 'logs'}"]
    metrics, _ = evaluate(compose("evaluate", [f"ckpt_path={student}", "quantize=int8", *common], tmp_path / "q"))
    assert 0.0 <= metrics["test/cer"] and json.loads((tmp_path / "q" / "quantization.json").read_text())["mode"] == "int8"
    evaluate(compose("evaluate", [f"ckpt_path={student}", f"compare=[{tiny_trocr_teacher}]", "baseline=tesseract",
                                  *common], tmp_path / "cmp"))
    table = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert [r["model_class"] for r in table["rows"]][:2] == ["TrOCR", "TrOCR"] and len(table["rows"]) == 3
    assert table["rows"][1]["delta_cer"] == pytest.approx(table["rows"][1]["cer"] - table["rows"][0]["cer"])
    assert table["rows"][1]["parameters"] == sum(p.numel() for p in load_model(tiny_trocr_teacher).parameters())


# -- the character tokenizer and the encoder's CTC term -----------------------------------------
def test_the_character_tokenizer_reads_a_line_one_character_at_a_time():
    from ocrlab.families.trocr.tokenizer import TokenizerOfTrainingTexts

    class Lines:
        def training_texts(self):
            return ["ราคา 1,250.00 บาท", "Invoice No. INV-001", "ค่ะ"]

    tok = TokenizerOfTrainingTexts(unit="char").fit(Lines())
    line = "ค่า 100 บาท"
    ids = tok.encode(line)
    assert len(ids) == len(line) + 1 and ids[-1] == tok.ids["eos"]  # one token per character, then </s>
    assert tok.decode(ids) == line
    assert tok.unknown_chars("ค่า Q") == ["Q"]  # never seen in training: refused by the data checks
    with pytest.raises(ConfigError, match="unit='word'"):
        TokenizerOfTrainingTexts(unit="word")


@pytest.mark.parametrize(("encoder", "special"), [("vit", 1), ("deit", 2)])
def test_patch_columns_average_the_rows_of_each_column(encoder, special):
    from ocrlab.families.trocr.net import build_network, patch_columns
    from ocrlab.families.trocr.tokenizer import TokenizerOfTrainingTexts

    class Lines:
        def training_texts(self):
            return ["abc"]

    tok = TokenizerOfTrainingTexts(unit="char").fit(Lines())
    net = build_network({"type": encoder, "image_size": [8, 12], "patch_size": [4, 4], "hidden_size": 8,
                         "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16},
                        {"d_model": 8, "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 16}, tok)
    rows, cols = 2, 3
    patches = torch.arange(rows * cols, dtype=torch.float).repeat_interleave(8).view(1, rows * cols, 8)
    states = torch.cat([torch.full((1, special, 8), -99.0), patches], 1)
    columns = patch_columns(net, states)
    assert columns.shape == (1, cols, 8)
    assert columns[0, :, 0].tolist() == [(c + (cols + c)) / 2 for c in range(cols)]  # row 0 and row 1, left to right


def test_ctc_weight_mixes_the_encoders_ctc_loss_and_stays_out_of_the_export(tiny_lines, tmp_path):
    import torch.nn.functional as F

    from ocrlab.families.trocr.net import patch_columns

    _, objects = _run(tiny_lines, tmp_path, "ctc", "experiment=trocr_teacher_cpu", "model.ctc_weight=0.4")
    model, dm = objects["model"].train(), objects["datamodule"]
    batch = next(iter(dm.train_dataloader()))
    logits, targets, states = model.forward_batch(batch)
    # the CTC term by hand: the head on the columns, each label's characters as targets (no </s>)
    log_probs = model.ctc_head(patch_columns(model.net, states)).log_softmax(-1).transpose(0, 1)
    labels = [torch.tensor(model.tokenizer.encode(t)[:-1]) for t in batch["labels"]]
    ctc = F.ctc_loss(log_probs, torch.cat(labels), torch.full((len(labels),), log_probs.shape[0]),
                     torch.tensor([len(t) for t in labels]), blank=model.tokenizer.ids["pad"], zero_infinity=True)
    ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
    assert torch.allclose(model.loss((logits, targets, states), batch), 0.6 * ce + 0.4 * ctc, atol=1e-5)
    # it trains: a few steps on this batch lower the CTC term
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        terms = {}
        _, t, s = model.forward_batch(batch)
        loss = model.with_ctc(torch.zeros(()), s, t, terms)
        first = first if first is not None else float(terms["ctc_loss"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(terms["ctc_loss"]) < first
    # training only: the checkpoint keeps the head, the Hugging Face export does not
    ckpt = tmp_path / "ctc" / "checkpoints" / "last.ckpt"
    assert any(k.startswith("ctc_head.") for k in load_checkpoint(ckpt)["state_dict"])
    assert load_model(ckpt).ctc_weight == 0.4
    export = export_model(ckpt, tmp_path / "export")
    from safetensors.torch import load_file

    assert not any("ctc" in k for k in load_file(export / "model" / "model.safetensors"))
