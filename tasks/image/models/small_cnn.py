"""``small_cnn``: the fast CPU model of the ``quick`` presets.

A VGG-like stack of four 3×3 conv → BatchNorm → ReLU layers with widths 20-40-80-80 and a 2×2
max-pool after each of the first three, then global average pooling and a linear classifier:
95,390 parameters for 10 classes (independent of the image size: the pooling is global).

Training throughput (forward + backward + SGD step, batch 128, 32×32, torch 2.11 CPU): the
design notes (§1) measured ~1,245 img/s on the 2-core machines for a 4-conv CNN of this size;
re-measured on a shared, heavily loaded machine (2026-11-21): ~1,070 img/s per busy core-second
with one thread (520-650 img/s wall), ~230 img/s wall with two contended threads. Expected
CIFAR-10 accuracy with full data and crop + flip: high 70s to low 80s (not measured here).
"""
from __future__ import annotations

import torch
from torch import nn

from core.registry import MODELS

WIDTHS = (20, 40, 80, 80)
POOL_AFTER = (True, True, True, False)


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    # no conv bias: the BatchNorm that follows removes it (and it would get no gradient)
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """``features`` (conv-BN-ReLU[-pool] ×4) → global average pool → ``classifier``."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3,
                 widths: tuple[int, ...] = WIDTHS,
                 pool_after: tuple[bool, ...] = POOL_AFTER) -> None:
        super().__init__()
        if len(widths) != len(pool_after):
            raise ValueError("widths and pool_after must have the same length")
        layers: list[nn.Module] = []
        cin = in_channels
        for width, pool in zip(widths, pool_after):
            layers += _conv_bn_relu(cin, width)
            if pool:
                layers.append(nn.MaxPool2d(2))
            cin = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@MODELS.register("small_cnn", input_shape=(3, 32, 32))
def small_cnn(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """Four conv-BN-ReLU layers (20-40-80-80, max-pool after the first three), global average
    pooling, linear classifier; ~95k parameters. ``image_size`` is accepted for the uniform
    factory interface: any size ≥ 8 works (the pooling is global)."""
    if image_size < 8:
        raise ValueError(f"small_cnn needs image_size >= 8 (three 2×2 pools), got {image_size}")
    return SmallCNN(num_classes=num_classes, in_channels=in_channels)

