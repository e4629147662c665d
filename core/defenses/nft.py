"""NFT as a defense: mask fine-tuning under the task's light augmentation + a mixing augmentation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..augment import Compose
from ..data import TensorData
from ..purify import NFTConfig, nft_purify
from ..registry import AUGMENTATIONS
from .base import Defense, DefenseResult


@dataclass(frozen=True)
class NFTDefenseConfig(NFTConfig):
    """NFTConfig plus the mixing augmentation (registry name; None = the task's default)."""

    augmentation: str | None = None
    augmentation_options: dict = field(default_factory=dict)


class NFT(Defense):
    name = "nft"
    Config = NFTDefenseConfig

    def build_augmentation(self, adapter: TaskAdapter) -> Any:
        name = self.config.augmentation or adapter.default_nft_augmentation
        mix = AUGMENTATIONS.get(name, namespace=adapter.name)(adapter,
                                                              **self.config.augmentation_options)
        return Compose(adapter.train_augmentation(), mix)

    def purify(self, model: nn.Module, adapter: TaskAdapter, clean: TensorData,
               device: torch.device, seed: int = 0) -> DefenseResult:
        result = nft_purify(model, adapter, clean, self.build_augmentation(adapter),
                            self.config, device, seed)
        diagnostics = {"masks": result.masks, "layers": result.layers,
                       "loss_curve": result.loss_curve, "eta_c": result.eta_c,
                       "steps": result.steps}
        return DefenseResult(model=result.model, wall_time_s=result.wall_time_s,
                             diagnostics=diagnostics)
