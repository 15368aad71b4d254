"""Train a model: ``python train.py experiment=crnn_thai`` (see README and ``--help``)."""

from ocrlab.cli import train_main

if __name__ == "__main__":
    train_main()
