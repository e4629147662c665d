"""Depth-wise lower bounds μ(l) for the masks (docs/design.md §2, paper Eq. 10 and Fig. 3).

Masked layers are numbered l = 1..L in forward order; after every optimiser step the masks of
layer l are clamped into [μ(l), 1]. All families start near ``alpha`` at the first masked layer
and fall with depth, so deep layers (where backdoor features live) may be pruned further.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from .masks import MaskedLayer

ScheduleKind = Literal["exponential", "cosine", "logarithmic", "cubic", "linear", "constant"]
SCHEDULES: tuple[str, ...] = ("exponential", "cosine", "logarithmic", "cubic", "linear", "constant")


@dataclass(frozen=True)
class MuSchedule:
    """μ(l) for l = 1..L.

    exponential  α·exp(−β·l)                      (official NFT default: α 0.8, β 0.5)
    cosine       α·(1 + cos(π·(l−1)/L)) / 2
    logarithmic  α·(1 − log(l)/log(L+1))
    cubic        α·(1 − ((l−1)/L)³)
    linear       α·(1 − (l−1)/L)
    constant     α
    """

    kind: ScheduleKind = "exponential"
    alpha: float = 0.8
    beta: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown μ schedule {self.kind!r}; choose one of {SCHEDULES}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"μ alpha must lie in [0, 1], got {self.alpha}")
        if self.beta < 0:
            raise ValueError(f"μ beta must be ≥ 0, got {self.beta}")

    def __call__(self, layer: int, num_layers: int) -> float:
        if not 1 <= layer <= num_layers:
            raise ValueError(f"layer index {layer} outside 1..{num_layers}")
        a, L, t = self.alpha, num_layers, (layer - 1) / num_layers
        if self.kind == "exponential":
            return a * math.exp(-self.beta * layer)
        if self.kind == "cosine":
            return a * (1.0 + math.cos(math.pi * t)) / 2.0
        if self.kind == "logarithmic":
            return a * (1.0 - math.log(layer) / math.log(L + 1))
        if self.kind == "cubic":
            return a * (1.0 - t ** 3)
        if self.kind == "linear":
            return a * (1.0 - t)
        return a

    def bounds(self, num_layers: int) -> list[float]:
        return [self(l, num_layers) for l in range(1, num_layers + 1)]


@torch.no_grad()
def clamp_masks(masked: list[MaskedLayer], schedule: MuSchedule) -> None:
    """Clamp each layer's mask into [μ(l), 1] in place."""
    num_layers = len(masked)
    for layer in masked:
        layer.mask.clamp_(schedule(layer.depth, num_layers), 1.0)
