"""Export a trained model: ``python export.py <ckpt> --output <dir>`` (same as ``ocrlab-export``)."""

from ocrlab.cli import export_main

if __name__ == "__main__":
    export_main()
