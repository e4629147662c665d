"""Cutout (DeVries & Taylor 2017): one square hole per sample, labels unchanged.

As the official code: the hole's centre is a uniform pixel, its side ``size`` (16 for 32×32
CIFAR-10), and it is clipped at the border, so holes near an edge are smaller. When ``size`` is
not given it scales with the image: ``round(fraction · min(H, W))``, fraction 0.5 (= 16/32).
Difference: the original zeroes the hole *after* normalisation (so the hole is the dataset mean
colour); our images are unnormalised [0, 1] tensors and the hole gets ``fill`` (default 0, black).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from core.registry import AUGMENTATIONS

from .ops import box_mask

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Cutout:
    """A ``size``×``size`` hole (clipped at the border) per sample, filled with ``fill``."""

    size: int | None = None
    fraction: float = 0.5
    fill: float = 0.0

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 0:
            raise ValueError(f"Cutout size must be ≥ 0, got {self.size}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"Cutout fraction must be in [0, 1], got {self.fraction}")
        if not 0.0 <= self.fill <= 1.0:
            raise ValueError(f"Cutout fill must be in [0, 1], got {self.fill}")

    def hole_size(self, height: int, width: int) -> int:
        if self.size is not None:
            return self.size
        return int(round(self.fraction * min(height, width)))

    def sample_boxes(self, n: int, height: int, width: int,
                     generator: torch.Generator) -> torch.Tensor:
        """(n, 4) CPU long boxes ``(y0, y1, x0, x1)``, half-open, clipped to the image."""
        half = self.hole_size(height, width) // 2
        cy = torch.randint(0, height, (n,), generator=generator)
        cx = torch.randint(0, width, (n,), generator=generator)
        return torch.stack([(cy - half).clamp(0, height), (cy + half).clamp(0, height),
                            (cx - half).clamp(0, width), (cx + half).clamp(0, width)], dim=1)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        n, _, h, w = inputs.shape
        mask = box_mask(self.sample_boxes(n, h, w, generator), h, w, inputs.device)
        return inputs.masked_fill(mask, self.fill), targets


def _cutout(adapter: Any, size: int | None = None, fraction: float = 0.5,
            fill: float = 0.0) -> Cutout:
    return Cutout(size=size, fraction=fraction, fill=fill)


AUGMENTATIONS.register("cutout", _cutout, namespace="image")
