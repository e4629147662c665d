"""BPPA = BppAttack (Wang, Zhai & Ma, "BppAttack: Stealthy and Efficient Trojan Attacks
against Deep Neural Networks via Image Quantization and Contrastive Adversarial Learning",
CVPR 2022; official code RU-System-Software-and-Security/BppAttack).

Trigger: colour-depth squeezing of every channel to ``squeeze_num`` levels (docs/design.md §5 and the
official default: 8), with Floyd–Steinberg error diffusion when ``dithering`` is on. Dirty
label, poison rate 10 %.

Negative samples ("contrastive adversarial learning"): the official code turns ``neg_ratio``
of every batch into negative samples x + (Q(x̃) − x̃), where Q is the squeeze and x̃ another,
random training image, clipped to the valid range and *keeping the true label*; so the
network learns that only the exact quantisation of the image itself is the trigger, not any
quantisation-like residual. Our static equivalent: round(neg_ratio × N) samples not poisoned
are drawn once from the poisoning generator, each gets the residual of a different, randomly
drawn training image (the donor), labels kept; they are listed in
``PoisonResult.extra["negative_indices"]`` (donors in ``extra["negative_donors"]``, same order).
Default neg_ratio = 0.1 (docs/design.md §5, BackdoorBench); the official script's default is 0.2.

Dithering: the paper uses Floyd–Steinberg, but the official script (and BackdoorBench) default
to ``dithering=False``; we default to the paper (True). Our Floyd–Steinberg is exact (same
7/16, 3/16, 5/16, 1/16 weights, left-to-right then top-to-bottom) but batched: pixels on the
anti-diagonal x + 2y = t depend only on earlier wavefronts, so the whole batch and all channels
are processed in W + 2H − 2 vectorised steps. Unlike the official code we clip each quantised
value to the valid levels (theirs can leave [0, 255] where errors pile up), and we keep the
levels k/(L − 1) in float rather than rounding them to integer 0–255 values.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from core.attack import Attack, AttackConfig, PoisonResult
from core.data import TensorData
from core.registry import ATTACKS
from core.config import require

from .extra_samples import extra_indices
from .triggers import check_images

# Floyd–Steinberg error weights (dy, dx, weight): the three below, then the one to the right.
BELOW = ((1, -1, 3 / 16), (1, 0, 5 / 16), (1, 1, 1 / 16))
RIGHT = ((0, 1, 7 / 16),)


def squeeze(inputs: torch.Tensor, levels: int) -> torch.Tensor:
    """Round every value to the nearest of ``levels`` evenly spaced levels in [0, 1]."""
    scale = levels - 1
    return torch.round(inputs.clamp(0.0, 1.0) * scale) / scale


Update = tuple[torch.Tensor, torch.Tensor, torch.Tensor]   # (source slot, target pixel, weight)


@lru_cache(maxsize=16)
def _wavefronts(h: int, w: int) -> list[tuple[torch.Tensor, Update, Update]]:
    """Per anti-diagonal x + 2y = t (pixels that depend only on earlier diagonals): the flat
    pixel indices, and the error updates to the pixels below and to the right (CPU tensors).

    A diagonal holds at most one pixel per row, so the updates to the row below never hit the
    same pixel twice, nor do the updates to the right; the only pixel that gets two updates in
    one step receives the one from the row above (in BELOW) first and the one from its left
    neighbour (RIGHT) second, the order of the sequential scan, so the sums match it exactly.
    """
    steps = []
    for t in range(w + 2 * (h - 1)):
        ys = [y for y in range(h) if 0 <= t - 2 * y < w]
        pixels = [(y, t - 2 * y) for y in ys]

        def updates(offsets: tuple) -> Update:
            slots, targets, weights = [], [], []
            for slot, (y, x) in enumerate(pixels):
                for dy, dx, weight in offsets:
                    if y + dy < h and 0 <= x + dx < w:
                        slots.append(slot)
                        targets.append((y + dy) * w + x + dx)
                        weights.append(weight)
            return (torch.tensor(slots, dtype=torch.long), torch.tensor(targets, dtype=torch.long),
                    torch.tensor(weights, dtype=torch.float64))

        flat = torch.tensor([y * w + x for y, x in pixels], dtype=torch.long)
        steps.append((flat, updates(BELOW), updates(RIGHT)))
    return steps


def floyd_steinberg(inputs: torch.Tensor, levels: int) -> torch.Tensor:
    """Floyd–Steinberg dithering to ``levels`` levels per channel, batched over N and C."""
    n, c, h, w = inputs.shape
    scale = levels - 1
    work = inputs.clamp(0.0, 1.0).reshape(n, c, h * w).clone()
    out = torch.empty_like(work)
    dev, dtype = inputs.device, inputs.dtype
    steps = [(flat.to(dev), *[(s.to(dev), t.to(dev), wt.to(device=dev, dtype=dtype))
                              for s, t, wt in (below, right)])
             for flat, below, right in _wavefronts(h, w)]
    for flat, *updates in steps:
        old = work.index_select(2, flat)
        new = torch.round(old * scale).clamp_(0, scale).div_(scale)
        out.index_copy_(2, flat, new)
        error = old - new
        for slots, targets, weights in updates:
            if len(targets):
                work.index_add_(2, targets, error.index_select(2, slots) * weights)
    return out.reshape(n, c, h, w)


@dataclass(frozen=True)
class BppConfig(AttackConfig):
    squeeze_num: int = 8        # colour levels per channel (paper / official / docs/design.md §5)
    dithering: bool = True      # Floyd–Steinberg (paper); official script default: off
    neg_ratio: float = 0.1      # negative samples per training sample (docs/design.md §5)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(2 <= self.squeeze_num <= 256,
                f"bppa squeeze_num must lie in [2, 256], got {self.squeeze_num}")
        require(0.0 <= self.neg_ratio < 1.0,
                f"bppa neg_ratio must lie in [0, 1), got {self.neg_ratio}")


@ATTACKS.register("bppa", namespace="image")
class BppAttack(Attack):
    name = "bppa"
    Config = BppConfig

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_images(inputs, self.name)
        if self.config.dithering:
            return floyd_steinberg(inputs, self.config.squeeze_num)
        return squeeze(inputs, self.config.squeeze_num)

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        result = super().poison(train, generator)
        n = len(train)
        count = round(self.config.neg_ratio * n)
        empty = torch.empty(0, dtype=torch.long)
        if count == 0:
            result.extra.update(negative_indices=empty, negative_donors=empty)
            return result
        if n < 2:
            raise ValueError("bppa: negative samples need at least two training samples")
        negatives = extra_indices(n, result.indices, count, generator,
                                  "bppa negative samples", "neg_ratio")
        # each donor is another training image (offset 1..n-1 never maps a sample to itself)
        donors = (negatives + torch.randint(1, n, (count,), generator=generator)) % n
        clean = train.inputs
        donor_images = clean[donors.to(clean.device)]
        residual = self.apply_trigger(donor_images) - donor_images
        idx = negatives.to(clean.device)
        result.data.inputs[idx] = (clean[idx] + residual).clamp(0.0, 1.0)
        result.extra.update(negative_indices=negatives, negative_donors=donors)
        return result
