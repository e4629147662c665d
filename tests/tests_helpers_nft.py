"""A toy classification task and conv net for NFT option tests."""
from __future__ import annotations

import torch
from torch import nn

from core.classification import ClassificationAdapter
from core.data import TensorData


class ToyTask(ClassificationAdapter):
    name = "toy_nft"

    def __init__(self) -> None:
        super().__init__()
        self.num_classes = 3

    def load_splits(self, *args, **kwargs):  # pragma: no cover - not used
        raise NotImplementedError


def toy_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))


def toy_data(n: int = 48) -> TensorData:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 3, 8, 8, generator=g)
    return TensorData(x, torch.arange(n) % 3)
