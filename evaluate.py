"""Evaluate a checkpoint: ``python evaluate.py experiment=crnn_thai ckpt_path=... data.test_files=[...]``."""

from ocrlab.cli import evaluate_main

if __name__ == "__main__":
    evaluate_main()
