"""PointBA-I, the interaction trigger of Li et al. (ICCV 2021, "PointBA: Towards Backdoor Attacks
in 3D Point Cloud"): a small ball of points inserted at a fixed location; poisoned shapes are
relabelled to the target class (poison label).

There is no official code. Defaults (docs/design.md §5c, from a public re-implementation): a ball of
radius 0.05 centred at (0.05, 0.05, 0.05) in the unit-sphere-normalised frame; poison rate 10 %,
target 0 (the suite's convention). Our choices where neither says: the ball is ``ball_points``
= 32 points on the sphere's surface (a Fibonacci lattice, the same for every shape; 32 as
3DPC-BA's cluster), written over 32 fixed random point slots so the point count stays the same.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.attack import Attack, AttackConfig
from core.registry import ATTACKS

from .triggers import fibonacci_sphere, insert_points


@dataclass(frozen=True)
class PointBAIConfig(AttackConfig):
    radius: float = 0.05
    centre: tuple[float, ...] = (0.05, 0.05, 0.05)
    ball_points: int = 32
    trigger_seed: int = 0        # which point slots the ball overwrites

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.radius <= 0 or self.ball_points < 1 or len(self.centre) != 3:
            raise ValueError(f"PointBA-I needs radius > 0, ball_points ≥ 1 and a 3-D centre, "
                             f"got radius={self.radius}, ball_points={self.ball_points}, "
                             f"centre={self.centre}")


@ATTACKS.register("pointba_i", namespace="pointcloud")
class PointBAI(Attack):
    name = "pointba_i"
    Config = PointBAIConfig

    def trigger_points(self) -> torch.Tensor:
        centre = torch.tensor(self.config.centre, dtype=torch.float32)
        return centre + self.config.radius * fibonacci_sphere(self.config.ball_points)

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        return insert_points(inputs, self.trigger_points(), self.config.trigger_seed)
