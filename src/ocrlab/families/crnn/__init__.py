"""CRNN-CTC text-line recognition: backbone -> neck -> head (PaddleOCR's chaining by
``out_channels``), CTC loss and greedy decoding over the model's charset."""

from ocrlab.families.crnn.backbones import MobileNetV3Rec, SmallCNN
from ocrlab.families.crnn.heads import CTCHead
from ocrlab.families.crnn.module import CTCRecognizer
from ocrlab.families.crnn.necks import SequenceEncoder
from ocrlab.families.crnn.net import CTCRecognitionNet

__all__ = ["CTCHead", "CTCRecognitionNet", "CTCRecognizer", "MobileNetV3Rec", "SequenceEncoder", "SmallCNN"]
