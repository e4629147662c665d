"""The point-cloud triggers' geometry: fixed trigger point patterns and point replacement that
keeps the count fixed (the surrogate classifier some attacks train is ``surrogate.py``'s)."""
from __future__ import annotations

import math

import torch

from core.seeding import make_generator


def fibonacci_sphere(count: int) -> torch.Tensor:
    """``count`` points spread evenly on the unit sphere (a deterministic Fibonacci lattice)."""
    i = torch.arange(count, dtype=torch.float64) + 0.5
    polar = torch.acos(1.0 - 2.0 * i / count)
    azimuth = math.pi * (1.0 + 5.0 ** 0.5) * i
    return torch.stack([torch.sin(polar) * torch.cos(azimuth),
                        torch.sin(polar) * torch.sin(azimuth),
                        torch.cos(polar)], dim=1).float()


def replaced_indices(num_points: int, count: int, seed: int) -> torch.Tensor:
    """The ``count`` point slots (sorted) a trigger overwrites: a fixed random choice from
    ``seed``, the same for every cloud (the stored point order is arbitrary, so this deletes a
    random subset of each shape, as 3DPC-BA's code deletes random points)."""
    if count > num_points:
        raise ValueError(f"a trigger of {count} points does not fit clouds of {num_points}")
    return torch.randperm(num_points, generator=make_generator(seed))[:count].sort().values


def insert_points(inputs: torch.Tensor, points: torch.Tensor, seed: int) -> torch.Tensor:
    """Copies of clouds (B, N, 3) with ``points`` (P, 3) written over P fixed point slots."""
    out = inputs.clone()
    slots = replaced_indices(inputs.shape[1], points.shape[0], seed).to(inputs.device)
    out[:, slots] = points.to(device=inputs.device, dtype=inputs.dtype)
    return out
