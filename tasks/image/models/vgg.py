"""``vgg16``: VGG-16 with BatchNorm, CIFAR style (paper Table 15).

13 conv3×3 → BatchNorm → ReLU layers in five groups (64, 128, 256, 512, 512), a 2×2 max-pool
after each group, adaptive average pooling to 1×1 (a no-op at 32×32, where the maps are already
1×1; it makes 64×64 and 224×224 inputs work), and a small classifier
Linear(512, 512) → ReLU → Linear(512, num_classes) instead of torchvision's 4096-wide ImageNet
head: 14,986,698 parameters for 10 classes. Convs have no bias (each is followed by BatchNorm).
"""
from __future__ import annotations

import torch
from torch import nn

from core.registry import MODELS

VGG16_CFG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                              512, 512, 512, "M", 512, 512, 512, "M"]


class VGG(nn.Module):
    def __init__(self, cfg: list[int | str], num_classes: int = 10, in_channels: int = 3,
                 hidden: int = 512) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1, bias=False),
                           nn.BatchNorm2d(int(v)), nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(inplace=True),
                                        nn.Linear(hidden, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@MODELS.register("vgg16", input_shape=(3, 32, 32))
def vgg16(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """VGG-16-BN with a 512-wide two-layer classifier; needs image_size >= 32 (five pools)."""
    if image_size < 32:
        raise ValueError(f"vgg16 needs image_size >= 32 (five 2×2 max-pools), got {image_size}")
    return VGG(VGG16_CFG, num_classes=num_classes, in_channels=in_channels)
