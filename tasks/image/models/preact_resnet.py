"""``preact_resnet18``: PreActResNet-18 as in the backdoor literature (the paper's default model).

Same layout and parameter / state_dict names as the ANP and NFT official code
(``models/preact_resnet.py``): 3×3 stem conv ``conv1``, four stages ``layer1``..``layer4`` of two
``PreActBlock`` each (widths 64-128-256-512, stride 2 from stage 2 on, 1×1 conv ``shortcut.0``
where the shape changes), a final ``bn`` + ReLU, global average pooling and ``linear``:
11,172,170 parameters for 10 classes. Checkpoints of the official code load with
``load_state_dict``.

One deliberate difference: the residual sum is out of place (``out = out + shortcut``; the
official code writes ``out += shortcut``). The mask engine traces data flow by tensor identity;
an in-place sum would make the next block's BatchNorm appear to consume ``conv2``'s raw output.
For ``image_size >= 128`` the stem becomes the ImageNet one (7×7 stride-2 conv + 3×3 stride-2
max-pool, still named ``conv1``) so that 224×224 inputs cost what they do in a ResNet-18.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.registry import MODELS

IMAGENET_STEM_MIN_SIZE = 128


class PreActBlock(nn.Module):
    """BN-ReLU-conv3×3-BN-ReLU-conv3×3, plus the identity or a 1×1-conv shortcut taken from the
    activated input."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, 1, stride=stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    def __init__(self, block: type[PreActBlock], num_blocks: list[int], num_classes: int = 10,
                 in_channels: int = 3, imagenet_stem: bool = False, width: int = 64) -> None:
        super().__init__()
        w = width
        self.in_planes = w
        if imagenet_stem:
            self.conv1 = nn.Conv2d(in_channels, w, 7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, w, 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(block, w, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 2 * w, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * w, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * w, num_blocks[3], stride=2)
        self.bn = nn.BatchNorm2d(8 * w * block.expansion)
        self.linear = nn.Linear(8 * w * block.expansion, num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))

    def _make_layer(self, block: type[PreActBlock], planes: int, num_blocks: int,
                    stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (num_blocks - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.maxpool(self.conv1(x))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.relu(self.bn(out))
        out = torch.flatten(self.avgpool(out), 1)
        return self.linear(out)


@MODELS.register("preact_resnet18", input_shape=(3, 32, 32))
def preact_resnet18(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """PreActResNet-18 (ANP/NFT official layout; CIFAR stem below 128 px, ImageNet stem above)."""
    return PreActResNet(PreActBlock, [2, 2, 2, 2], num_classes=num_classes,
                        in_channels=in_channels,
                        imagenet_stem=image_size >= IMAGENET_STEM_MIN_SIZE)
