"""Light training augmentation of the multi-label task: a batched random translation (pad by
``padding`` and crop back, per sample) and an optional horizontal flip. Labels are unchanged:
a shift of a few pixels keeps every object in the image. Flipping is off by default because
the composed set holds traffic signs whose meaning a mirror image changes (keep right/left).
NFT's mix for multi-hot targets is core's MixUp: ``y' = λ·y + (1−λ)·y[π]`` on the multi-hot
rows, and since BCE (and ASL) is linear in the target, the loss on ``y'`` equals the official
``λ·L(y) + (1−λ)·L(y[π])`` (``tests/detection`` checks it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.registry import AUGMENTATIONS


@dataclass
class ShiftFlip:
    padding: int = 4
    flip: bool = False

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = inputs.shape
        p = self.padding
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(inputs.device)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(inputs.device)
        flip = (torch.rand(n, generator=generator) < 0.5).to(inputs.device) if self.flip else None
        padded = F.pad(inputs, (p, p, p, p)) if p else inputs
        rows = (dy[:, None] + torch.arange(h, device=inputs.device))            # (n, h)
        cols = (dx[:, None] + torch.arange(w, device=inputs.device))            # (n, w)
        if flip is not None:
            cols = torch.where(flip[:, None], cols.flip(1), cols)
        index_n = torch.arange(n, device=inputs.device)[:, None, None, None]
        index_c = torch.arange(inputs.shape[1], device=inputs.device)[None, :, None, None]
        out = padded[index_n, index_c, rows[:, None, :, None], cols[:, None, None, :]]
        return out, targets


def _shift_flip(adapter: object, padding: int = 4, flip: bool = False) -> ShiftFlip:
    return ShiftFlip(padding=padding, flip=flip)


AUGMENTATIONS.register("shift_flip", _shift_flip, namespace="detection")
