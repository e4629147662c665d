"""Render "moving object" action clips: a sprite moving along a class-specific trajectory over a
background, so that the class is in the motion only.

Used by ``data_scripts/synthetic_actions.py`` (real CIFAR-10 objects over frames of real videos,
written as video files) and by the in-memory ``synthetic`` dataset of the smoke preset (random
textures). Every trajectory is symmetric in time around the clip's centre, t ∈ [−1, 1], and the
random nuisances (centre, speed, start angle, size) are drawn from the same distributions for
every class, so that the object's position, size and angle in any *single* frame are distributed
(almost) alike across the motion classes that mirror each other (left/right, up/down, zoom
in/out, clockwise/counter-clockwise): only the order of frames tells them apart.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: class names (UCF-101 style CamelCase) in label order
MOTIONS: tuple[str, ...] = ("MoveLeft", "MoveRight", "MoveUp", "MoveDown", "ZoomIn", "ZoomOut",
                            "RotateClockwise", "RotateCounterClockwise", "Bounce", "Shake")


def trajectories(labels: torch.Tensor, num_frames: int, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per clip and frame: centre x, centre y (in [−1, 1] frame units), scale (sprite width as a
    share of the frame width) and angle (radians); each of shape (N, num_frames)."""
    n = labels.shape[0]
    t = torch.linspace(-1.0, 1.0, num_frames)[None, :]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, 1, generator=generator)  # noqa: E731
    cx, cy = u(-0.25, 0.25), u(-0.25, 0.25)
    speed = u(0.3, 0.45)                    # half the travel, in frame half-widths
    size = u(0.35, 0.5)
    angle0 = u(-0.3, 0.3)
    zoom = u(0.35, 0.5)                     # log-scale half range
    spin = u(0.6, 1.0)                      # half the turn, radians
    hop = u(0.25, 0.4)
    x, y = cx.expand(n, num_frames).clone(), cy.expand(n, num_frames).clone()
    scale = size.expand(n, num_frames).clone()
    angle = angle0.expand(n, num_frames).clone()
    lab = labels.long()[:, None].expand(n, num_frames)
    x = torch.where(lab == 0, cx - speed * t, x)
    x = torch.where(lab == 1, cx + speed * t, x)
    y = torch.where(lab == 2, cy - speed * t, y)
    y = torch.where(lab == 3, cy + speed * t, y)
    scale = torch.where(lab == 4, size * torch.exp(zoom * t), scale)
    scale = torch.where(lab == 5, size * torch.exp(-zoom * t), scale)
    angle = torch.where(lab == 6, angle0 + spin * t, angle)
    angle = torch.where(lab == 7, angle0 - spin * t, angle)
    y = torch.where(lab == 8, cy + hop * (2 * torch.abs(torch.sin(math.pi * t)) - 1), y)
    x = torch.where(lab == 9, cx + hop * torch.sin(3 * math.pi * t), x)
    return x, y, scale, angle


def disc_alpha(size: int, softness: float = 0.08) -> torch.Tensor:
    """(1, size, size) soft round mask, so sprites are not square tiles."""
    r = torch.linspace(-1.0, 1.0, size)
    dist = torch.sqrt(r[None, :] ** 2 + r[:, None] ** 2)
    return ((1.0 - dist) / softness).clamp(0.0, 1.0)[None]


def render(sprites: torch.Tensor, backgrounds: torch.Tensor, labels: torch.Tensor,
           num_frames: int, generator: torch.Generator) -> torch.Tensor:
    """Clips (N, T, 3, H, W) float in [0, 1]: ``sprites`` (N, 3, s, s) moving over
    ``backgrounds`` (N, 3, H, W) along the trajectories of ``labels``."""
    n, _, h, w = backgrounds.shape
    x, y, scale, angle = trajectories(labels, num_frames, generator)
    alpha = disc_alpha(sprites.shape[-1]).expand(n, 1, *sprites.shape[-2:])
    rgba = torch.cat([sprites, alpha], dim=1)
    # affine_grid maps output (frame) coords to input (sprite) coords: the inverse transform
    cos, sin = torch.cos(angle), torch.sin(angle)
    inv = 1.0 / scale
    theta = torch.stack([torch.stack([cos * inv, sin * inv, -(cos * x + sin * y) * inv], -1),
                         torch.stack([-sin * inv, cos * inv, (sin * x - cos * y) * inv], -1)],
                        dim=-2)                                        # (N, T, 2, 3)
    grid = F.affine_grid(theta.view(-1, 2, 3), [n * num_frames, 4, h, w], align_corners=False)
    src = rgba[:, None].expand(n, num_frames, *rgba.shape[1:]).reshape(-1, *rgba.shape[1:])
    layer = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False).view(n, num_frames, 4, h, w)
    a = layer[:, :, 3:]
    return (a * layer[:, :, :3] + (1 - a) * backgrounds[:, None]).clamp(0.0, 1.0)


def texture_sprites(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Random smooth colour textures (the smoke set's objects; no real data needed)."""
    coarse = torch.rand(n, 3, 4, 4, generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def texture_backgrounds(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    coarse = torch.rand(n, 3, 6, 6, generator=generator) * 0.6 + 0.2
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
