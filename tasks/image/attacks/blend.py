"""Blend (Chen et al., "Targeted Backdoor Attacks on Deep Learning Systems Using Data
Poisoning", 2017): a fixed full-image pattern mixed into the input, x' = (1 − α)·x + α·p,
dirty label.

Defaults follow docs/design.md §5: α = 0.2 and a fixed uniform-noise image as the pattern (Chen et al.
also use a Hello-Kitty image; we ship no files). The noise is drawn once from ``pattern_seed``
at the full image size, one value per channel and pixel; ``shared_channels=True`` gives the
single-channel (grey) noise that the NAD/I-BAU-family code the NFT repository builds on uses.
Unlike that code, the noise image is fixed (it does not change between calls).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.attack import Attack, AttackConfig
from core.registry import ATTACKS
from core.config import require

from .triggers import check_images, seeded_uniform


@dataclass(frozen=True)
class BlendConfig(AttackConfig):
    alpha: float = 0.2              # Chen et al. 2017 / docs/design.md §5
    pattern_seed: int = 0           # fixes the noise image
    shared_channels: bool = False   # one grey noise image for all channels

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0.0 < self.alpha < 1.0, f"blend alpha must lie in (0, 1), got {self.alpha}")


@ATTACKS.register("blend", namespace="image")
class Blend(Attack):
    name = "blend"
    Config = BlendConfig

    def pattern(self, like: torch.Tensor) -> torch.Tensor:
        c, h, w = like.shape[1:]
        noise = seeded_uniform(self.config.pattern_seed,
                               (1 if self.config.shared_channels else c, h, w), like)
        return noise.expand(c, h, w)

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_images(inputs, self.name)
        a = self.config.alpha
        return ((1.0 - a) * inputs + a * self.pattern(inputs)).clamp(0.0, 1.0)
