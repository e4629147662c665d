"""A Blend-style attack on the synthetic images: a fixed random pattern mixed in with weight α."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.attack import Attack, AttackConfig
from core.registry import ATTACKS
from core.seeding import make_generator


@dataclass(frozen=True)
class BlendConfig(AttackConfig):
    alpha: float = 0.2          # Chen et al. 2017 / docs/design.md §5: α = 0.2
    pattern_seed: int = 0       # fixes the uniform-noise trigger image

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"blend alpha must lie in (0, 1), got {self.alpha}")


@ATTACKS.register("blend", namespace="synthetic")
class BlendAttack(Attack):
    name = "blend"
    Config = BlendConfig

    def pattern(self, shape: torch.Size, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        noise = torch.rand(tuple(shape), generator=make_generator(self.config.pattern_seed))
        return noise.to(device=device, dtype=dtype)

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        pattern = self.pattern(inputs.shape[1:], inputs.device, inputs.dtype)
        return (1.0 - self.config.alpha) * inputs + self.config.alpha * pattern
