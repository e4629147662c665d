"""Batched point-cloud augmentations (B, N, 3), and NFT's point-set mix.

Training (``train_augmentation`` of the adapter; the PointNet++ PyTorch re-implementations'
ModelNet recipe): random anisotropic scaling in [0.8, 1.25], a random translation in ±0.1 and
Gaussian jitter σ 0.01 clipped at 0.05. No rotation: ModelNet shapes are aligned, and a random
rotation in training would also teach the model to ignore PointBA-O's rotation trigger.

NFT (docs/design.md §2: "point clouds … use their own mix"; registered as the task's default NFT
augmentation ``point_mix``): after the training augmentation, a random rotation about the up axis,
random point dropout (a share ~U(0, 0.875) of each cloud's points replaced by its first point,
as PointNet++'s ``random_point_dropout``) and a point-set mix of two shapes with mixed labels:
a random subset of λ·N points of one cloud joined to (1 − λ)·N points of a permuted partner,
λ ~ Beta(1, 1), the label mixed by the points' shares (the random-subset variant of PointMixup /
RSMix; PointMixup's optimal-assignment interpolation costs an assignment per pair, which is not
a batched op). Each part is also registered alone: ``point_rotate``, ``point_dropout``,
``point_subset_mix``; core's ``mixup`` (coordinate interpolation of unmatched points) works too.

Every op is one batched tensor computation; randomness comes from the CPU generator passed in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.augment import Batch, Compose, to_soft
from core.registry import AUGMENTATIONS
from core.seeding import derive_seed


def _uniform(generator: torch.Generator, shape: tuple[int, ...], low: float, high: float,
             like: torch.Tensor) -> torch.Tensor:
    return (low + (high - low) * torch.rand(shape, generator=generator)).to(like)


def rotation_matrices(angles: torch.Tensor, axis: int) -> torch.Tensor:
    """Rotation matrices (B, 3, 3) by ``angles`` (B,) radians about coordinate ``axis``."""
    c, s = torch.cos(angles), torch.sin(angles)
    i, j = [a for a in range(3) if a != axis]
    rot = torch.zeros(angles.shape[0], 3, 3, dtype=angles.dtype, device=angles.device)
    rot[:, axis, axis] = 1.0
    rot[:, i, i], rot[:, i, j], rot[:, j, i], rot[:, j, j] = c, -s, s, c
    return rot


def rotate(points: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """points (B, N, 3) rotated by rot (B, 3, 3) or (3, 3): x ↦ R x."""
    return points @ rot.transpose(-1, -2).to(points.dtype)


@dataclass
class ScaleTranslateJitter:
    scale: tuple[float, float] = (0.8, 1.25)
    translate: float = 0.1
    jitter: float = 0.01
    clip: float = 0.05

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        b = inputs.shape[0]
        scale = _uniform(generator, (b, 1, 3), *self.scale, like=inputs)
        shift = _uniform(generator, (b, 1, 3), -self.translate, self.translate, like=inputs)
        out = inputs * scale + shift
        if self.jitter > 0:
            noise = (self.jitter * torch.randn(inputs.shape, generator=generator)).clamp_(
                -self.clip, self.clip)
            out = out + noise.to(inputs)
        return out, targets


@dataclass
class RotateUp:
    """A uniformly random rotation about the up axis (z for ModelNet's OFF/PCD, y for HDF5)."""

    axis: int = 2

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        angles = _uniform(generator, (inputs.shape[0],), 0.0, 2 * math.pi, like=inputs)
        return rotate(inputs, rotation_matrices(angles, self.axis)), targets


@dataclass
class PointDropout:
    max_ratio: float = 0.875

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        b, n, _ = inputs.shape
        ratio = torch.rand(b, 1, generator=generator) * self.max_ratio
        drop = (torch.rand(b, n, generator=generator) <= ratio).to(inputs.device)
        first = inputs[:, :1].expand_as(inputs)
        return torch.where(drop.unsqueeze(-1), first, inputs), targets


@dataclass
class SubsetMix:
    """λ·N random points of each cloud joined to (1 − λ)·N random points of a partner's."""

    num_classes: int | None
    alpha: float = 1.0

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        b, n, _ = inputs.shape
        lam = float(np.random.default_rng(derive_seed(generator)).beta(self.alpha, self.alpha))
        keep = int(round(lam * n))
        perm = torch.randperm(b, generator=generator).to(inputs.device)
        order = torch.rand(b, n, generator=generator).argsort(dim=1).to(inputs.device)
        own = torch.gather(inputs, 1, order[:, :keep, None].expand(-1, -1, 3))
        other = torch.gather(inputs[perm], 1, order[:, keep:, None].expand(-1, -1, 3))
        soft = to_soft(targets, self.num_classes).to(inputs.device)
        share = keep / n
        return torch.cat([own, other], dim=1), soft * share + soft[perm] * (1 - share)


def _up(adapter) -> int:
    return int(getattr(adapter, "up_axis", 2))


def _point_mix(adapter, alpha: float = 1.0, rotate_up: bool = True, dropout: float = 0.875,
               mix: bool = True) -> Compose:
    steps = [RotateUp(_up(adapter)) if rotate_up else None,
             PointDropout(dropout) if dropout > 0 else None,
             SubsetMix(getattr(adapter, "num_classes", None), alpha) if mix else None]
    return Compose(*steps)


AUGMENTATIONS.register("point_mix", _point_mix, namespace="pointcloud")
AUGMENTATIONS.register("point_rotate", lambda adapter: RotateUp(_up(adapter)),
                       namespace="pointcloud")
AUGMENTATIONS.register("point_dropout", lambda adapter, max_ratio=0.875: PointDropout(max_ratio),
                       namespace="pointcloud")
AUGMENTATIONS.register("point_subset_mix",
                       lambda adapter, alpha=1.0: SubsetMix(getattr(adapter, "num_classes", None),
                                                            alpha), namespace="pointcloud")
AUGMENTATIONS.register("point_scale_jitter", lambda adapter, **kw: ScaleTranslateJitter(**kw),
                       namespace="pointcloud")
