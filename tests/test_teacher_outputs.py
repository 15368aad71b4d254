"""Teacher-outputs files (image -> an external teacher's text): the shared reader, matching and
writer, and their use in the instruction-pairs data (teacher answers for training pairs)."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import pytest
from conftest import compose_config, run_overrides

from ocrlab.datamodules.teacher_outputs import (
    TeacherOutput,
    match_teacher_outputs,
    read_teacher_outputs,
    write_teacher_outputs,
)
from ocrlab.errors import ConfigError, DatasetError
from ocrlab.families.paddleocr_vl.data import InstructionPairsDataModule, chat_parts
from ocrlab.synth.pairs import read_pairs


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- reader ------------------------------------------------------------------------------------
def test_reader_resolves_paths_keeps_tasks_ignores_extra_keys_and_normalizes(tmp_path):
    decomposed = unicodedata.normalize("NFD", "café")
    elsewhere = tmp_path / "elsewhere" / "b.png"
    path = _write(tmp_path / "out" / "teacher.jsonl", [
        json.dumps({"image": "imgs/a.png", "text": f"  {decomposed}   au  lait ", "teacher": "llm-x", "score": 0.9}),
        "",
        json.dumps({"image": str(elsewhere), "text": "{\"vendor\": 1}", "task": "vendor"}),
        json.dumps({"image": "../elsewhere/b.png", "text": "another task", "task": "summary"}),
    ])
    outputs = read_teacher_outputs(path)
    assert outputs == [
        TeacherOutput((tmp_path / "out" / "imgs" / "a.png").resolve(), "café au lait", None, f"{path}:1"),
        TeacherOutput(elsewhere.resolve(), "{\"vendor\": 1}", "vendor", f"{path}:3"),
        TeacherOutput(elsewhere.resolve(), "another task", "summary", f"{path}:4"),
    ]
    assert unicodedata.is_normalized("NFC", outputs[0].text)
    # image_root replaces the file's folder for relative paths; absolute ones stay
    rooted = read_teacher_outputs(path, image_root=tmp_path / "root")
    assert rooted[0].image == (tmp_path / "root" / "imgs" / "a.png").resolve()
    assert rooted[1].image == elsewhere.resolve()


def test_line_breaks_are_folded_like_labels_unless_kept(tmp_path):
    path = _write(tmp_path / "t.jsonl", [json.dumps({"image": "a.png", "text": "\nline  one \r\n\nline two\n\n"})])
    assert read_teacher_outputs(path)[0].text == "line one line two"
    assert read_teacher_outputs(path, keep_line_breaks=True)[0].text == "line one\n\nline two"


def test_a_repeated_line_with_the_same_text_is_read_once(tmp_path):
    line = json.dumps({"image": "a.png", "text": "same"})
    path = _write(tmp_path / "t.jsonl", [line, json.dumps({"image": "./a.png", "text": "same "}), line])
    assert [o.source for o in read_teacher_outputs(path)] == [f"{path}:1"]


@pytest.mark.parametrize(("line", "message"), [
    ("not json", r"t\.jsonl:2: not valid JSON .*expected one JSON object per line"),
    ('["a.png", "text"]', r"t\.jsonl:2: a JSON list, not an object"),
    ('{"text": "x"}', r"t\.jsonl:2: 'image' is missing; expected the image's path"),
    ('{"images": ["a.png"], "text": "x"}', r"t\.jsonl:2: 'image' is missing.*one output per image"),
    ('{"image": 7, "text": "x"}', r"t\.jsonl:2: 'image' is 7; expected the image's path as a non-empty string"),
    ('{"image": " ", "text": "x"}', r"t\.jsonl:2: 'image' is ' '"),
    ('{"image": "b.png"}', r"t\.jsonl:2: 'text' of image 'b.png' is missing; expected the teacher's text"),
    ('{"image": "b.png", "text": null}', r"t\.jsonl:2: 'text' of image 'b.png' is a NoneType"),
    ('{"image": "b.png", "text": ["x"]}', r"t\.jsonl:2: 'text' of image 'b.png' is a list"),
    ('{"image": "b.png", "text": ""}', r"t\.jsonl:2: empty text for image 'b.png'"),
    ('{"image": "b.png", "text": " \\n\\t "}', r"t\.jsonl:2: empty text for image 'b.png'"),
    ('{"image": "b.png", "text": "x", "task": ""}', r"t\.jsonl:2: 'task' is ''; expected a non-empty string"),
    ('{"image": "b.png", "text": "x", "task": 3}', r"t\.jsonl:2: 'task' is 3"),
    ('{"image": "a.png", "text": "other"}',
     r"t\.jsonl:2: image .*a\.png has another text at .*t\.jsonl:1 \('first' vs 'other'\)"),
])
def test_bad_lines_name_the_file_and_line(tmp_path, line, message):
    path = _write(tmp_path / "t.jsonl", [json.dumps({"image": "a.png", "text": "first"}), line])
    with pytest.raises(DatasetError, match=message):
        read_teacher_outputs(path)


def test_the_same_image_with_two_tasks_is_two_outputs_but_one_task_twice_is_checked(tmp_path):
    path = _write(tmp_path / "t.jsonl", [json.dumps({"image": "a.png", "text": "one", "task": "x"}),
                                         json.dumps({"image": "a.png", "text": "two", "task": "y"}),
                                         json.dumps({"image": "a.png", "text": "three", "task": "x"})])
    with pytest.raises(DatasetError, match=r"t\.jsonl:3: image .*a\.png \(task 'x'\) has another text at .*t\.jsonl:1"):
        read_teacher_outputs(path)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match=r"teacher-outputs file .*missing\.jsonl does not exist"):
        read_teacher_outputs(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match=r"teacher-outputs file .* is a directory"):
        read_teacher_outputs(tmp_path)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"empty\.jsonl is empty \(0 bytes\)"):
        read_teacher_outputs(tmp_path / "empty.jsonl")
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    with pytest.raises(DatasetError, match=r"blank\.jsonl holds only blank lines"):
        read_teacher_outputs(tmp_path / "blank.jsonl")
    (tmp_path / "utf16.jsonl").write_text('{"image": "a.png", "text": "x"}\n', encoding="utf-16")
    with pytest.raises(DatasetError, match=r"utf16\.jsonl is unreadable: it is UTF-16.*expected UTF-8"):
        read_teacher_outputs(tmp_path / "utf16.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"image": "a.png", "text": "x"}\n{"image": "b.png", "text": "\xe9"}\n')
    with pytest.raises(DatasetError, match=r"latin1\.jsonl is unreadable: line 2: .*expected UTF-8"):
        read_teacher_outputs(tmp_path / "latin1.jsonl")
    # a BOM (a Windows editor's UTF-8) is not part of the first line
    (tmp_path / "bom.jsonl").write_text('{"image": "a.png", "text": "x"}\n', encoding="utf-8-sig")
    assert read_teacher_outputs(tmp_path / "bom.jsonl")[0].text == "x"


# -- matching ----------------------------------------------------------------------------------
def test_match_groups_by_image_and_reports_coverage(tmp_path):
    path = _write(tmp_path / "t.jsonl", [json.dumps({"image": "a.png", "text": "A", "task": "x"}),
                                         json.dumps({"image": "a.png", "text": "A2", "task": "y"}),
                                         json.dumps({"image": "sub/../b.png", "text": "B"})])
    known = [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png", tmp_path / "d.png"]
    matched = match_teacher_outputs(read_teacher_outputs(path), known, "the 4 test images")
    assert set(matched) == {(tmp_path / "a.png").resolve(), (tmp_path / "b.png").resolve()}
    assert [o.text for o in matched[(tmp_path / "a.png").resolve()]] == ["A", "A2"]
    assert (matched.covered, matched.total, matched.coverage) == (2, 4, 0.5)


def test_match_names_the_images_the_data_does_not_hold(tmp_path):
    lines = [json.dumps({"image": f"img{i}.png", "text": "t"}) for i in range(8)]
    path = _write(tmp_path / "t.jsonl", lines)
    with pytest.raises(DatasetError, match=r"7 teacher output\(s\) name images that are not among the training "
                                           r"split's 1 images: .*t\.jsonl:2 .*img1\.png; .*t\.jsonl:3 .*img2\.png;"
                                           r".*\(2 more\)"):
        match_teacher_outputs(read_teacher_outputs(path), [tmp_path / "img0.png"], "the training split's 1 images")
    # the same names in another folder: the message says where relative paths are read from
    with pytest.raises(DatasetError, match=r"An image named img0\.png is in .*data.*relative image paths are read "
                                           r"from the teacher-outputs file's folder"):
        match_teacher_outputs(read_teacher_outputs(path), [tmp_path / "data" / f"img{i}.png" for i in range(8)],
                              "the data")


# -- writer ------------------------------------------------------------------------------------
def test_writer_round_trips(tmp_path):
    path = _write(tmp_path / "src.jsonl", [json.dumps({"image": "a.png", "text": "A", "teacher": "t"}),
                                           json.dumps({"image": "b.png", "text": "B", "task": "x"})])
    outputs = read_teacher_outputs(path)
    copy = write_teacher_outputs(tmp_path / "cache" / "copy.jsonl", outputs)
    again = read_teacher_outputs(copy)
    assert [(o.image, o.text, o.task) for o in again] == [(o.image, o.text, o.task) for o in outputs]
    # mappings: relative images are relative to the written file; extra keys are kept
    write_teacher_outputs(copy, [{"image": Path("c.png"), "text": "C", "score": 0.5}])
    assert json.loads(copy.read_text(encoding="utf-8")) == {"image": "c.png", "text": "C", "score": 0.5}
    assert read_teacher_outputs(copy)[0].image == (tmp_path / "cache" / "c.png").resolve()


@pytest.mark.parametrize(("rows", "message"), [
    ([], r"no teacher outputs to write"),
    ([{"image": "a.png", "text": "  "}], r"teacher output 0 for .*out\.jsonl: empty text"),
    ([{"image": "a.png", "text": "A"}, {"text": "B"}], r"teacher output 1 for .*: 'image' is missing"),
    ([{"image": "a.png", "text": "A"}, {"image": "a.png", "text": "B"}], r"teacher output 1 .* has another text"),
    ([{"image": "a.png", "text": "A", "extra": object()}], r"teacher output 0 .* not JSON-serializable"),
    (["a.png\tA"], r"teacher output 0 .*: a str; expected a TeacherOutput or a mapping"),
])
def test_writer_refuses_what_the_reader_would_and_leaves_the_old_file(tmp_path, rows, message):
    path = write_teacher_outputs(tmp_path / "out.jsonl", [{"image": "old.png", "text": "old"}])
    before = path.read_bytes()
    with pytest.raises(DatasetError, match=message):
        write_teacher_outputs(path, rows)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left


# -- instruction pairs -------------------------------------------------------------------------
def _pairs_data(pairs: Path, **kwargs) -> InstructionPairsDataModule:
    # no model: small images are the processor's business, not these tests'
    return InstructionPairsDataModule(pairs_dir=str(pairs), small_images="upscale", **kwargs)


def _answers(dataset) -> list[str]:
    return [chat_parts(r)[1] for r in dataset.rows]


def _teacher_file(pairs: Path, path: Path, tasks=("vendor", "summary"), splits=("train",)) -> Path:
    """One teacher answer (a JSON object naming the pair) per pair of ``tasks`` in ``splits``, images
    relative to the file's folder (as a separate teacher run over the images writes them)."""
    rows = []
    for split in splits:
        for row in read_pairs(pairs / f"{split}.jsonl"):
            if row["task"] in tasks:
                rel = os.path.relpath(Path(row["images"][0]).resolve(), path.parent.resolve())
                rows.append({"image": rel, "task": row["task"], "teacher": "test",
                             "text": json.dumps({"teacher": f"{row['id']}/{row['task']}"})})
    return write_teacher_outputs(path, rows)


