"""PaddleOCR-VL building blocks: chat collator, offline processor, local loading, LoRA (tiny model, CPU)."""

from __future__ import annotations

import os

import pytest
import torch
from PIL import Image

from ocrlab.errors import CheckpointError, ConfigError, DatasetError
from ocrlab.families.paddleocr_vl import hf_processor as vl_processor
from ocrlab.families.paddleocr_vl import lora as vl_lora
from ocrlab.families.paddleocr_vl import net as vl
from ocrlab.families.paddleocr_vl.inputs import IGNORE_INDEX, VLChatCollator

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ANSWERS = ['{"total": "12.50", "date": "2024-01-31"}', "<fcel>Item<fcel>Amount<nl><fcel>Tax<fcel>3.10<nl>"]
PROMPTS = ["OCR:", "Table Recognition:"]
MIN_PIXELS, MAX_PIXELS = 56 * 56, 112 * 112


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def processor():
    texts = (ANSWERS + PROMPTS + ['{"vendor": "Acme GmbH", "total": "99.00"}']) * 10
    return vl_processor.build_processor(texts, vocab_size=420, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)


def make_model(processor, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return vl.build_network({"preset": "tiny", **overrides}, tokenizer=processor.tokenizer)


def rows(answers=ANSWERS):
    return [
        {"id": "doc-a", "images": [Image.new("RGB", (100, 60), "white")], "prompt": PROMPTS[0], "answer": answers[0]},
        {"id": "doc-b", "images": [Image.new("RGB", (60, 120), "gray"), Image.new("RGB", (56, 56), "black")],
         "prompt": PROMPTS[1], "answer": answers[1]},
    ]


def logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


# -- collator ----------------------------------------------------------------------------------
def test_labels_are_exactly_the_answer_and_right_padding(processor):
    tok = processor.tokenizer
    batch = VLChatCollator(processor)(rows())
    assert set(batch) == {"input_ids", "attention_mask", "mm_token_type_ids", "labels", "pixel_values",
                          "image_grid_thw"}
    for i, row in enumerate(rows()):
        labels = batch["labels"][i]
        assert tok.decode(labels[labels != IGNORE_INDEX]) == row["answer"] + tok.eos_token
        kept = batch["attention_mask"][i].bool()
        n = int(kept.sum())
        assert kept[:n].all() and not kept[n:].any()  # right padding
        answer_len = len(tok(row["answer"], add_special_tokens=False)["input_ids"]) + 1
        assert (labels[: n - answer_len] == IGNORE_INDEX).all() and (labels[n - answer_len: n] != IGNORE_INDEX).all()
        assert (labels[n:] == IGNORE_INDEX).all() and (batch["input_ids"][i, n:] == tok.pad_token_id).all()
        # mm_token_type_ids: the processor's own for the prompt, 0 for answer and padding
        prompt = VLChatCollator(processor).encode_prompt(row, i)
        assert batch["mm_token_type_ids"][i, : len(prompt["input_ids"])].tolist() == prompt["mm_token_type_ids"]
        assert (batch["mm_token_type_ids"][i, len(prompt["input_ids"]):] == 0).all()
        image_positions = batch["input_ids"][i] == processor.image_token_id
        assert torch.equal(image_positions, batch["mm_token_type_ids"][i] == 1)
    grid = batch["image_grid_thw"]
    assert grid.shape == (3, 3) and batch["pixel_values"].shape[0] == int(grid.prod(-1).sum())
    assert int((batch["mm_token_type_ids"] == 1).sum()) == int(grid.prod(-1).sum()) // 4
    # images below min_pixels are resized up: every grid covers at least min_pixels
    assert all(int(h) * int(w) * 14 * 14 >= MIN_PIXELS for _, h, w in grid.tolist())


def test_generation_batches_pad_left(processor):
    gen = VLChatCollator(processor)([{**r, "answer": None} for r in rows()])
    assert "labels" not in gen
    mask = gen["attention_mask"]
    short = int(mask.sum(-1).argmin())
    pad = int((mask[short] == 0).sum())
    assert pad > 0 and not mask[short, :pad].any() and mask[short, pad:].all()  # left padding
    assert (gen["mm_token_type_ids"][short, :pad] == 0).all()
    assert (gen["input_ids"][short, :pad] == processor.tokenizer.pad_token_id).all()
    assert torch.equal(gen["mm_token_type_ids"] == 1, gen["input_ids"] == processor.image_token_id)
    assert processor.tokenizer.decode(gen["input_ids"][short, pad:]).endswith("\nAssistant: ")
    with pytest.raises(DatasetError, match="mixes training rows and generation rows"):
        VLChatCollator(processor)([rows()[0], {**rows()[1], "answer": None}])


def test_max_length_never_cuts_image_tokens(processor):
    row = rows()[1]
    prompt_len = len(VLChatCollator(processor).encode_prompt(row, 0)["input_ids"])
    with pytest.raises(DatasetError, match=r"row 0 \(id 'doc-b'\).*image tokens"):
        VLChatCollator(processor, max_length=prompt_len - 1)([row])
    with pytest.raises(DatasetError, match="doc-b"):  # a training row needs room for one answer token
        VLChatCollator(processor, max_length=prompt_len)([row])
    # a too long answer: its tail is cut (no eos), counted
    collator = VLChatCollator(processor, max_length=prompt_len + 3)
    batch = collator([row])
    labels = batch["labels"][0]
    assert batch["input_ids"].shape[1] == prompt_len + 3 and collator.truncated_answers == 1
    assert (labels != IGNORE_INDEX).sum() == 3 and processor.tokenizer.eos_token_id not in labels.tolist()
    with pytest.raises(DatasetError, match="exceed max_length"):
        VLChatCollator(processor, max_length=prompt_len + 3, answer_overflow="error")([row])


def test_bad_images_and_reserved_tokens_are_named(processor):
    collator = VLChatCollator(processor)
    tiny = {"id": "x", "images": [Image.new("RGB", (20, 64))], "prompt": "OCR:", "answer": "a"}
    with pytest.raises(DatasetError, match=r"row 0 \(id 'x'\) image 0: 20x64 px is smaller than 28"):
        collator([tiny])
    thin = {"images": [Image.new("RGB", (64, 64)), Image.new("RGB", (30 * 201, 30))], "prompt": "OCR:", "answer": "a"}
    with pytest.raises(DatasetError, match="row 0 image 1: .*aspect ratio over 200"):
        collator([thin])
    with pytest.raises(DatasetError, match="reserved token"):
        collator([{**rows()[0], "prompt": "OCR: " + processor.image_token}])
    with pytest.raises(DatasetError, match="must be a list of PIL images"):
        collator([{**rows()[0], "images": rows()[0]["images"][0]}])


def test_turn_format_without_a_chat_template(processor):
    from transformers import PaddleOCRVLProcessor

    plain = PaddleOCRVLProcessor(image_processor=processor.image_processor, tokenizer=processor.tokenizer)
    assert not plain.chat_template
    batch = VLChatCollator(plain)(rows()[:1])
    n = len(VLChatCollator(plain).encode_prompt(rows()[0], 0)["input_ids"])
    image_tokens = int((batch["mm_token_type_ids"] == 1).sum())
    assert plain.tokenizer.decode(batch["input_ids"][0, :n]) == (
        "User: " + plain.image_token * image_tokens + "OCR:\nAssistant: ")
    labels = batch["labels"][0]
    assert plain.tokenizer.decode(labels[labels != IGNORE_INDEX]) == ANSWERS[0] + "</s>"


# -- model, processor, directories -------------------------------------------------------------
def test_presets_and_token_alignment(processor):
    tok = processor.tokenizer
    for name in ("tiny", "small", "real"):
        cfg = vl.model_config({"preset": name})
        assert sum(cfg.text_config.rope_parameters["mrope_section"]) * 2 == cfg.text_config.head_dim
    real = vl.model_config({"preset": "real"})
    assert (real.vision_config.hidden_size, real.vision_config.num_hidden_layers) == (1152, 27)
    assert (real.text_config.hidden_size, real.text_config.num_hidden_layers, real.text_config.vocab_size) == (
        1024, 18, 103424)
    cfg = vl.model_config({"preset": "tiny"}, tokenizer=tok)
    assert cfg.text_config.vocab_size == len(tok)
    assert cfg.image_token_id == processor.image_token_id == tok.convert_tokens_to_ids(vl_processor.IMAGE_TOKEN)
    assert (cfg.text_config.pad_token_id, cfg.text_config.eos_token_id) == (tok.pad_token_id, tok.eos_token_id)
    assert vl.model_config({"preset": "tiny", "text_config": {"vocab_size": 1000}}, tok).text_config.vocab_size == 1000
    with pytest.raises(ConfigError, match="expected one of"):
        vl.model_config({"preset": "huge"})
    with pytest.raises(ConfigError, match=r"model.text_config: unknown key\(s\) \['hiden_size'\]"):
        vl.model_config({"preset": "tiny", "text_config": {"hiden_size": 32}})
    with pytest.raises(ConfigError, match="invalid PaddleOCR-VL config"):
        vl.model_config({"preset": "tiny", "text_config": {"hidden_size": "wide"}})
    with pytest.raises(ConfigError, match="mrope_section"):
        vl.model_config({"preset": "tiny", "text_config": {"rope_parameters": {"mrope_section": [2, 2, 2]}}})


def test_save_and_load_pretrained_round_trip(processor, tmp_path):
    model = make_model(processor)
    batch = VLChatCollator(processor)(rows())
    vl.save_pretrained(model, processor, tmp_path / "m")
    loaded, loaded_processor = vl.load_pretrained(tmp_path / "m")
    assert loaded_processor.chat_template == processor.chat_template
    assert loaded_processor.image_processor.size["shortest_edge"] == MIN_PIXELS
    again = VLChatCollator(loaded_processor)(rows())
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    assert torch.allclose(logits(model, batch), logits(loaded, again), atol=1e-5)
    assert loaded.generation_config.eos_token_id == processor.tokenizer.eos_token_id


def test_load_pretrained_errors(processor, tmp_path):
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'nowhere'} does not exist"):
        vl.load_pretrained(tmp_path / "nowhere")
    make_model(processor).save_pretrained(str(tmp_path / "bare"))
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'bare'}: a model directory without a processor"):
        vl.load_pretrained(tmp_path / "bare")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        vl.load_pretrained(tmp_path / "empty")
    torch.manual_seed(0)  # built without the tokenizer: the published vocabulary and token ids
    vl.save_pretrained(vl.build_network({"preset": "tiny"}), processor, tmp_path / "mismatch")
    with pytest.raises(CheckpointError, match="mismatch: the tokenizer does not match the model: image token id"):
        vl.load_pretrained(tmp_path / "mismatch")


