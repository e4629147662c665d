"""A BadNets-style patch attack on the synthetic images: a checkerboard in one corner."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from core.attack import Attack, AttackConfig
from core.registry import ATTACKS


@dataclass(frozen=True)
class PatchConfig(AttackConfig):
    size: int = 3
    corner: Literal["bottom_right", "bottom_left", "top_left", "top_right"] = "bottom_right"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size < 1:
            raise ValueError(f"patch size must be ≥ 1, got {self.size}")


@ATTACKS.register("patch", namespace="synthetic")
class PatchAttack(Attack):
    name = "patch"
    Config = PatchConfig

    def pattern(self, size: int, device: torch.device) -> torch.Tensor:
        idx = torch.arange(size, device=device)
        return ((idx[:, None] + idx[None, :]) % 2 == 0).float()   # checkerboard of 0/1

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        s = self.config.size
        h, w = inputs.shape[-2:]
        if s > min(h, w):
            raise ValueError(f"patch of size {s} does not fit {h}×{w} images")
        top = 0 if self.config.corner.startswith("top") else h - s
        left = 0 if self.config.corner.endswith("left") else w - s
        out = inputs.clone()
        out[..., top:top + s, left:left + s] = self.pattern(s, inputs.device).to(inputs.dtype)
        return out