def test_teacher_answers_replace_the_training_answers_that_have_one(tiny_pairs, tmp_path):
    teacher = _teacher_file(tiny_pairs, tmp_path / "teacher" / "outputs.jsonl", splits=("train", "val", "test"))
    plain, dm = _pairs_data(tiny_pairs), _pairs_data(tiny_pairs, teacher_outputs=str(teacher))
    before, after = plain.build_dataset("train"), dm.build_dataset("train")
    assert [r["id"] for r in after.rows] == [r["id"] for r in before.rows]
    for old, new in zip(before.rows, after.rows, strict=True):
        expected = json.dumps({"teacher": f"{old['id']}/{old['task']}"}) if old["task"] in ("vendor", "summary") \
            else chat_parts(old)[1]
        assert chat_parts(new) == (chat_parts(old)[0], expected)
    replaced = sum(r["task"] in ("vendor", "summary") for r in before.rows)
    assert dm.teacher_summary["replaced"] == dm.teacher_summary["pairs_with_teacher_answer"] == replaced == 16
    assert dm.teacher_summary["outputs_of_eval_images"] == 4  # val and test: 2 tasks each, not used
    # validation and test keep the generated answers
    for split in ("val", "test"):
        assert _answers(dm.build_dataset(split)) == _answers(plain.build_dataset(split))
    # the run's data description names the file and what it changed
    dm.datasets["train"] = after
    assert dm.summary()["teacher_outputs"]["replaced"] == 16
    assert dm.source_files("train") == [tiny_pairs / "train.jsonl", teacher]
    assert dm.source_files("val") == [tiny_pairs / "val.jsonl"]
    # the tokenizer is learned from the teacher's answers too
    texts = list(dm.training_texts())
    assert json.dumps({"teacher": f"{after.rows[1]['id']}/vendor"}) in texts


