"""``ocrlab-synth``: command line for the synthetic data generators.

Each subcommand is one ``_add_<name>(subparsers)`` function in :data:`SUBCOMMANDS` that adds
its parser and sets ``run`` to a function of the parsed arguments. Heavy imports live inside
those functions so that ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence


class CommandError(Exception):
    """A problem the user can fix (bad arguments, a conflicting output): shown without traceback."""


def _add_thai_lines(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "thai-lines",
        help="Thai text-line images + PaddleOCR labels",
        description=(
            "Render synthetic Thai financial text lines into OUTPUT_DIR: images/<split>/, the PaddleOCR "
            "label files <split>.txt (written once every image exists), manifest.jsonl, dataset.json. "
            "A complete OUTPUT_DIR with the same spec is left as is, an interrupted one resumed; one with "
            "a different spec is an error."
        ),
    )
    parser.add_argument("--output-dir", required=True, help="dataset directory to create")
    counts = parser.add_mutually_exclusive_group(required=True)
    counts.add_argument("--num-samples", type=int, metavar="N", help="N samples, all in the train split")
    counts.add_argument("--train", type=int, metavar="N", help="train samples (with --val/--test)")
    parser.add_argument("--val", type=int, metavar="N", default=0, help="val samples (default 0)")
    parser.add_argument("--test", type=int, metavar="N", default=0, help="test samples (default 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workers", type=int, default=1, help="processes (output is the same for any number)"
    )
    parser.add_argument(
        "--font-include", nargs="+", metavar="FAMILY", help="only these font families (e.g. Sarabun Kanit)"
    )
    parser.add_argument(
        "--font-exclude", nargs="+", metavar="FAMILY", help="hold these font families out (e.g. Prompt)"
    )
    parser.add_argument("--font-size", type=int, nargs=2, metavar=("MIN", "MAX"), default=(24, 40))
    parser.add_argument("--min-chars", type=int, default=5)
    parser.add_argument("--max-chars", type=int, default=40)
    parser.add_argument("--image-format", choices=("png", "jpg"), default="png")
    parser.add_argument("--font-share", nargs="+", metavar="FAMILY=SHARE", default=None,
                        help="the typeface pool and each family's share of the lines, e.g. 'Sarabun=2' 'Noto Sans "
                             "Thai=1' (default: every installed family that draws Thai, equal shares)")
    parser.add_argument("--clean", action="store_true", help="no line style effects and no degradations (clean renders)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_thai_lines)


def _run_thai_lines(args: argparse.Namespace) -> int:
    from ocrlab.synth.degrade import DegradationConfig
    from ocrlab.synth.fonts import FontNotFoundError
    from ocrlab.synth.line_render import LineStyle
    from ocrlab.synth.thai_lines import (
        DatasetMismatchError,
        RaqmUnavailableError,
        describe_dataset,
        ensure_thai_lines,
    )

    if args.num_samples is not None:
        if args.val or args.test:
            raise CommandError(
                "--num-samples puts every sample in train; use --train/--val/--test for splits"
            )
        splits = {"train": args.num_samples}
    else:
        requested = {"train": args.train, "val": args.val, "test": args.test}
        splits = {name: n for name, n in requested.items() if name == "train" or n != 0}
    shares = None
    if args.font_share:
        try:
            shares = {family.strip(): float(share) for family, share in (item.rsplit("=", 1) for item in args.font_share)}
        except ValueError:
            raise CommandError(f"--font-share expects FAMILY=SHARE items, got {args.font_share}") from None
    try:
        output_dir = ensure_thai_lines(
            args.output_dir,
            splits=splits,
            seed=args.seed,
            workers=args.workers,
            fonts_include=args.font_include,
            fonts_exclude=args.font_exclude,
            font_size=tuple(args.font_size),
            degradations=DegradationConfig.none() if args.clean else None,
            style=LineStyle.none() if args.clean else None,
            font_shares=shares,
            min_chars=args.min_chars,
            max_chars=args.max_chars,
            image_format=args.image_format,
            progress=not args.no_progress,
        )
    except (ValueError, DatasetMismatchError, FontNotFoundError, RaqmUnavailableError) as error:
        raise CommandError(str(error)) from error
    counts = describe_dataset(output_dir)["counts"]
    print(f"{output_dir}: " + ", ".join(f"{split} {n}" for split, n in counts.items()))
    return 0


def _add_document_parser(
    subparsers: argparse._SubParsersAction, name: str, help: str, description: str
) -> argparse.ArgumentParser:
    """A document generator's subcommand with the options they all share (one meaning each,
    see :func:`ocrlab.synth.dataset.write_dataset`)."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.add_argument("--num-samples", type=int, required=True, metavar="N", help="documents to make (>= 1)")
    parser.add_argument("--output-dir", required=True, help="dataset directory (new or empty, or this run's to resume)")
    parser.add_argument("--seed", type=int, default=0, help="same seed and options -> byte-identical output")
    parser.add_argument("--hard-ratio", type=float, default=0.1, help="fraction of hard samples (default 0.1)")
    parser.add_argument("--workers", type=int, default=1, help="processes (output is the same for any number)")
    parser.add_argument(
        "--dpi", type=float, default=None, help="raster resolution (default: the generator's, 150 invoices / 100 business docs)"
    )
    parser.add_argument(
        "--image-format",
        choices=("jpg", "png"),
        default="jpg",
        help="jpg (default: ~5 ms a page to encode) or png (lossless, 5-10x slower)",
    )
    parser.add_argument("--color", action="store_true", help="RGB pages (default grayscale, like most scans)")
    parser.add_argument(
        "--extend", action="store_true", help="add these samples as a new part of the dataset already in OUTPUT_DIR"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _document_options(args: argparse.Namespace) -> dict[str, object]:
    """The generator arguments of the shared options (dpi only when given: each generator has its own)."""
    options: dict[str, object] = {
        "seed": args.seed,
        "hard_ratio": args.hard_ratio,
        "image_format": args.image_format,
        "grayscale": not args.color,
    }
    if args.dpi is not None:
        options["dpi"] = args.dpi
    return options


def _write_documents(args: argparse.Namespace, make_generator: Callable[[], object]) -> int:
    from ocrlab.synth.dataset import DatasetConflictError, write_dataset

    if args.num_samples < 1:
        raise CommandError(f"--num-samples {args.num_samples}: expected at least 1")
    if args.workers < 1:
        raise CommandError(f"--workers {args.workers}: expected at least 1")
    try:
        generator = make_generator()
        summary = write_dataset(
            generator,  # type: ignore[arg-type]
            args.output_dir,
            args.num_samples,
            workers=args.workers,
            extend=args.extend,
            progress=not args.no_progress,
        )
    except (ValueError, DatasetConflictError) as error:
        raise CommandError(str(error)) from error
    resumed = f", resumed after {summary.resumed_from}" if summary.resumed_from else ""
    print(f"{summary.output_dir}: {summary.num_samples} documents ({summary.made} made now{resumed})")
    return 0


def _add_invoices(subparsers: argparse._SubParsersAction) -> None:
    from ocrlab.synth.invoices.schema import HARD_KINDS

    parser = _add_document_parser(
        subparsers,
        "invoices",
        "invoices, receipts and credit notes with ground-truth JSON, word boxes and PDFs",
        "Render synthetic financial documents into OUTPUT_DIR: images/<id>_p<n>.<ext>, pdf/<id>.pdf, "
        "ground_truth/<id>.json (schema in docs/synthetic_documents.md), manifest.jsonl, dataset.json. "
        f"Hard kinds: {', '.join(HARD_KINDS)}.",
    )
    parser.add_argument("--plan", help="synthesis plan JSON (weights per hard kind, field, locale, currency, ...)")
    parser.add_argument("--locales", nargs="+", metavar="LOCALE", help="e.g. en_US de_DE th_TH (default: all 7)")
    parser.add_argument("--currencies", nargs="+", metavar="CODE", help="e.g. USD EUR (default: each locale's own)")
    parser.add_argument(
        "--document-types", nargs="+", metavar="TYPE", help="invoice receipt credit_note (default: all)"
    )
    parser.set_defaults(run=_run_invoices)


def _run_invoices(args: argparse.Namespace) -> int:
    from ocrlab.synth.invoices import FontUnavailableError, InvoiceGenerator
    from ocrlab.synth.plan import PlanError, load_plan

    def make() -> object:
        try:
            plan = load_plan(args.plan) if args.plan else None
            return InvoiceGenerator(
                **_document_options(args),
                locales=args.locales,
                currencies=args.currencies,
                document_types=args.document_types,
                plan=plan,
            )
        except (PlanError, FontUnavailableError) as error:
            raise CommandError(str(error)) from error

    return _write_documents(args, make)


def _add_business_docs(subparsers: argparse._SubParsersAction) -> None:
    parser = _add_document_parser(
        subparsers,
        "business-docs",
        "business documents for LayoutLMv3 (the business-document annotation format: 15 types, 35 PO "
        "subtypes, BIO labels)",
        "Render synthetic business documents into OUTPUT_DIR in the business-document annotation format: "
        "train/, val/, test/ with images/ and annotations/*.json {image_path, doc_type, po_subtype, words, "
        "boxes (0-1000), token_labels, width, height}, plus label_map.json, manifest.jsonl and dataset.json.",
    )
    parser.add_argument(
        "--holdout-layouts",
        action="store_true",
        help="reserve one layout variant per document type for test/ (never in train/ or val/)",
    )
    parser.set_defaults(run=_run_business_docs)


def _run_business_docs(args: argparse.Namespace) -> int:
    from ocrlab.synth.business_docs import BusinessDocGenerator

    return _write_documents(
        args, lambda: BusinessDocGenerator(**_document_options(args), holdout_layouts=args.holdout_layouts)
    )


def _add_pairs(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pairs",
        help="VLM instruction pairs (chat JSONL) from an invoice dataset, split by document",
        description=(
            "Make instruction pairs for VLM fine-tuning (PaddleOCR-VL) from an `invoices` dataset: "
            "OUTPUT/{train,val,test}.jsonl rows {id, task, images, messages, document_type, locale, currency, "
            "hard_kinds, layout} (image paths relative to OUTPUT) and OUTPUT/pairs.json. pages: up to 5 JSON "
            "extraction tasks per document (full, vendor, client, line_items, summary) over its page images; "
            "crops: one pair per region crop (OUTPUT/crops/<id>_p<n>_<block>.png), OCR text or the table. "
            "OUTPUT appears complete or not at all; an OUTPUT holding another run is refused."
        ),
    )
    parser.add_argument("--dataset", required=True, help="an `ocrlab-synth invoices` output directory")
    parser.add_argument("--output", required=True, help="directory to create (new or empty)")
    parser.add_argument("--mode", choices=("pages", "crops"), default="pages", help="default pages")
    parser.add_argument(
        "--pairs-per-sample", type=int, metavar="N", help="pages mode: the first N tasks of full vendor client "
        "line_items summary (1..5, default 5; ignored in crops mode)"
    )
    parser.add_argument(
        "--table-format", choices=("html", "otsl"), help="crops mode: the table answer (default html; ignored in pages mode)"
    )
    parser.add_argument("--prompts", metavar="YAML", help="prompts file (default: ocrlab/synth/pair_prompts.yaml)")
    parser.add_argument("--seed", type=int, default=0, help="the split's seed (same seed -> identical files)")
    parser.add_argument(
        "--split", type=float, nargs=3, metavar=("TRAIN", "VAL", "TEST"), default=(0.8, 0.1, 0.1),
        help="document fractions (default 0.8 0.1 0.1)",
    )
    parser.add_argument(
        "--min-crop-side", type=int, default=4, metavar="PX", help="crops mode: skip regions thinner than this"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_pairs)


def _run_pairs(args: argparse.Namespace) -> int:
    from ocrlab.synth.pair_rows import PairsError
    from ocrlab.synth.pairs import make_pairs

    if args.mode == "pages" and args.table_format is not None:
        print("ocrlab-synth pairs: note: --table-format applies to --mode crops only (pages answers are JSON)",
              file=sys.stderr)
    if args.mode == "crops" and args.pairs_per_sample is not None:
        print("ocrlab-synth pairs: note: --pairs-per-sample applies to --mode pages only (crops: one pair per "
              "region)", file=sys.stderr)
    try:
        summary = make_pairs(
            args.dataset,
            args.output,
            mode=args.mode,
            pairs_per_sample=5 if args.pairs_per_sample is None else args.pairs_per_sample,
            table_format=args.table_format or "html",
            prompts=args.prompts,
            seed=args.seed,
            split=args.split,
            min_crop_side=args.min_crop_side,
            progress=not args.no_progress,
        )
    except PairsError as error:
        raise CommandError(str(error)) from error
    splits = ", ".join(f"{k} {summary.pairs[k]} ({summary.documents[k]} docs)" for k in summary.pairs)
    skipped = ", ".join(f"{n} {why}" for why, n in summary.skipped_regions.items() if n)
    note = f"; regions skipped: {skipped}" if skipped else ""
    state = "" if summary.made else " (already made by an identical run: left as is)"
    print(f"{summary.output}: {sum(summary.pairs.values())} pairs: {splits}{note}{state}")
    return 0


# Registry of subcommands, in --help order.
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_thai_lines,
    _add_invoices,
    _add_business_docs,
    _add_pairs,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocrlab-synth", description="Generate synthetic OCR datasets.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_subcommand in SUBCOMMANDS:
        add_subcommand(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the subcommand; returns the exit code.

    Problems the user can fix (:class:`CommandError`) exit with status 2 and a one-line message.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CommandError as error:
        parser.exit(2, f"ocrlab-synth {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
