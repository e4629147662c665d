"""Helpers shared by the image trigger attacks: input checks, seeded patterns, corner placement
and the choice of extra samples (the clean-label poisoning rule is ``core.attack``'s)."""
from __future__ import annotations

from typing import Literal

import torch

from core.attack import choose_indices
from core.seeding import make_generator

Corner = Literal["bottom_left", "bottom_right", "top_left", "top_right"]


def check_images(inputs: torch.Tensor, attack: str, min_size: int = 1) -> None:
    """Triggers take float image batches (N, C, H, W) in [0, 1]."""
    if inputs.dim() != 4:
        raise ValueError(f"{attack}: expected an image batch of shape (N, C, H, W), "
                         f"got shape {tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise ValueError(f"{attack}: expected float images in [0, 1], got dtype {inputs.dtype}")
    h, w = inputs.shape[-2:]
    if min(h, w) < min_size:
        raise ValueError(f"{attack}: images of {h}×{w} are too small (need at least "
                         f"{min_size}×{min_size})")


def seeded_uniform(seed: int, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """U[0, 1) noise of ``shape`` drawn from a local generator seeded with ``seed``, on the
    device and in the dtype of ``like`` (drawn on the CPU so every device gets the same)."""
    noise = torch.rand(shape, generator=make_generator(seed))
    return noise.to(device=like.device, dtype=like.dtype)


def corner_origin(corner: str, size: int, h: int, w: int) -> tuple[int, int]:
    """(top, left) of a ``size``×``size`` patch in ``corner`` of an h×w image."""
    if size > min(h, w):
        raise ValueError(f"a {size}×{size} patch does not fit {h}×{w} images")
    top = 0 if corner.startswith("top") else h - size
    left = 0 if corner.endswith("left") else w - size
    return top, left


def remaining_indices(total: int, taken: torch.Tensor) -> torch.Tensor:
    """Sorted indices of ``range(total)`` not in ``taken`` (CPU int64)."""
    keep = torch.ones(total, dtype=torch.bool)
    keep[taken.cpu()] = False
    return torch.nonzero(keep).flatten()


def extra_indices(total: int, poisoned: torch.Tensor, count: int, generator: torch.Generator,
                  what: str, knob: str) -> torch.Tensor:
    """``count`` distinct samples beside the ``poisoned`` ones (sorted), for the extra samples
    some attacks add with their labels kept (WaNet noise, BPPA negatives, Input-aware cross,
    FBA detox); a clear error when they do not fit (``knob``: the option to lower)."""
    if count == 0:
        return torch.empty(0, dtype=torch.long)
    free = remaining_indices(total, poisoned)
    if count > len(free):
        raise ValueError(f"{count} {what} do not fit beside the {len(poisoned)} poisoned "
                         f"samples ({len(free)} remain); lower poison_rate or {knob}")
    return choose_indices(free, count, generator)