def test_a_share_mixes_the_same_pairs_for_a_seed(tiny_pairs, tmp_path):
    teacher = _teacher_file(tiny_pairs, tmp_path / "outputs.jsonl", tasks=("vendor", "client", "summary"))

    def chosen(seed: int, share: float) -> set[tuple[str, str]]:
        dm = _pairs_data(tiny_pairs, teacher_outputs=str(teacher), teacher_outputs_share=share, seed=seed)
        rows = dm.build_dataset("train").rows
        assert dm.teacher_summary["pairs_with_teacher_answer"] == 24
        return {(r["id"], r["task"]) for r in rows if chat_parts(r)[1].startswith('{"teacher"')}

    half = chosen(0, 0.5)
    assert len(half) == 12 and chosen(0, 0.5) == half  # reproducible: a resumed run trains on the same answers
    assert chosen(1, 0.5) != half
    assert half < chosen(0, 0.75) and len(chosen(0, 0.0)) == 0 and len(chosen(0, 1.0)) == 24


def test_data_tasks_limit_the_replaced_pairs(tiny_pairs, tmp_path):
    teacher = _teacher_file(tiny_pairs, tmp_path / "outputs.jsonl", tasks=("vendor", "client"))
    dm = _pairs_data(tiny_pairs, teacher_outputs=str(teacher), tasks=["vendor", "summary"])
    rows = dm.build_dataset("train").rows
    assert {r["task"] for r in rows if chat_parts(r)[1].startswith('{"teacher"')} == {"vendor"}
    assert (dm.teacher_summary["replaced"], dm.teacher_summary["outputs_of_other_tasks"]) == (8, 8)


