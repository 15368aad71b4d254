"""Recognition backbones: images ``(B, C_in, H, W)`` -> features ``(B, out_channels, 1, W / 4)``.

Every backbone takes ``forward(images, widths=None)``: ``widths`` are the unpadded image widths of
a right-padded batch. MobileNetV3 then zeroes the padded columns after every layer (as the zero
padding of an unpadded image would be) and its squeeze-excitation averages over real columns
only, so a line's features do not depend on what it was batched with.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops.misc import Conv2dNormActivation, SqueezeExcitation

Stride = int | tuple[int, int]

# PaddleOCR's recognition MobileNetV3 settings: kernel, expansion, out channels, squeeze-excite,
# activation, stride. (2, 1) strides halve the height only, so the width (the CTC time axis)
# keeps a resolution of W / 4 after the first conv and the final pooling.
_LARGE = [
    (3, 16, 16, False, "relu", 1),
    (3, 64, 24, False, "relu", (2, 1)),
    (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", (2, 1)),
    (5, 120, 40, True, "relu", 1),
    (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 1),
    (3, 200, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1),
    (3, 480, 112, True, "hardswish", 1),
    (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", (2, 1)),
    (5, 960, 160, True, "hardswish", 1),
    (5, 960, 160, True, "hardswish", 1),
]
_SMALL = [
    (3, 16, 16, True, "relu", 1),  # PaddleOCR strides (2, 1) here; 1 keeps H=32 -> 1 valid
    (3, 72, 24, False, "relu", (2, 1)),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hardswish", (2, 1)),
    (5, 240, 40, True, "hardswish", 1),
    (5, 240, 40, True, "hardswish", 1),
    (5, 120, 48, True, "hardswish", 1),
    (5, 144, 48, True, "hardswish", 1),
    (5, 288, 96, True, "hardswish", (2, 1)),
    (5, 576, 96, True, "hardswish", 1),
    (5, 576, 96, True, "hardswish", 1),
]
_SETTINGS = {"large": (_LARGE, 960), "small": (_SMALL, 576)}
_ACTIVATIONS = {"relu": nn.ReLU, "hardswish": nn.Hardswish}


def mask_columns(x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """``x`` with the columns at and beyond each sample's ``widths`` set to zero."""
    valid = torch.arange(x.shape[-1], device=x.device) < widths[:, None]
    return x * valid[:, None, None, :].to(x.dtype)


