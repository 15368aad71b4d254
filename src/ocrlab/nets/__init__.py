"""Network stages in the PaddleOCR manner: backbone -> neck -> head.

Each stage exposes ``out_channels``; the next stage is built from it, so sizes are inferred and
never repeated in configs. Backbones return ``(B, C, 1, T)`` feature maps (height collapsed).
"""

from ocrlab.nets.backbones import MobileNetV3Rec, SmallCNN
from ocrlab.nets.heads import CTCHead
from ocrlab.nets.necks import SequenceEncoder
from ocrlab.nets.recognizer import CTCRecognitionNet

__all__ = ["CTCHead", "CTCRecognitionNet", "MobileNetV3Rec", "SequenceEncoder", "SmallCNN"]
