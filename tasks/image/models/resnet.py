"""``resnet18`` / ``resnet34`` / ``resnet50``: torchvision ResNets, CIFAR stem for small images.

The model is an ordinary ``torchvision.models.ResNet`` (BasicBlock / Bottleneck, BatchNorm after
every conv, ``fc`` classifier), so a purified model loads with torchvision alone. For
``image_size < 128`` (CIFAR-10, GTSRB at 32, Tiny-ImageNet at 64) the stem is the CIFAR one: a
3×3 stride-1 ``conv1`` and no max-pool (``maxpool`` is ``nn.Identity``), as in the backdoor
literature; from 128 px on it is torchvision's ImageNet stem (7×7 stride-2 conv + 3×3 max-pool).
``in_channels`` changes only ``conv1``. Weights are freshly initialised (never downloaded).
"""
from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from core.registry import MODELS

IMAGENET_STEM_MIN_SIZE = 128


def _resnet(block: type[BasicBlock] | type[Bottleneck], layers: list[int], num_classes: int,
            in_channels: int, image_size: int) -> ResNet:
    model = ResNet(block, layers, num_classes=num_classes)
    if image_size >= IMAGENET_STEM_MIN_SIZE:
        if in_channels == 3:
            return model
        model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    else:
        model.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    # torchvision's initialisation of every conv
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


@MODELS.register("resnet18", input_shape=(3, 32, 32))
def resnet18(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """ResNet-18 (BasicBlock [2, 2, 2, 2]); the paper's GTSRB model."""
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, image_size)


@MODELS.register("resnet34", input_shape=(3, 32, 32))
def resnet34(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """ResNet-34 (BasicBlock [3, 4, 6, 3]); the paper's Tiny-ImageNet model."""
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, image_size)


@MODELS.register("resnet50", input_shape=(3, 32, 32))
def resnet50(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """ResNet-50 (Bottleneck [3, 4, 6, 3]); an ImageNet-scale model."""
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, image_size)


@MODELS.register("torchvision_resnet18", input_shape=(3, 32, 32))
def torchvision_resnet18(num_classes: int = 10, in_channels: int = 3,
                         image_size: int = 32) -> nn.Module:
    """``torchvision.models.resnet18(num_classes=...)`` exactly as torchvision builds it, at any
    size: ImageNet stem (7×7 stride-2 conv + 3×3 max-pool) even at 32 px, where the first
    residual stage sees 8×8 maps (about 37 M multiply-adds per 32×32 image instead of the CIFAR
    stem's 556 M): the model practitioners hold (issue 17's second architecture)."""
    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    if in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model