# -- LoRA --------------------------------------------------------------------------------------
def test_lora_default_targets_only_the_language_model(processor):
    peft_model = vl_lora.apply_lora(make_model(processor), r=4, alpha=8)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any("visual" in n for n, _ in peft_model.named_parameters() if "lora_" in n)
    adapted = {n.rsplit(".", 1)[-1] for n in peft_model.targeted_module_names}
    assert adapted == set(vl_lora.PART_LINEARS["language_model"]) and len(peft_model.targeted_module_names) == 2 * 7
    everything = vl_lora.apply_lora(make_model(processor),
                                    target_modules=vl_lora.lora_target_regex(["language_model", "vision", "projector"]))
    names = everything.targeted_module_names
    assert any(".visual." in n for n in names) and any(".projector." in n for n in names)
    assert len(names) == 2 * 7 + 2 * 6 + 2
    head = vl_lora.apply_lora(make_model(processor), target_modules=vl_lora.lora_target_regex(["lm_head"]))
    assert head.targeted_module_names == ["lm_head"]
    with pytest.raises(ConfigError, match="none is a Linear of part 'vision'"):
        vl_lora.lora_target_regex(["vision"], modules=["gate_proj"])


def test_lora_bare_names_adapt_both_towers_with_a_warning(processor, caplog):
    with caplog.at_level("WARNING", logger="ocrlab.families.paddleocr_vl.lora"):
        bare = vl_lora.apply_lora(make_model(processor), target_modules=["q_proj"])
    assert {n.split(".")[1] for n in bare.targeted_module_names} == {"visual", "language_model"}
    assert "also adapts 2 vision-encoder layers" in caplog.text


