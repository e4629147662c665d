"""Batched point-set operations in plain PyTorch: furthest point sampling, ball query, grouping.

All three work on whole batches on the input's device; the only Python loop is FPS's loop over
the ``m`` points it selects (each iteration is a few batched tensor ops).

Determinism and permutation equivariance (docs/design.md §5c: "seed or fix the start"): FPS starts at
the point furthest from the cloud's centroid, not at index 0 as the CUDA kernel of the
PointNet++ code does. The start, and so every selected point, then depends on the coordinates
only, not on the order the points are stored in: permuting a cloud permutes nothing that the
model sees, and the model's output is permutation invariant (tested). Ball query likewise takes
the ``k`` *nearest* points inside the radius (the CUDA kernel takes the first ``k`` in storage
order); a ball holding fewer than ``k`` points is padded with its nearest point, as the kernel
pads with its first, which the max-pool after grouping ignores.
"""
from __future__ import annotations

import torch


def square_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distances (B, M, N) between points a (B, M, 3) and b (B, N, 3), ≥ 0."""
    d = (a.pow(2).sum(-1, keepdim=True) + b.pow(2).sum(-1).unsqueeze(1)
         - 2.0 * a @ b.transpose(1, 2))
    return d.clamp_min_(0.0)


def furthest_point_sample(xyz: torch.Tensor, m: int) -> torch.Tensor:
    """Indices (B, m) of ``m`` points chosen by furthest point sampling from xyz (B, N, 3)."""
    b, n, _ = xyz.shape
    if m > n:
        raise ValueError(f"cannot sample {m} points from clouds of {n}")
    xyz = xyz.detach()
    batch = torch.arange(b, device=xyz.device)
    centroid = xyz.mean(dim=1, keepdim=True)
    farthest = (xyz - centroid).pow(2).sum(-1).argmax(dim=1)       # (B,)
    chosen = torch.empty(b, m, dtype=torch.long, device=xyz.device)
    nearest = torch.full((b, n), float("inf"), device=xyz.device, dtype=xyz.dtype)
    for i in range(m):
        chosen[:, i] = farthest
        last = xyz[batch, farthest].unsqueeze(1)                    # (B, 1, 3)
        nearest = torch.minimum(nearest, (xyz - last).pow(2).sum(-1))
        farthest = nearest.argmax(dim=1)
    return chosen


def ball_query(xyz: torch.Tensor, centres: torch.Tensor, radius: float, k: int) -> torch.Tensor:
    """Indices (B, M, k): for every centre, its ``k`` nearest points within ``radius`` (nearest
    first), padded with the nearest point when fewer lie inside. ``k`` is capped at N."""
    dist = square_distance(centres, xyz)                            # (B, M, N)
    k = min(k, xyz.shape[1])
    near, index = dist.topk(k, dim=-1, largest=False, sorted=True)
    outside = near > radius * radius
    return torch.where(outside, index[..., :1].expand_as(index), index)


def gather_points(points: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """points (B, N, C) gathered at index (B, *S) → (B, *S, C)."""
    b = points.shape[0]
    flat = index.reshape(b, -1)
    out = torch.gather(points, 1, flat.unsqueeze(-1).expand(-1, -1, points.shape[-1]))
    return out.view(*index.shape, points.shape[-1])


def group(xyz: torch.Tensor, features: torch.Tensor | None, npoint: int, radius: float,
          k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``npoint`` centres and group their neighbourhoods.

    Returns the centres (B, npoint, 3) and grouped inputs (B, 3 + C, npoint, k): coordinates
    relative to their centre, followed by the neighbours' features (B, N, C) if any.
    """
    centres = gather_points(xyz, furthest_point_sample(xyz, npoint))
    index = ball_query(xyz, centres, radius, k)
    grouped = gather_points(xyz, index) - centres.unsqueeze(2)      # (B, M, k, 3)
    if features is not None:
        grouped = torch.cat([grouped, gather_points(features, index)], dim=-1)
    return centres, grouped.permute(0, 3, 1, 2).contiguous()
