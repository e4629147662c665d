"""What the image triggers share: the input check, seeded noise patterns and corner placement
(the choice of extra samples beside the poisoned ones is ``extra_samples.py``'s)."""
from __future__ import annotations

from typing import Literal

import torch

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