def test_pairs_matching_errors_name_the_line_and_the_image(tiny_pairs, tmp_path):
    train = read_pairs(tiny_pairs / "train.jsonl")
    image = Path(train[0]["images"][0]).resolve()

    def build(lines: list[dict]):
        path = _write(tmp_path / "t.jsonl", [json.dumps(line) for line in lines])
        return _pairs_data(tiny_pairs, teacher_outputs=str(path)).build_dataset("train")

    with pytest.raises(DatasetError, match=r"1 teacher output\(s\) name images that are not among the 8 training "
                                           r"images of .*train\.jsonl: .*t\.jsonl:1 .*nowhere\.png"):
        build([{"image": "nowhere.png", "text": "{}", "task": "vendor"}])
    with pytest.raises(DatasetError, match=r"t\.jsonl:1: image .* has 5 training pairs \(tasks \['full', 'vendor', "
                                           r"'client', 'line_items', 'summary'\]\); expected a 'task'"):
        build([{"image": str(image), "text": "{}"}])
    with pytest.raises(DatasetError, match=r"t\.jsonl:1: image .* has training pairs of the tasks \[.*\]; the "
                                           r"output's task 'vendr' is none of them"):
        build([{"image": str(image), "text": "{}", "task": "vendr"}])
    with pytest.raises(DatasetError, match=r"t\.jsonl:1: the answer for the training pair \(id .*, task 'vendor'\) "
                                           r"is not valid JSON .*expected a JSON object like the generated answer"):
        build([{"image": str(image), "text": "```json\n{}\n```", "task": "vendor"}])


