"""Random crop + horizontal flip: the light training augmentation of the image task (docs/design.md §2).

Each sample is padded by ``padding`` pixels on every side and cropped back to H×W at its own
random offset (uniform in ``[0, 2·padding]`` per axis), then flipped left-right with
probability 0.5, exactly torchvision's ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()``
used by the official NFT code, but batched: the batch is padded once and every sample's crop
and flip are one ``gather`` with per-sample indices (no loop over samples). Labels are unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from core.registry import AUGMENTATIONS

Batch = tuple[torch.Tensor, torch.Tensor]
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}


@dataclass
class RandomCropFlip:
    """Per-sample random crop of the padded image back to H×W, then a per-sample h-flip (p 0.5)."""

    padding: int = 4
    flip: bool = True
    padding_mode: Literal["zeros", "reflect", "replicate"] = "zeros"

    def __post_init__(self) -> None:
        if self.padding < 0:
            raise ValueError(f"crop padding must be ≥ 0, got {self.padding}")
        if self.padding_mode not in _PAD_MODES:
            raise ValueError(f"padding_mode must be one of {sorted(_PAD_MODES)}, "
                             f"got {self.padding_mode!r}")

    def sample_params(self, n: int, generator: torch.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """CPU draws ``(dy, dx, flip)`` of shape (n,): crop offsets into the padded image, flips."""
        dy = torch.randint(0, 2 * self.padding + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * self.padding + 1, (n,), generator=generator)
        if self.flip:
            flip = torch.rand(n, generator=generator) < 0.5
        else:
            flip = torch.zeros(n, dtype=torch.bool)
        return dy, dx, flip

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        n, c, h, w = inputs.shape
        dy, dx, flip = self.sample_params(n, generator)
        p = self.padding
        if p and self.padding_mode == "reflect" and (p >= h or p >= w):
            raise ValueError(f"reflect padding {p} needs images larger than {p} pixels, "
                             f"got {h}×{w}")
        padded = F.pad(inputs, (p, p, p, p), mode=_PAD_MODES[self.padding_mode]) if p else inputs
        device = inputs.device
        dy, dx, flip = dy.to(device), dx.to(device), flip.to(device)
        cols = torch.arange(w, device=device)
        # a flipped crop reads its columns right to left
        cols = torch.where(flip[:, None], cols.flip(0)[None, :], cols[None, :]) + dx[:, None]
        rows = torch.arange(h, device=device)[None, :] + dy[:, None]
        # one gather over the flattened padded planes (≈6× faster than 4-tensor advanced indexing)
        flat = (rows[:, :, None] * (w + 2 * p) + cols[:, None, :]).view(n, 1, h * w)
        out = padded.reshape(n, c, -1).gather(2, flat.expand(n, c, h * w))
        return out.view(n, c, h, w), targets


def _crop_flip(adapter: Any, padding: int = 4, flip: bool = True,
               padding_mode: str = "zeros") -> RandomCropFlip:
    return RandomCropFlip(padding=padding, flip=flip,
                          padding_mode=padding_mode)  # type: ignore[arg-type]


AUGMENTATIONS.register("crop_flip", _crop_flip, namespace="image")
