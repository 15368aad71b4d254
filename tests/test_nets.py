import itertools
from functools import partial

import pytest
import torch

from ocrlab.families.crnn import CTCHead, CTCRecognitionNet, MobileNetV3Rec, SequenceEncoder, SmallCNN
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


def test_channels_last_gives_the_same_outputs_and_gradients_and_loads_either_way():
    def build(channels_last):
        torch.manual_seed(0)
        return CTCRecognitionNet(MobileNetV3Rec(scale=0.5, model_name="small"),
                                 partial(SequenceEncoder, encoder_type="reshape"), CTCHead, 11, channels_last)

    plain, nhwc = build(False), build(True)
    conv = next(p for p in nhwc.backbone.parameters() if p.dim() == 4)  # the stem's, 3 input channels
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    images = torch.randn(3, 3, 32, 96)
    out_plain, out_nhwc = plain(images), nhwc(images)
    torch.testing.assert_close(out_nhwc, out_plain, rtol=1e-4, atol=1e-4)
    out_plain.square().mean().backward()
    out_nhwc.square().mean().backward()
    for (name, a), b in zip(plain.named_parameters(), nhwc.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-5, msg=name)
    # a checkpoint of either layout loads into the other
    nhwc.load_state_dict(plain.state_dict())
    plain.load_state_dict(nhwc.state_dict())
    torch.testing.assert_close(nhwc(images), plain(images), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("model_name", ["small", "large"])
def test_mobilenet_features_do_not_depend_on_right_padding(model_name):
    torch.manual_seed(0)
    net = MobileNetV3Rec(scale=0.5, model_name=model_name)
    net.apply(lambda m: setattr(m, "momentum", None) if isinstance(m, torch.nn.BatchNorm2d) else None)
    with torch.no_grad():  # running statistics of a real size, so that leaks are not tiny numbers
        for _ in range(3):
            net(torch.randn(8, 3, 32, 128))
    net.eval()
    width = 125  # not a multiple of the stride
    line = torch.zeros(1, 3, 32, 128)
    line[..., :width] = torch.randn(1, 3, 32, width)
    padded = torch.cat([line, torch.full((1, 3, 32, 96), 3.0)], dim=-1)  # a wider neighbour's padding
    steps = width // 4
    with torch.no_grad():
        alone = net(line, torch.tensor([width]))[..., :steps]
        batched = net(padded, torch.tensor([width]))[..., :steps]
        unmasked = net(padded)[..., :steps]
    torch.testing.assert_close(batched, alone, rtol=1e-4, atol=1e-4)
    assert (unmasked - alone).abs().max() > 0.1  # what the masking removes


def test_mobilenet_scale_half_large_matches_paddleocr_width():
    assert MobileNetV3Rec(scale=0.5, model_name="large").out_channels == 480
    with pytest.raises(ValueError, match="model_name"):
        MobileNetV3Rec(model_name="medium")
    assert MobileNetV3Rec(scale=0.5)(torch.randn(1, 3, 48, 64)).shape[2:] == (1, 16)  # PP-OCRv3 height
    for bad in (16, 64):
        with pytest.raises(ValueError, match="height 32-63"):
            MobileNetV3Rec(scale=0.5)(torch.randn(1, 3, bad, 64))


def test_warmup_ratio_is_a_share_of_all_steps():
    from ocrlab.optim import warmup_cosine

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, total_steps=200, steps_per_epoch=50, warmup_epochs=3, warmup_ratio=0.1)
    assert sched.lr_lambdas[0].warmup_steps == 20  # 10 % of 200 (wins over the epochs)
    with pytest.raises(ValueError, match="give one"):
        warmup_cosine(opt, total_steps=200, steps_per_epoch=50, warmup_steps=5, warmup_ratio=0.1)
    with pytest.raises(ValueError, match="warmup_ratio"):
        warmup_cosine(opt, total_steps=200, steps_per_epoch=50, warmup_ratio=1.5)


def test_warmup_cosine_shape():
    f = WarmupCosineFactor(total_steps=110, warmup_steps=10, min_lr_ratio=0.1)
    values = [f(s) for s in range(111)]
    assert values[0] == pytest.approx(1 / 11)
    assert all(a < b for a, b in itertools.pairwise(values[:11]))  # warmup rises
    assert values[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(values[10:]))  # then decays
    assert values[110] == pytest.approx(0.1)


def test_resumed_schedule_keeps_its_position_and_takes_this_runs_length(caplog):
    """``LambdaLR.load_state_dict`` also loaded the saving run's total and warmup steps: a run
    extended on resume (a larger budget) followed the first run's schedule, to lr 0 at its end."""
    from ocrlab.optim import warmup_cosine

    def setup(total):
        opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))], lr=1.0)
        return opt, warmup_cosine(opt, total_steps=total, steps_per_epoch=5, warmup_steps=2)

    opt, sched = setup(total=5)
    for _ in range(5):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.0  # the end of a 5-step schedule
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    opt, sched = setup(total=20)  # resumed with a 20-step budget: the optimizer first, as Lightning does
    opt.load_state_dict(saved_opt)
    with caplog.at_level("WARNING", logger="ocrlab"):
        sched.load_state_dict(saved_sched)
    factor = sched.lr_lambdas[0]
    assert (factor.total_steps, factor.warmup_steps, sched.last_epoch) == (20, 2, 5)
    assert opt.param_groups[0]["lr"] == pytest.approx(factor(5)) and sched.get_last_lr() == [factor(5)]
    assert "total_steps=20" in caplog.text and "total_steps=5" in caplog.text
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(factor(6)) and factor(6) > 0
    # the same budget: nothing changes, nothing is logged
    caplog.clear()
    opt2, sched2 = setup(total=5)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert opt2.param_groups[0]["lr"] == 0.0 and not caplog.records
