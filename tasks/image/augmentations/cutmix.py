"""CutMix (Yun et al. 2019): paste a box from a permuted batch; labels mixed by the pasted area.

As the official code (clovaai/CutMix-PyTorch ``rand_bbox``): λ ~ Beta(α, α) with α = 1, a box of
side ``⌊H·√(1 − λ)⌋ × ⌊W·√(1 − λ)⌋`` centred at a uniform pixel and clipped at the border, one
box and one permutation π per batch; the soft label of sample i is
``λ'·y_i + (1 − λ')·y_π(i)`` with ``λ'`` = 1 − (pasted area)/(H·W), the *actual* area after
clipping. ``per_sample=True`` draws one λ and one box per sample instead (each sample's label
then follows its own pasted area). ``prob`` < 1 applies CutMix to a batch only with that
probability (the official CIFAR runs use 0.5); the default 1.0 always mixes, like NFT's MixUp.
Targets come back as soft rows (``core.augment.to_soft``) in every case.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.augment import to_soft
from core.registry import AUGMENTATIONS
from core.seeding import derive_seed

from .ops import box_mask

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class CutMix:
    """Paste a box from ``inputs[π]``; soft labels weighted by the pasted area fraction."""

    num_classes: int | None
    alpha: float = 1.0
    per_sample: bool = False
    prob: float = 1.0

    def __post_init__(self) -> None:
        if self.alpha <= 0:
            raise ValueError(f"CutMix alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"CutMix prob must be in [0, 1], got {self.prob}")

    def sample_boxes(self, n: int, height: int, width: int,
                     generator: torch.Generator) -> torch.Tensor:
        """(n, 4) CPU long boxes ``(y0, y1, x0, x1)``, half-open; all rows equal unless
        ``per_sample``."""
        k = n if self.per_sample else 1
        lam = np.random.default_rng(derive_seed(generator)).beta(self.alpha, self.alpha, size=k)
        cut = torch.from_numpy(np.sqrt(1.0 - lam))
        cut_h = (height * cut).long()
        cut_w = (width * cut).long()
        cy = torch.randint(0, height, (k,), generator=generator)
        cx = torch.randint(0, width, (k,), generator=generator)
        boxes = torch.stack([(cy - cut_h // 2).clamp(0, height),
                             (cy + cut_h // 2).clamp(0, height),
                             (cx - cut_w // 2).clamp(0, width),
                             (cx + cut_w // 2).clamp(0, width)], dim=1)
        return boxes.expand(n, 4)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        n, _, h, w = inputs.shape
        soft = to_soft(targets, self.num_classes).to(inputs.device)
        if self.prob < 1.0 and float(torch.rand(1, generator=generator)) >= self.prob:
            return inputs, soft
        boxes = self.sample_boxes(n, h, w, generator)
        perm = torch.randperm(n, generator=generator).to(inputs.device)
        mask = box_mask(boxes, h, w, inputs.device)
        mixed = torch.where(mask, inputs[perm], inputs)
        area = ((boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])).float() / (h * w)
        lam = (1.0 - area).to(device=inputs.device, dtype=soft.dtype)[:, None]
        return mixed, lam * soft + (1.0 - lam) * soft[perm]


def _cutmix(adapter: Any, alpha: float = 1.0, per_sample: bool = False,
            prob: float = 1.0) -> CutMix:
    return CutMix(num_classes=getattr(adapter, "num_classes", None), alpha=alpha,
                  per_sample=per_sample, prob=prob)


AUGMENTATIONS.register("cutmix", _cutmix, namespace="image")