def test_lora_bad_target_lists_the_linear_layers(processor):
    with pytest.raises(ConfigError) as info:
        vl_lora.apply_lora(make_model(processor), target_modules=["qkv"])
    message = str(info.value)
    assert "model.language_model.layers.N.self_attn.q_proj" in message
    assert "model.visual.vision_model.encoder.layers.N.self_attn.out_proj" in message
    assert "layers.0." not in message and message.count("language_model.layers.N.mlp.up_proj") == 1
    with pytest.raises(ConfigError, match="matches no Linear layer"):
        vl_lora.apply_lora(make_model(processor), target_modules=r"model\.nothing\..*")


# lm_head shares its weight with the input embeddings (tied): merging must untie it first
@pytest.mark.parametrize("parts", [["language_model"], ["language_model", "lm_head"]])
def test_adapter_save_load_merge_give_the_same_logits(processor, tmp_path, parts):
    base = make_model(processor)
    assert base.lm_head.weight is base.get_input_embeddings().weight
    base.save_pretrained(str(tmp_path / "base"))
    peft_model = vl_lora.apply_lora(base, r=4, alpha=8, dropout=0.0, target_modules=vl_lora.lora_target_regex(parts))
    assert ("lm_head" in peft_model.targeted_module_names) == ("lm_head" in parts)
    torch.manual_seed(1)
    with torch.no_grad():  # lora_B starts at zero: make the adapter change something
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    batch = VLChatCollator(processor)(rows())
    expected = logits(peft_model, batch)
    assert not torch.allclose(expected, logits(make_model(processor), batch), atol=1e-3)
    vl_lora.save_adapter(peft_model, tmp_path / "adapter")
    from transformers import PaddleOCRVLForConditionalGeneration

    reloaded = vl_lora.load_adapter(PaddleOCRVLForConditionalGeneration.from_pretrained(str(tmp_path / "base")),
                                    tmp_path / "adapter")
    assert torch.allclose(logits(reloaded, batch), expected, atol=1e-5)
    merged = vl_lora.merge_lora(reloaded)
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    assert torch.allclose(logits(merged, batch), expected, atol=1e-5)
    merged.save_pretrained(str(tmp_path / "merged"))
    again = PaddleOCRVLForConditionalGeneration.from_pretrained(str(tmp_path / "merged"))
    assert torch.allclose(logits(again, batch), expected, atol=1e-5)
    with pytest.raises(CheckpointError, match="no adapter_config.json"):
        vl_lora.load_adapter(make_model(processor), tmp_path / "base")