def test_an_output_without_task_answers_an_image_of_one_pair(tmp_path, tiny_pairs):
    # a pairs file of one task per image (as crops are): the task may be left out; its lines stay
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for split in ("train", "val", "test"):
        rows = [r for r in read_pairs(tiny_pairs / f"{split}.jsonl") if r["task"] == "vendor"]
        (pairs / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    train = read_pairs(pairs / "train.jsonl")
    path = _write(tmp_path / "t.jsonl", [json.dumps({"image": train[2]["images"][0], "text": '{"a":\n"line"}'})])
    dm = _pairs_data(pairs, teacher_outputs=str(path))
    answers = _answers(dm.build_dataset("train"))
    assert answers[2] == '{"a":\n"line"}' and answers[:2] == [chat_parts(r)[1] for r in train[:2]]
    # two outputs for the one pair of an image
    _write(path, [json.dumps({"image": train[2]["images"][0], "text": "{}"}),
                  json.dumps({"image": train[2]["images"][0], "text": "{}", "task": "vendor"})])
    with pytest.raises(DatasetError, match=r"t\.jsonl:2: answers the training pair \(id .*, task 'vendor'\).*"
                                           r"which .*t\.jsonl:1 answers too"):
        _pairs_data(pairs, teacher_outputs=str(path)).build_dataset("train")


def test_teacher_options_compose_and_bad_values_name_the_key(tiny_pairs, tmp_path):
    from ocrlab.utils.instantiate import instantiate_checked

    teacher = _teacher_file(tiny_pairs, tmp_path / "outputs.jsonl")
    for data in ("instruction_pairs", "invoice_pairs"):
        cfg = compose_config("train", [f"data={data}", f"data.pairs_dir={tiny_pairs}", "++data.synth=null",
                                       f"data.teacher_outputs={teacher}", "data.teacher_outputs_share=0.5",
                                       *run_overrides(tmp_path / "logs")], tmp_path / data)
        dm = instantiate_checked(cfg.data, "data")
        assert (dm.teacher_outputs, dm.teacher_outputs_share) == (teacher, 0.5)
    with pytest.raises(ConfigError, match=r"data.teacher_outputs_share=1.5: expected a number from 0 to 1"):
        _pairs_data(tiny_pairs, teacher_outputs=str(teacher), teacher_outputs_share=1.5)
    with pytest.raises(ConfigError, match=r"data.teacher_outputs_share=0.5 but data.teacher_outputs is not set"):
        _pairs_data(tiny_pairs, teacher_outputs_share=0.5)
    with pytest.raises(DatasetError, match=r"teacher-outputs file .*missing\.jsonl does not exist"):
        _pairs_data(tiny_pairs, teacher_outputs=str(tmp_path / "missing.jsonl")).build_dataset("train")


def test_a_training_run_reports_the_teacher_answers_it_used(tiny_pairs, tmp_path):
    from conftest import tiny_pair_overrides

    from ocrlab.training import train

    teacher = _teacher_file(tiny_pairs, tmp_path / "outputs.jsonl", tasks=("vendor",))
    overrides = [*tiny_pair_overrides(tiny_pairs, tmp_path / "logs"), "experiment=paddleocr_vl_lora_cpu",
                 "trainer.max_epochs=1", "test=false", f"data.teacher_outputs={teacher}",
                 "data.teacher_outputs_share=0.5"]
    train(compose_config("train", overrides, tmp_path / "run"))
    report = json.loads(next((tmp_path / "run").rglob("training_report.json")).read_text())
    assert report["splits"]["train"] == [str(tiny_pairs / "train.jsonl"), str(teacher)]
    assert {k: report["teacher_outputs"][k] for k in ("share", "pairs_with_teacher_answer", "replaced")} == \
        {"share": 0.5, "pairs_with_teacher_answer": 8, "replaced": 4}
