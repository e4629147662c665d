"""AugMix (Hendrycks et al. 2020) as a batched input augmentation.

Per sample, as in the paper's ``augment_and_mix``: ``width`` chains, each of ``depth`` random ops
(depth ≤ 0: 1–3 per chain and sample), each op at a level ~ U(0.1, severity)/10; the chains are
averaged with weights ~ Dirichlet(α, …, α) and mixed with the original as
``(1 − m)·x + m·mix``, m ~ Beta(α, α). The default op set is the paper's CIFAR one
(autocontrast, equalize, posterize, rotate, solarize, shear x/y, translate x/y), which leaves out
the colour/contrast/brightness/sharpness ops that overlap the CIFAR-C corruptions;
``all_ops=True`` adds them (torchvision's default). Ranges as the paper: rotate 30°, shear 0.3,
translate a third of the side, posterize 4 − ⌊4·level⌋ bits, solarize threshold 1 − level,
enhancement factors 0.1 + 1.8·level.

What we omit: the Jensen–Shannon consistency loss between the clean image and two AugMix views.
NFT's purify loop takes one augmented batch per step and a single task loss (``adapter.loss``) so
the augmentation cannot add a loss term or triple the batch; AugMix here is the "AugMix" row of
the paper's supp. Table 7 as an input augmentation only. Also: ops run on float tensors (no PIL),
with continuous instead of integer-truncated degrees / pixels / thresholds, and every random
choice (op, depth, level, sign, weights) is drawn per sample from the CPU generator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.registry import AUGMENTATIONS
from core.seeding import derive_seed

from . import ops
from .ops import OpSpec

Batch = tuple[torch.Tensor, torch.Tensor]

AUGMIX_OPS: tuple[OpSpec, ...] = (
    OpSpec("autocontrast", ops.autocontrast),
    OpSpec("equalize", ops.equalize),
    OpSpec("posterize", ops.posterize, lambda v: 4.0 - torch.floor(4.0 * v)),
    OpSpec("rotate", None, lambda v: 30.0 * v, signed=True,
           theta=ops.rotate_theta),
    OpSpec("solarize", ops.solarize, lambda v: (1.0 - v) * 256.0 / 255.0),
    OpSpec("shear_x", None, lambda v: 0.3 * v, signed=True,
           theta=ops.shear_x_theta),
    OpSpec("shear_y", None, lambda v: 0.3 * v, signed=True,
           theta=ops.shear_y_theta),
    OpSpec("translate_x", None, lambda v: v / 3.0, signed=True,
           theta=ops.translate_x_theta),
    OpSpec("translate_y", None, lambda v: v / 3.0, signed=True,
           theta=ops.translate_y_theta),
)
AUGMIX_COLOR_OPS: tuple[OpSpec, ...] = (
    OpSpec("color", ops.color, lambda v: 0.1 + 1.8 * v),
    OpSpec("contrast", ops.contrast, lambda v: 0.1 + 1.8 * v),
    OpSpec("brightness", ops.brightness, lambda v: 0.1 + 1.8 * v),
    OpSpec("sharpness", ops.sharpness, lambda v: 0.1 + 1.8 * v),
)


@dataclass
class AugMix:
    """AugMix mixtures of op chains, per sample; labels unchanged (no JSD loss, see module doc)."""

    severity: int = 3
    width: int = 3
    depth: int = -1
    alpha: float = 1.0
    all_ops: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.severity <= 10:
            raise ValueError(f"AugMix severity must be in [1, 10], got {self.severity}")
        if self.width < 1:
            raise ValueError(f"AugMix width must be ≥ 1, got {self.width}")
        if self.depth > 10:
            raise ValueError(f"AugMix depth must be ≤ 10 (≤ 0: random 1–3), got {self.depth}")
        if self.alpha <= 0:
            raise ValueError(f"AugMix alpha must be > 0, got {self.alpha}")

    @property
    def op_set(self) -> tuple[OpSpec, ...]:
        return AUGMIX_OPS + AUGMIX_COLOR_OPS if self.all_ops else AUGMIX_OPS

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        n = inputs.shape[0]
        specs = self.op_set
        rng = np.random.default_rng(derive_seed(generator))
        weights = torch.from_numpy(rng.dirichlet([self.alpha] * self.width, size=n))
        m = torch.from_numpy(rng.beta(self.alpha, self.alpha, size=n))
        mix = torch.zeros_like(inputs)
        max_depth = self.depth if self.depth > 0 else 3
        for chain in range(self.width):
            if self.depth > 0:
                depth = torch.full((n,), self.depth)
            else:
                depth = torch.randint(1, 4, (n,), generator=generator)
            x = inputs
            for step in range(max_depth):
                choice = torch.randint(0, len(specs), (n,), generator=generator)
                choice = torch.where(step < depth, choice, torch.full_like(choice, -1))
                level = (0.1 + (self.severity - 0.1) * torch.rand(n, generator=generator)) / 10
                sign = torch.randint(0, 2, (n,), generator=generator) * 2.0 - 1.0
                x = ops.apply_per_sample(x, choice, level, sign, specs)
            mix += ops.as_column(weights[:, chain], inputs) * x
        m = ops.as_column(m, inputs)
        return ((1.0 - m) * inputs + m * mix).clamp_(0.0, 1.0), targets


def _augmix(adapter: Any, severity: int = 3, width: int = 3, depth: int = -1,
            alpha: float = 1.0, all_ops: bool = False) -> AugMix:
    return AugMix(severity=severity, width=width, depth=depth, alpha=alpha, all_ops=all_ops)


AUGMENTATIONS.register("augmix", _augmix, namespace="image")
