"""Small registered models for the synthetic task (and for CPU tests of other code)."""
from __future__ import annotations

from torch import nn

from core.registry import MODELS


@MODELS.register("tiny_cnn", input_shape=(3, 16, 16))
def tiny_cnn(num_classes: int = 10, in_channels: int = 3, width: int = 16) -> nn.Module:
    """Six conv-BN-ReLU layers (widths w, 2w, 2w, 4w, 4w, 4w; stride 2 at the 2nd and 4th),
    global average pooling and a linear classifier: deep enough that μ(l) reaches small bounds."""
    def block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    w = width
    return nn.Sequential(
        *block(in_channels, w), *block(w, 2 * w, 2), *block(2 * w, 2 * w),
        *block(2 * w, 4 * w, 2), *block(4 * w, 4 * w), *block(4 * w, 4 * w),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, num_classes))


@MODELS.register("tiny_mlp", input_shape=(3, 16, 16))
def tiny_mlp(num_classes: int = 10, in_channels: int = 3, image_size: int = 16,
             hidden: int = 128) -> nn.Module:
    """Flatten → two hidden ReLU layers without normalisation → classifier."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_channels * image_size * image_size, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, num_classes))
