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
            "Render synthetic Thai financial text lines into OUTPUT_DIR ({split}.txt, images/, "
            "manifest.json, SHA256SUMS). An existing OUTPUT_DIR with the same spec is left as is; "
            "one with a different spec is an error."
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
    parser.add_argument("--clean", action="store_true", help="no degradations (clean renders)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_thai_lines)


def _run_thai_lines(args: argparse.Namespace) -> int:
    from ocrlab.synth.degrade import DegradationConfig
    from ocrlab.synth.fonts import FontNotFoundError
    from ocrlab.synth.thai_lines import (
        DatasetMismatchError,
        RaqmUnavailableError,
        ensure_thai_lines,
        read_manifest,
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
            min_chars=args.min_chars,
            max_chars=args.max_chars,
            image_format=args.image_format,
            progress=not args.no_progress,
        )
    except (ValueError, DatasetMismatchError, FontNotFoundError, RaqmUnavailableError) as error:
        raise CommandError(str(error)) from error
    counts = read_manifest(output_dir)["counts"]
    print(f"{output_dir}: " + ", ".join(f"{split} {n}" for split, n in counts.items()))
    return 0


# Registry: later issues add _add_invoices, _add_business_docs, ...
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_add_thai_lines,)


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