def scale_widths(widths: torch.Tensor, size: int, input_size: int) -> torch.Tensor:
    """Valid columns at a resolution of ``size`` columns, of images ``widths`` wide in a batch
    ``input_size`` wide (a stride-2 layer keeps ceil(w / 2) columns holding real pixels)."""
    # ceil without negatives: torch.onnx exports // as truncation, turning -(-a // b) into a floor
    return torch.clamp((widths * size + input_size - 1) // input_size, min=1)


class MaskedSqueezeExcitation(SqueezeExcitation):
    """torchvision's squeeze-excitation (same parameters) whose global average skips right padding.

    The plain block averages over the padded width too, so the channel scales, and with them
    every column's features, change with the batch's widest line (batch 1 and batch 32 disagreed
    on 27 % of one test set with a trained MobileNetV3-small). Expects the padded columns zeroed.
    """

    def forward(self, x: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        if widths is None:
            return super().forward(x)
        pooled = x.sum((2, 3), keepdim=True) / (widths.to(x.dtype) * x.shape[2]).view(-1, 1, 1, 1)
        return self.scale_activation(self.fc2(self.activation(self.fc1(pooled)))) * x


def make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class InvertedResidual(nn.Module):
    """MobileNetV3 block with a possibly height-only stride.

    torchvision's ``InvertedResidual`` accepts integer strides only; its conv-norm-activation
    and squeeze-excitation blocks are reused here.
    """

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, kernel: int, stride: Stride, use_se: bool,
                 activation: type[nn.Module]):
        super().__init__()
        self.use_residual = stride == 1 and in_ch == out_ch
        norm = nn.BatchNorm2d  # PyTorch's momentum 0.1 is Paddle's 0.9, PaddleOCR's setting
        layers: list[nn.Module] = []
        if mid_ch != in_ch:
            layers.append(Conv2dNormActivation(in_ch, mid_ch, 1, norm_layer=norm, activation_layer=activation))
        layers.append(Conv2dNormActivation(mid_ch, mid_ch, kernel, stride=stride, groups=mid_ch,
                                           norm_layer=norm, activation_layer=activation))
        if use_se:
            squeeze = make_divisible(mid_ch // 4)
            layers.append(MaskedSqueezeExcitation(mid_ch, squeeze, scale_activation=nn.Hardsigmoid))
        layers.append(Conv2dNormActivation(mid_ch, out_ch, 1, norm_layer=norm, activation_layer=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """``widths``: valid columns of ``x`` per sample, whose padded columns are zero (None: no padding)."""
        if widths is None:
            y = self.block(x)
        else:
            y = x
            for layer in self.block:
                if isinstance(layer, MaskedSqueezeExcitation):
                    y = layer(y, scale_widths(widths, y.shape[-1], x.shape[-1]))
                else:
                    y = layer(y)
                    y = mask_columns(y, scale_widths(widths, y.shape[-1], x.shape[-1]))
        return x + y if self.use_residual else y


class MobileNetV3Rec(nn.Module):
    """PaddleOCR-style MobileNetV3 for text lines (``scale`` 0.35-1.25, ``large`` or ``small``).

    Input height must be 32-63 (PaddleOCR uses 32 or 48): the height strides and the final
    pooling bring it to 1. Width is divided by 4.
    """

    def __init__(self, in_channels: int = 3, scale: float = 0.5, model_name: str = "large"):
        super().__init__()
        if model_name not in _SETTINGS:
            raise ValueError(f"MobileNetV3 model_name must be one of {sorted(_SETTINGS)}, got {model_name!r}")
        settings, last_squeeze = _SETTINGS[model_name]
        norm = nn.BatchNorm2d
        ch = make_divisible(16 * scale)
        layers: list[nn.Module] = [
            Conv2dNormActivation(in_channels, ch, 3, stride=2, norm_layer=norm, activation_layer=nn.Hardswish)
        ]
        for kernel, expansion, out, use_se, act, stride in settings:
            mid, out_ch = make_divisible(scale * expansion), make_divisible(scale * out)
            layers.append(InvertedResidual(ch, mid, out_ch, kernel, stride, use_se, _ACTIVATIONS[act]))
            ch = out_ch
        self.out_channels = make_divisible(scale * last_squeeze)
        layers.append(Conv2dNormActivation(ch, self.out_channels, 1, norm_layer=norm,
                                           activation_layer=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        height, input_width = x.shape[2], x.shape[-1]
        if widths is None:
            x = self.features(x)
        else:
            x = mask_columns(x, widths)
            for layer in self.features:
                if isinstance(layer, InvertedResidual):
                    x = layer(x, scale_widths(widths, x.shape[-1], input_width))
                else:
                    x = layer(x)
                    x = mask_columns(x, scale_widths(widths, x.shape[-1], input_width))
        if x.shape[2] not in (2, 3):  # other heights leave 0 or several rows for the sequence neck
            raise ValueError(f"MobileNetV3Rec expects input height 32-63, got {height}")
        return self.pool(x)


class SmallCNN(nn.Module):
    """A small recognizer trunk: three conv + ReLU + max-pool + dropout stages.

    The first two pools halve height and width, the third halves the height only (W / 4 time
    steps, as for MobileNetV3); the remaining height is averaged away.
    """

    def __init__(self, in_channels: int = 3, channels: tuple[int, int, int] = (64, 128, 256), dropout: float = 0.2):
        super().__init__()
        stages: list[nn.Module] = []
        pools = [(2, 2), (2, 2), (2, 1)]
        ch = in_channels
        for out, pool in zip(channels, pools, strict=True):
            stages += [nn.Conv2d(ch, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(pool, pool), nn.Dropout2d(dropout)]
            ch = out
        self.features = nn.Sequential(*stages)
        self.out_channels = ch

    def forward(self, x: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """``widths`` is accepted for the common interface: nothing here pools across the width."""
        return self.features(x).mean(dim=2, keepdim=True)
