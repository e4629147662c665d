"""A synthetic point-cloud classification set for tests and the ``pointcloud_smoke`` preset.

Classes are surface samples of primitives: sphere, cube, cylinder, cone, torus, square sheet.
Every shape gets a random anisotropic scale in [0.7, 1.3], a random rotation about the up axis
(z) and Gaussian noise (σ 0.01), and is normalised into the unit sphere. Generated in batched
tensor ops from ``data_seed`` in well under a second.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.seeding import make_generator

from .augmentations import rotate, rotation_matrices
from .io import normalize_unit_sphere

PRIMITIVES = ("sphere", "cube", "cylinder", "cone", "torus", "sheet")


@dataclass(frozen=True)
class SyntheticPointsConfig:
    num_classes: int = 6
    num_points: int = 256
    train_size: int = 600
    test_size: int = 200
    clean_per_class: int = 10
    noise: float = 0.01
    data_seed: int = 1234

    def __post_init__(self) -> None:
        if not 2 <= self.num_classes <= len(PRIMITIVES):
            raise ValueError(f"synthetic point clouds have 2..{len(PRIMITIVES)} classes, got "
                             f"{self.num_classes}")
        if self.num_points < 16 or self.clean_per_class < 1:
            raise ValueError("need num_points ≥ 16 and clean_per_class ≥ 1")
        if self.train_size < self.num_classes * (self.clean_per_class + 1):
            raise ValueError("train_size too small for the clean split")


def _surface(kind: str, u: torch.Tensor, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Points (B, N, 3) on a primitive's surface from uniform u, v, w in [0, 1)."""
    if kind == "sphere":
        z = 2 * u - 1
        r = (1 - z * z).clamp_min(0).sqrt()
        a = 2 * math.pi * v
        return torch.stack([r * torch.cos(a), r * torch.sin(a), z], -1)
    if kind == "cube":
        face = (w * 6).long().clamp_max(5)
        a, b = 2 * u - 1, 2 * v - 1
        sign = torch.where(face % 2 == 0, 1.0, -1.0)
        axis = face // 2
        coords = [torch.where(axis == i, sign, torch.where(axis == (i + 1) % 3, a, b))
                  for i in range(3)]
        return torch.stack(coords, -1)
    if kind == "cylinder":
        a = 2 * math.pi * v
        return torch.stack([torch.cos(a), torch.sin(a), 2 * u - 1], -1)
    if kind == "cone":
        h = u.sqrt()                         # uniform over the lateral area
        a = 2 * math.pi * v
        return torch.stack([h * torch.cos(a), h * torch.sin(a), 1 - 2 * h], -1)
    if kind == "torus":
        a, b = 2 * math.pi * u, 2 * math.pi * v
        return torch.stack([(1 + 0.35 * torch.cos(b)) * torch.cos(a),
                            (1 + 0.35 * torch.cos(b)) * torch.sin(a), 0.35 * torch.sin(b)], -1)
    return torch.stack([2 * u - 1, 2 * v - 1, 0.05 * (2 * w - 1)], -1)   # sheet


def sample(labels: torch.Tensor, config: SyntheticPointsConfig,
           generator: torch.Generator) -> torch.Tensor:
    n, p = labels.shape[0], config.num_points
    u, v, w = (torch.rand(n, p, generator=generator) for _ in range(3))
    clouds = torch.zeros(n, p, 3)
    for c in range(config.num_classes):
        rows = labels == c
        clouds[rows] = _surface(PRIMITIVES[c], u[rows], v[rows], w[rows])
    scale = 0.7 + 0.6 * torch.rand(n, 1, 3, generator=generator)
    angles = 2 * math.pi * torch.rand(n, generator=generator)
    clouds = rotate(clouds * scale, rotation_matrices(angles, 2))
    clouds = clouds + config.noise * torch.randn(clouds.shape, generator=generator)
    return normalize_unit_sphere(clouds)


def generate(config: SyntheticPointsConfig) -> tuple[torch.Tensor, ...]:
    """(train_x, train_y, test_x, test_y), class-balanced, fixed by ``data_seed``."""
    generator = make_generator(config.data_seed)
    out = []
    for size in (config.train_size, config.test_size):
        labels = torch.arange(size) % config.num_classes
        labels = labels[torch.randperm(size, generator=generator)]
        out += [sample(labels, config, generator), labels]
    return tuple(out)
