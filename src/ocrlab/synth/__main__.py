"""``python -m ocrlab.synth``: the same as the ``ocrlab-synth`` command."""

from ocrlab.synth.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
