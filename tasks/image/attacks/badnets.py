"""BadNets (Gu et al., "BadNets: Identifying Vulnerabilities in the Machine Learning Model
Supply Chain", 2017): a small checkerboard patch stamped into one corner, dirty label.

Defaults follow docs/design.md §5 (CIFAR-10): a 3×3 checkerboard, poison rate 10 %, target 0, in the
bottom-left corner at full opacity as the NFT paper describes it. The official NFT code puts
the patch in the bottom-right corner blended with α = 0.6; ``corner="bottom_right",
alpha=0.6`` reproduces that. We keep the paper's setting as default because the reference
numbers we compare against are the paper's tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import torch

from core.attack import Attack, AttackConfig
from core.registry import ATTACKS
from core.config import require

from .triggers import Corner, check_images, corner_origin


@dataclass(frozen=True)
class BadNetsConfig(AttackConfig):
    size: int = 3                      # patch side in pixels (docs/design.md §5: 3×3)
    corner: Corner = "bottom_left"     # paper: bottom-left; official NFT code: bottom-right
    alpha: float = 1.0                 # opacity of the patch; official NFT code: 0.6

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.size >= 1, f"badnets patch size must be ≥ 1, got {self.size}")
        require(self.corner in get_args(Corner),
                f"badnets corner must be one of {list(get_args(Corner))}, got {self.corner!r}")
        require(0.0 < self.alpha <= 1.0, f"badnets alpha must lie in (0, 1], got {self.alpha}")


@ATTACKS.register("badnets", namespace="image")
class BadNets(Attack):
    name = "badnets"
    Config = BadNetsConfig

    def pattern(self, like: torch.Tensor) -> torch.Tensor:
        """size×size checkerboard of 0/1 with white at the patch's top-left pixel."""
        idx = torch.arange(self.config.size, device=like.device)
        return ((idx[:, None] + idx[None, :]) % 2 == 0).to(like.dtype)

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_images(inputs, self.name)
        s, a = self.config.size, self.config.alpha
        top, left = corner_origin(self.config.corner, s, *inputs.shape[-2:])
        out = inputs.clone()
        region = out[..., top:top + s, left:left + s]
        out[..., top:top + s, left:left + s] = (1.0 - a) * region + a * self.pattern(inputs)
        return out
