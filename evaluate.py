"""Evaluate a checkpoint: ``python evaluate.py ckpt_path=... data.test_files=[...]`` (see README)."""

from ocrlab.cli import evaluate_main

if __name__ == "__main__":
    evaluate_main()