@pytest.fixture(scope="module")
def trained(processor):
    """Tiny model + LoRA fitted on the two pairs. The presets' init (std 0.02) bounds a frozen head's
    logits to about 0.02·√d·√d ≈ 1.3: LoRA alone cannot fit that; std 0.2 stands in for a trained head."""
    model = make_model(processor, text_config={"initializer_range": 0.2})
    peft_model = vl_lora.apply_lora(model, r=8, alpha=16, dropout=0.0)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    batch = VLChatCollator(processor)(rows())
    peft_model.train()
    losses = []
    for _ in range(40):
        loss = peft_model(**batch, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return peft_model.eval(), losses


def test_lora_overfits_a_couple_of_pairs(processor, trained):
    peft_model, losses = trained
    assert losses[-1] < losses[0] / 20, losses
    gen = VLChatCollator(processor)([{**r, "answer": None} for r in rows()])
    with torch.no_grad():
        out = peft_model.generate(**gen, max_new_tokens=40, do_sample=False)
    texts = processor.tokenizer.batch_decode(out[:, gen["input_ids"].shape[1]:], skip_special_tokens=True)
    assert texts == ANSWERS


def test_batched_left_padded_generation_equals_one_at_a_time(processor, trained):
    model = vl_lora.merge_lora(trained[0])
    prompts = [{**r, "answer": None} for r in rows()] + [{"images": [], "prompt": "OCR: text only", "answer": None}]
    collator = VLChatCollator(processor)
    gen = collator(prompts)
    kwargs = {"max_new_tokens": 12, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}
    with torch.no_grad():
        batched = model.generate(**gen, **kwargs)
        for i, row in enumerate(prompts):
            one = collator([row])
            single = model.generate(**one, **kwargs)
            new = single.sequences[0, one["input_ids"].shape[1]:]
            got = batched.sequences[i, gen["input_ids"].shape[1]:][: len(new)]
            assert torch.equal(got, new), (i, got, new)
            for step, scores in enumerate(single.scores):
                assert torch.allclose(batched.scores[step][i], scores[0], atol=1e-4)


@pytest.mark.parametrize("reentrant", [False, True])
def test_gradient_checkpointing_with_peft(processor, reentrant):
    batch = VLChatCollator(processor)(rows())
    target = vl_lora.lora_target_regex(["language_model", "vision"])
    reference = vl_lora.apply_lora(make_model(processor), r=4, alpha=8, dropout=0.0, target_modules=target)
    peft_model = vl_lora.apply_lora(make_model(processor), r=4, alpha=8, dropout=0.0, target_modules=target)
    for model in (reference, peft_model):
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.fill_(0.01)
    vl.set_gradient_checkpointing(peft_model, True, use_reentrant=reentrant)
    assert peft_model.get_base_model().model.language_model.layers[0].gradient_checkpointing
    grads = []
    for model in (reference, peft_model):
        model.train()
        model(**batch, use_cache=False).loss.backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys()
    for name, grad in grads[0].items():
        assert grads[1][name] is not None, f"no gradient for {name} under checkpointing"
        assert torch.allclose(grads[1][name], grad, atol=1e-5), name
    vl.set_gradient_checkpointing(peft_model, False)
    assert not peft_model.get_base_model().model.language_model.layers[0].gradient_checkpointing
