import itertools
from functools import partial

import pytest
import torch

from ocrlab.nets import CTCHead, CTCRecognitionNet, MobileNetV3Rec, SequenceEncoder, SmallCNN
from ocrlab.optim import WarmupCosineFactor


@pytest.mark.parametrize("backbone", [
    lambda: MobileNetV3Rec(scale=0.5, model_name="large"),
    lambda: MobileNetV3Rec(scale=0.5, model_name="small"),
    lambda: SmallCNN(channels=(16, 32, 64)),
], ids=["mbv3-large", "mbv3-small", "small-cnn"])
@pytest.mark.parametrize("encoder_type", ["rnn", "reshape"])
def test_stages_chain_out_channels_and_keep_width_resolution(backbone, encoder_type):
    net = CTCRecognitionNet(backbone(), partial(SequenceEncoder, encoder_type=encoder_type, hidden_size=24),
                            CTCHead, num_classes=11)
    logits = net(torch.randn(2, 3, 32, 120))
    assert logits.shape == (2, 30, 11)  # T = W / 4
    expected = 48 if encoder_type == "rnn" else net.backbone.out_channels
    assert net.neck.out_channels == expected
    assert net.output_lengths(torch.tensor([120, 7])).tolist() == [30, 1]


def test_mobilenet_scale_half_large_matches_paddleocr_width():
    assert MobileNetV3Rec(scale=0.5, model_name="large").out_channels == 480
    with pytest.raises(ValueError, match="model_name"):
        MobileNetV3Rec(model_name="medium")
    assert MobileNetV3Rec(scale=0.5)(torch.randn(1, 3, 48, 64)).shape[2:] == (1, 16)  # PP-OCRv3 height
    for bad in (16, 64):
        with pytest.raises(ValueError, match="height 32-63"):
            MobileNetV3Rec(scale=0.5)(torch.randn(1, 3, bad, 64))


def test_warmup_cosine_shape():
    f = WarmupCosineFactor(total_steps=110, warmup_steps=10, min_lr_ratio=0.1)
    values = [f(s) for s in range(111)]
    assert values[0] == pytest.approx(1 / 11)
    assert all(a < b for a, b in itertools.pairwise(values[:11]))  # warmup rises
    assert values[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(values[10:]))  # then decays
    assert values[110] == pytest.approx(0.1)
