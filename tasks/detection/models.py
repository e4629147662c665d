"""Multi-label classifiers: torchvision backbones built from config (no downloads), with a
linear head giving one logit per category (sigmoid scores; BCE or asymmetric loss in the
adapter). Chen et al. used ML-Decoder on TResNet-L at 448 px (GPU scale); these are the CPU-sized
stand-ins: ``resnet18`` / ``resnet34`` / ``resnet50`` and ``mobilenet_v3_small`` from
torchvision with ``weights=None``, and ``tiny_ml_cnn`` for tests. Inputs are float images in
[0, 1]; the ImageNet normalisation is part of the model, so defenses perturb raw pixels.
"""
from __future__ import annotations

import torch
from torch import nn

from core.registry import MODELS

NS = "detection"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MultiLabelNet(nn.Module):
    """``normalize → backbone`` whose last layer is the category head (``backbone.fc`` etc.)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x))


def _torchvision(name: str, num_classes: int) -> nn.Module:
    import torchvision

    builder = getattr(torchvision.models, name)
    return MultiLabelNet(builder(weights=None, num_classes=num_classes))


@MODELS.register("resnet18", namespace=NS, input_shape=(3, 32, 32))
def resnet18(num_classes: int, **_: object) -> nn.Module:
    """torchvision ResNet-18 (11.2 M parameters); ~170 images/s of 64×64 for training on one
    CPU thread (batch 64, 2026-12-01)."""
    return _torchvision("resnet18", num_classes)


@MODELS.register("resnet34", namespace=NS, input_shape=(3, 32, 32))
def resnet34(num_classes: int, **_: object) -> nn.Module:
    return _torchvision("resnet34", num_classes)


@MODELS.register("resnet50", namespace=NS, input_shape=(3, 32, 32))
def resnet50(num_classes: int, **_: object) -> nn.Module:
    return _torchvision("resnet50", num_classes)


@MODELS.register("mobilenet_v3_small", namespace=NS, input_shape=(3, 32, 32))
def mobilenet_v3_small(num_classes: int, **_: object) -> nn.Module:
    return _torchvision("mobilenet_v3_small", num_classes)


@MODELS.register("tiny_ml_cnn", namespace=NS, input_shape=(3, 32, 32))
def tiny_ml_cnn(num_classes: int, width: int = 16, **_: object) -> nn.Module:
    """Four conv-BN-ReLU layers (two with stride 2), global pooling, a linear head: tests."""
    def block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True)]

    w = width
    return MultiLabelNet(nn.Sequential(*block(3, w), *block(w, 2 * w, 2), *block(2 * w, 2 * w),
                                       *block(2 * w, 4 * w, 2), nn.AdaptiveAvgPool2d(1),
                                       nn.Flatten(), nn.Linear(4 * w, num_classes)))
