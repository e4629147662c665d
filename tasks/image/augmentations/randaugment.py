"""RandAugment (Cubuk et al. 2020), batched, with a per-sample op choice.

``num_ops`` times, every sample draws one op uniformly from the 14-op set of torchvision's
``RandAugment`` (identity, shear x/y, translate x/y, rotate, brightness, color, contrast,
sharpness, posterize, solarize, autocontrast, equalize) and applies it at the fixed magnitude
``M`` of ``num_magnitude_bins − 1`` (default 9 of 30, as torchvision), with a random sign for the
signed ops. Ranges are torchvision's: shear 0.3, translate 150/331 of the side, rotate 30°,
enhancement factors 1 ± 0.9, posterize down to 4 bits, solarize threshold from 1 (none) to 0.

Differences from the original: the ops run on float tensors (no PIL round-trip), affine ops
resample about the image centre (torchvision shears about the top-left corner) and choices are
per sample, drawn from the CPU generator, instead of per call on one PIL image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from core.registry import AUGMENTATIONS

from . import ops
from .ops import OpSpec

Batch = tuple[torch.Tensor, torch.Tensor]

RANDAUGMENT_OPS: tuple[OpSpec, ...] = (
    OpSpec("identity", None),
    OpSpec("shear_x", None, lambda v: 0.3 * v, signed=True,
           theta=ops.shear_x_theta),
    OpSpec("shear_y", None, lambda v: 0.3 * v, signed=True,
           theta=ops.shear_y_theta),
    OpSpec("translate_x", None, lambda v: (150.0 / 331.0) * v, signed=True,
           theta=ops.translate_x_theta),
    OpSpec("translate_y", None, lambda v: (150.0 / 331.0) * v, signed=True,
           theta=ops.translate_y_theta),
    OpSpec("rotate", None, lambda v: 30.0 * v, signed=True,
           theta=ops.rotate_theta),
    OpSpec("brightness", ops.brightness, lambda v: 1.0 + 0.9 * v, signed=True),
    OpSpec("color", ops.color, lambda v: 1.0 + 0.9 * v, signed=True),
    OpSpec("contrast", ops.contrast, lambda v: 1.0 + 0.9 * v, signed=True),
    OpSpec("sharpness", ops.sharpness, lambda v: 1.0 + 0.9 * v, signed=True),
    OpSpec("posterize", ops.posterize, lambda v: 8.0 - torch.round(4.0 * v)),
    # level 0 -> threshold 256/255 (> 1: nothing inverted, as PIL's 256), level 1 -> all inverted
    OpSpec("solarize", ops.solarize, lambda v: (1.0 - v) * 256.0 / 255.0),
    OpSpec("autocontrast", ops.autocontrast),
    OpSpec("equalize", ops.equalize),
)


@dataclass
class RandAugment:
    """``num_ops`` random ops per sample, each at level ``magnitude / (num_magnitude_bins − 1)``."""

    num_ops: int = 2
    magnitude: int = 9
    num_magnitude_bins: int = 31

    def __post_init__(self) -> None:
        if self.num_ops < 0:
            raise ValueError(f"RandAugment num_ops must be ≥ 0, got {self.num_ops}")
        if self.num_magnitude_bins < 2 or not 0 <= self.magnitude < self.num_magnitude_bins:
            raise ValueError(f"RandAugment magnitude must be in [0, {self.num_magnitude_bins - 1}]"
                             f", got {self.magnitude}")

    @property
    def level(self) -> float:
        return self.magnitude / (self.num_magnitude_bins - 1)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        n = inputs.shape[0]
        level = torch.full((n,), self.level)
        out = inputs
        for _ in range(self.num_ops):
            choice = torch.randint(0, len(RANDAUGMENT_OPS), (n,), generator=generator)
            sign = torch.randint(0, 2, (n,), generator=generator) * 2.0 - 1.0
            out = ops.apply_per_sample(out, choice, level, sign, RANDAUGMENT_OPS)
        return out, targets


def _randaugment(adapter: Any, num_ops: int = 2, magnitude: int = 9,
                 num_magnitude_bins: int = 31) -> RandAugment:
    return RandAugment(num_ops=num_ops, magnitude=magnitude,
                       num_magnitude_bins=num_magnitude_bins)


AUGMENTATIONS.register("randaugment", _randaugment, namespace="image")
