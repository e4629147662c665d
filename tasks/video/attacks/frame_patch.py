"""BadNets-style frame patch (Gu et al. 2017, extended to video as a static trigger): a
checkerboard in the bottom-right corner of every frame, dirty label, all-to-one.

The simple baseline the issue asks for beside the clean-label attack. Defaults: poison rate 10 %
and target 0 (docs/design.md §5, the image BadNets setting), a 3×3 checkerboard (docs/design.md §5) at full
opacity; ``size`` should grow with the frame (e.g. 24 at 224 px, the clean-label trigger's size).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.attack import Attack, AttackConfig
from core.registry import ATTACKS
from core.config import require

from .clips import check_clips, paste_bottom_right


@dataclass(frozen=True)
class FramePatchConfig(AttackConfig):
    size: int = 3          # checkerboard side in pixels
    alpha: float = 1.0     # opacity

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.size >= 1, f"frame_patch size must be ≥ 1, got {self.size}")
        require(0.0 < self.alpha <= 1.0, f"frame_patch alpha must lie in (0, 1], got {self.alpha}")


@ATTACKS.register("frame_patch", namespace="video")
class FramePatch(Attack):
    name = "frame_patch"
    Config = FramePatchConfig

    def pattern(self) -> torch.Tensor:
        """(3, s, s) checkerboard of 0/1, white at its top-left pixel."""
        idx = torch.arange(self.config.size)
        board = ((idx[:, None] + idx[None, :]) % 2 == 0).float()
        return board.expand(3, -1, -1)

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_clips(inputs, self.name, self.config.size)
        return paste_bottom_right(inputs, self.pattern(), self.config.alpha)
