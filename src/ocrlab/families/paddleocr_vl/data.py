"""DataModule for vision-language models on instruction pairs (``ocrlab-synth pairs`` JSONL).

``pairs_dir`` holds ``train.jsonl``, ``val.jsonl``, ``test.jsonl``: one chat row per line
(``images``, a user and an assistant message; ``id``, ``task`` and metadata such as ``locale``,
``currency``, ``hard_kinds`` for the metric breakdowns). Rows are read and checked at setup
(:func:`~ocrlab.synth.pairs.read_pairs`: a bad row is an error naming the file and line).

Inputs are built with what the model hands over (``data_encoder()``: its processor, chat format and
``max_length``). Training batches carry ``labels`` on the answer tokens only; evaluation batches
carry the same plus a left-padded generation batch of the prompts, and the rows themselves (the
truth to score generated answers against).

``synth`` asks for generated data on first use: invoices (``InvoiceGenerator`` arguments under
``invoices``, plus ``num_samples``, ``workers``) into ``dataset_dir``, then pairs (``make_pairs``
arguments under ``pairs``) into ``pairs_dir``. A finished dataset or pairs directory is used as it
is; without ``synth`` nothing is generated and a missing ``pairs_dir`` is an error.

``teacher_outputs`` (a teacher-outputs file, :mod:`ocrlab.datamodules.teacher_outputs`: image ->
an external teacher's answer) replaces the generated answers of training pairs, in
``teacher_outputs_share`` of those that have one (chosen by a hash of the seed and the pair:
the same pairs on every run and resume). Validation and test keep the generated answers: they
are what the model is scored against.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch.utils.data import Dataset

from ocrlab.datamodules.base import OcrDataModule
from ocrlab.errors import ConfigError, DatasetError
from ocrlab.utils.io import describe_dir

if TYPE_CHECKING:
    from ocrlab.datamodules.teacher_outputs import TeacherOutput

log = logging.getLogger(__name__)

IMAGE_PLACEHOLDER = "<image>"
# row keys kept beside the chat (what metric breakdowns and mining read)
META_KEYS = ("document_type", "locale", "currency", "hard_kinds", "layout")


def chat_parts(row: dict[str, Any]) -> tuple[str, str]:
    """(prompt without the image placeholders, answer) of a checked pairs row."""
    messages = {m["role"]: m["content"] for m in row["messages"]}
    return messages["user"].replace(IMAGE_PLACEHOLDER, "").strip(), messages["assistant"]


class PairTexts:
    """The prompts and answers of a pairs file, read when iterated: what a tokenizer trained from
    scratch learns its vocabulary from."""

    def __init__(self, path: str):
        self.path = Path(path)

    def __iter__(self) -> Iterator[str]:
        from ocrlab.synth.pairs import read_pairs

        if not self.path.is_file():
            raise DatasetError(f"{self.path}: no pairs file to train the tokenizer on (generate pairs with "
                               "ocrlab-synth pairs, or set data.pairs_dir)")
        for row in read_pairs(self.path):
            prompt, answer = chat_parts(row)
            yield prompt
            yield answer


def _pair_name(row: dict[str, Any]) -> str:
    return f"(id {row.get('id')!r}, task {row.get('task', 'full')!r})"


def _pair_rank(seed: int, row: dict[str, Any]) -> str:
    """A pair's place in the seed's order: its id, task and image names (not their folders, so a
    moved data dir keeps the choice)."""
    names = "|".join(Path(i).name for i in row["images"])
    return hashlib.sha256(f"{seed}\0{row.get('id')}\0{row.get('task', 'full')}\0{names}".encode()).hexdigest()


def _check_answer_form(row: dict[str, Any], out: TeacherOutput) -> None:
    """A teacher answer where the generated one is a JSON object must be one too: the metrics and
    the student's later answers are read as JSON (an LLM's code fences or prose would be learned)."""
    _, answer = chat_parts(row)
    if not answer.lstrip().startswith("{"):
        return
    try:
        generated = json.loads(answer)
    except ValueError:
        return
    if not isinstance(generated, dict):
        return
    try:
        teacher = json.loads(out.text)
    except ValueError as e:
        teacher, problem = None, f"not valid JSON ({e})"
    else:
        problem = f"a JSON {type(teacher).__name__}"
    if not isinstance(teacher, dict):
        raise DatasetError(f"{out.source}: the answer for the training pair {_pair_name(row)} is {problem}, "
                           f"{_excerpt(out.text)}; expected a JSON object like the generated answer "
                           f"{_excerpt(answer)} (strip code fences and prose from the teacher's output)")


def _excerpt(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _with_answer(row: dict[str, Any], out: TeacherOutput) -> dict[str, Any]:
    messages = [{**m, "content": out.text} if m["role"] == "assistant" else m for m in row["messages"]]
    return {**row, "messages": messages, "teacher_output": out.source}


class PairsDataset(Dataset):
    def __init__(self, rows: Sequence[dict[str, Any]], source: Path):
        self.rows = list(rows)
        self.source = source
        # bucketing key: answer + prompt characters (the image token count is set by the image
        # processor; pages of one dataset have about the same size)
        self.lengths = [sum(len(t) for t in chat_parts(r)) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from PIL import Image, UnidentifiedImageError

        row = self.rows[index]
        images = []
        for path in row["images"]:
            try:
                with Image.open(path) as img:
                    images.append(img.convert("RGB"))
            except (OSError, UnidentifiedImageError) as e:
                raise DatasetError(f"{self.source}: image {path} of row {row.get('id')} cannot be read ({e})") from None
        prompt, answer = chat_parts(row)
        meta = {k: row[k] for k in META_KEYS if k in row}
        return {"id": str(row.get("id", index)), "task": row.get("task", "full"), "images": images,
                "prompt": prompt, "answer": answer, "meta": meta, "image_paths": list(row["images"])}


class InstructionPairsDataModule(OcrDataModule):
    def __init__(self, pairs_dir: str, synth: dict | None = None, tasks: Sequence[str] | None = None,
                 batch_size: int = 2, eval_batch_size: int | None = None, num_workers: int = 0,
                 pin_memory: bool = False, bucket_by_length: bool = True, seed: int = 0,
                 small_images: str = "error", teacher_outputs: str | None = None,
                 teacher_outputs_share: float = 1.0):
        super().__init__(batch_size, eval_batch_size, num_workers, pin_memory, bucket_by_length, seed)
        share = teacher_outputs_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ConfigError(f"data.teacher_outputs_share={share!r}: expected a number from 0 to 1 (the share of "
                              "the training pairs with a teacher answer that use it)")
        if not teacher_outputs and share != 1:
            raise ConfigError(f"data.teacher_outputs_share={share} but data.teacher_outputs is not set: "
                              "give the teacher-outputs file whose answers are to be mixed in")
        self.teacher_outputs = Path(teacher_outputs) if teacher_outputs else None
        self.teacher_outputs_share = float(share)
        self.teacher_summary: dict[str, Any] | None = None  # what the teacher outputs changed (after setup)
        self._train_rows: list[dict[str, Any]] | None = None
        if small_images not in ("error", "upscale"):
            raise ConfigError(f"data.small_images={small_images!r}: expected 'error' or 'upscale'")
        # an image below the processor's min_pixels: an error (pages), or upscaled by the image
        # processor (element crops are often smaller than a page)
        self.small_images = small_images
        if not pairs_dir:
            raise ConfigError("data.pairs_dir is required: the folder with train.jsonl, val.jsonl, test.jsonl "
                              "(ocrlab-synth pairs --output)")
        self.pairs_dir = Path(pairs_dir)
        self.synth = dict(synth) if synth else None
        self.tasks = tuple(tasks) if tasks else None
        self.collator = None

    def attach_model(self, model) -> None:
        from ocrlab.families.paddleocr_vl.inputs import VLChatCollator

        collator = model.data_encoder()
        if not isinstance(collator, VLChatCollator):
            raise ConfigError(f"data {type(self).__name__} reads instruction pairs, but the model "
                              f"{type(model).__name__} is not a vision-language model (its data_encoder() gives "
                              f"{type(collator).__name__}, not a VLChatCollator)")
        self.collator = collator
        super().attach_model(model)

    # -- files ------------------------------------------------------------------------------
    def split_file(self, split: str) -> Path:
        return self.pairs_dir / f"{split}.jsonl"

    def has_split(self, split: str) -> bool:
        return self.synth is not None or self.split_file(split).is_file()

    def source_files(self, split: str) -> list[Path]:
        if not self.has_split(split):
            return []
        teacher = [self.teacher_outputs] if split == "train" and self.teacher_outputs is not None else []
        return [self.split_file(split), *teacher]

    def training_texts(self) -> Iterator[str]:
        """The training pairs' prompts and answers (what the processor's BPE is learned from),
        and the teacher answers that replace some of them."""
        texts = iter(PairTexts(self.split_file("train")))
        if self.teacher_outputs is None:
            return texts
        return itertools.chain(texts, (chat_parts(r)[1] for r in self.training_rows() if "teacher_output" in r))

    def summary(self) -> dict:
        out = super().summary()
        if self.teacher_summary is not None:
            out["teacher_outputs"] = dict(self.teacher_summary)
        return out

    def missing_split_error(self, split: str) -> str:
        return (f"no {split} pairs: {self.split_file(split)} is missing. data.pairs_dir is read as instruction pairs "
                f"(train.jsonl, val.jsonl, test.jsonl of chat rows, as ocrlab-synth pairs writes them); "
                f"{describe_dir(self.pairs_dir)}")

    def prepare_splits(self, splits: Sequence[str]) -> None:
        from ocrlab.synth.pairs import MANIFEST_FILE

        if self.synth is None or (self.pairs_dir / MANIFEST_FILE).is_file():
            return
        if any(self.split_file(s).is_file() for s in ("train", "val", "test")):
            return  # pairs that were not generated here: never written over
        from ocrlab.synth.dataset import DATASET_FILE, read_dataset_info, write_dataset
        from ocrlab.synth.invoices import InvoiceGenerator
        from ocrlab.synth.pairs import make_pairs

        settings = {k: dict(v) if isinstance(v, dict) else v for k, v in self.synth.items()}
        dataset_dir = Path(settings.get("dataset_dir") or self.pairs_dir.parent / f"{self.pairs_dir.name}_documents")
        invoices = dict(settings.get("invoices") or {})
        num_samples, workers = invoices.pop("num_samples", 200), invoices.pop("workers", 1)
        info = read_dataset_info(dataset_dir) if (dataset_dir / DATASET_FILE).is_file() else {}
        if not info.get("complete"):
            write_dataset(InvoiceGenerator(**invoices), dataset_dir, num_samples, workers=workers)
        make_pairs(dataset_dir, self.pairs_dir, **dict(settings.get("pairs") or {}))

    # -- datasets and batches ---------------------------------------------------------------
    def build_dataset(self, split: str) -> PairsDataset:
        path = self.split_file(split)
        rows = self.training_rows() if split == "train" else self._split_rows(split)
        if self.small_images == "error":
            self._check_image_sizes(path, rows)
        log.info("%s: %d pairs of %d documents from %s", split, len(rows), len({r.get("id") for r in rows}), path)
        return PairsDataset(rows, path)

    def _read_split(self, split: str) -> list[dict[str, Any]]:
        """Every row of ``split``'s file (all tasks)."""
        from ocrlab.synth.pairs import read_pairs

        path = self.split_file(split)
        if not path.is_file():
            where = "is a file" if self.pairs_dir.is_file() else ("has no such file" if self.pairs_dir.is_dir()
                                                                  else "does not exist")
            raise DatasetError(f"{path}: the {split} pairs are missing (data.pairs_dir {self.pairs_dir} {where}; "
                               "expected train.jsonl, val.jsonl, test.jsonl written by ocrlab-synth pairs)")
        return read_pairs(path)

    def _wanted(self, row: dict[str, Any]) -> bool:
        return self.tasks is None or row.get("task", "full") in self.tasks

    def _keep_tasks(self, split: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = [r for r in rows if self._wanted(r)]
        if not rows:
            raise DatasetError(f"{self.split_file(split)}: no pairs"
                               f"{f' of the tasks {list(self.tasks)}' if self.tasks else ''}")
        return rows

    def _split_rows(self, split: str) -> list[dict[str, Any]]:
        return self._keep_tasks(split, self._read_split(split))

    def training_rows(self) -> list[dict[str, Any]]:
        """The training rows of ``tasks``, with the chosen teacher answers (read once)."""
        if self._train_rows is None:
            rows = self._read_split("train")
            kept = self._keep_tasks("train", rows)
            self._train_rows = kept if self.teacher_outputs is None else self._with_teacher_answers(rows)
        return self._train_rows

    def _with_teacher_answers(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The training ``rows`` of ``tasks``, the teacher's answer in ``teacher_outputs_share`` of
        those that have one (see the module docstring). Outputs are matched to pairs by image, and
        by task where an image has several pairs."""
        from ocrlab.datamodules.teacher_outputs import match_teacher_outputs, read_teacher_outputs
        from ocrlab.synth.pairs import read_pairs

        file = self.teacher_outputs
        # line breaks are part of answers (a region's text lines, a table's rows)
        outputs = read_teacher_outputs(file, keep_line_breaks=True)
        pairs_of: dict[Path, list[int]] = {}  # training image -> the rows showing it
        for n, row in enumerate(rows):
            for image in dict.fromkeys(Path(i).resolve() for i in row["images"]):
                pairs_of.setdefault(image, []).append(n)
        # a teacher run over every split's images is accepted: only the training answers are used
        eval_images = {Path(i).resolve() for s in ("val", "test") if self.split_file(s).is_file()
                       for r in read_pairs(self.split_file(s)) for i in r["images"]} - pairs_of.keys()
        of_eval = sum(o.image in eval_images for o in outputs)
        matched = match_teacher_outputs([o for o in outputs if o.image not in eval_images], pairs_of.keys(),
                                        f"the {len(pairs_of):,} training images of {self.split_file('train')}")
        answer_of: dict[int, TeacherOutput] = {}  # row number -> its teacher output
        for image, image_outputs in matched.items():
            tasks = [rows[n].get("task", "full") for n in pairs_of[image]]
            for out in image_outputs:
                numbers = pairs_of[image]
                if out.task is not None:
                    numbers = [n for n in numbers if rows[n].get("task", "full") == out.task]
                    if not numbers:
                        raise DatasetError(f"{out.source}: image {image} has training pairs of the tasks {tasks}; "
                                           f"the output's task {out.task!r} is none of them")
                if len(numbers) > 1:
                    raise DatasetError(f"{out.source}: image {image} has {len(numbers)} training pairs (tasks "
                                       f"{tasks}); expected a 'task' naming the one this output answers")
                n = numbers[0]
                if n in answer_of:
                    raise DatasetError(f"{out.source}: answers the training pair {_pair_name(rows[n])} (images "
                                       f"{rows[n]['images']}), which {answer_of[n].source} answers too; expected "
                                       "one teacher output per pair")
                answer_of[n] = out
        eligible = [n for n in sorted(answer_of) if self._wanted(rows[n])]
        for n in eligible:
            _check_answer_form(rows[n], answer_of[n])
        # ranked by a hash of (seed, pair): the same pairs whatever the file's order or the other pairs
        ranked = sorted(eligible, key=lambda n: (_pair_rank(self.seed, rows[n]), n))
        chosen = set(ranked[: round(self.teacher_outputs_share * len(eligible))])
        kept = [_with_answer(row, answer_of[n]) if n in chosen else row
                for n, row in enumerate(rows) if self._wanted(row)]
        self.teacher_summary = {
            "file": str(file), "share": self.teacher_outputs_share, "outputs": len(outputs),
            "training_pairs": len(kept), "pairs_with_teacher_answer": len(eligible), "replaced": len(chosen),
            "outputs_of_other_tasks": len(answer_of) - len(eligible), "outputs_of_eval_images": of_eval,
        }
        log.info("train: %d of %d answers replaced by the teacher's from %s (share %g of the %d pairs with one)%s%s",
                 len(chosen), len(kept), file, self.teacher_outputs_share, len(eligible),
                 f"; {len(answer_of) - len(eligible)} output(s) of tasks not in data.tasks not used"
                 if len(answer_of) > len(eligible) else "",
                 f"; {of_eval} output(s) for validation/test images not used (those splits keep the generated "
                 "answers)" if of_eval else "")
        return kept

    def _check_image_sizes(self, path: Path, rows: list[dict[str, Any]]) -> None:
        """Every image at least the image processor's ``min_pixels`` (read from the headers)."""
        from PIL import Image, UnidentifiedImageError

        from ocrlab.families.paddleocr_vl.processor import pixel_bounds

        low, _ = pixel_bounds(self.collator.processor.image_processor)
        small = []
        for number, row in enumerate(rows, start=1):
            for image in row["images"]:
                try:
                    with Image.open(image) as img:
                        w, h = img.size
                except (OSError, UnidentifiedImageError) as e:
                    raise DatasetError(f"{path}: image {image} of row {number} cannot be read ({e})") from None
                if w * h < low:
                    small.append(f"{image} ({w}x{h} = {w * h} px)")
        if small:
            raise DatasetError(f"{path}: {len(small)} image(s) smaller than the image processor's minimum of {low} "
                               f"pixels (model.processor.min_pixels): {'; '.join(small[:10])}. Lower min_pixels, "
                               "or set data.small_images=upscale to let the processor enlarge them")

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Training rows: the chat with ``labels`` on the answer tokens."""
        return dict(self.collator(items))

    def collate_eval(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """The training form (for the loss), the prompts alone left-padded for generation
        (``generate``), and the rows (ids, tasks, truths, metadata) to score answers against."""
        batch = self.collate(items)
        batch["generate"] = dict(self.collator([{**item, "answer": None} for item in items]))
        batch["rows"] = [{k: item[k] for k in ("id", "task", "answer", "meta", "image_paths")} for item in items]
        return batch

    def val_dataloader(self):
        return self.loader("val", shuffle=False, batch_size=self.eval_batch_size, collate=self.collate_eval)

    def test_dataloader(self):
        return self.loader("test", shuffle=False, batch_size=self.eval_batch_size, collate=self.collate_eval)
