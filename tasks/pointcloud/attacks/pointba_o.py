"""PointBA-O, the orientation trigger of Li et al. (ICCV 2021, "PointBA"): the whole shape is
rotated by a fixed small angle about one axis; poisoned shapes are relabelled (poison label).

No official code. Default (docs/design.md §5c, from a public re-implementation): 10° about one axis. We
rotate about x, not the up axis (z in ModelNet's PCD/OFF files): a rotation about the up axis is
what the NFT augmentation and many training recipes randomise, which would erase the trigger;
about x it tilts the shape. Poison rate 10 %, target 0. The rotation is exact (an orthogonal
matrix about the cloud's centroid, which is the origin after unit-sphere normalisation), so the
point count and every pairwise distance are preserved.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from core.attack import Attack, AttackConfig
from core.registry import ATTACKS

from ..augmentations import rotate, rotation_matrices

AXES = {"x": 0, "y": 1, "z": 2}


@dataclass(frozen=True)
class PointBAOConfig(AttackConfig):
    angle_deg: float = 10.0
    axis: Literal["x", "y", "z"] = "x"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < abs(self.angle_deg) < 360.0:
            raise ValueError(f"PointBA-O angle must be non-zero (degrees), got {self.angle_deg}")


@ATTACKS.register("pointba_o", namespace="pointcloud")
class PointBAO(Attack):
    name = "pointba_o"
    Config = PointBAOConfig

    def rotation(self) -> torch.Tensor:
        angle = torch.tensor([math.radians(self.config.angle_deg)], dtype=torch.float64)
        return rotation_matrices(angle, AXES[self.config.axis])[0]

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        centroid = inputs.mean(dim=1, keepdim=True)
        return rotate(inputs - centroid, self.rotation()) + centroid
