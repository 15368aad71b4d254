"""ocrlab: a Hydra-configured PyTorch Lightning framework for OCR and document understanding.

Importing the package is cheap on purpose (no torch): config composition and ``--help`` stay fast.
"""

__version__ = "0.1.0"
