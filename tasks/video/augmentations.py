"""Frame-consistent augmentation of clips: one random crop and flip per clip, the same for all
of its frames (docs/design.md §5b: "image augmentations apply frame-consistently").

``clip_crop_flip`` pads every frame by ``padding`` pixels and crops back to H×W at one offset per
clip, then mirrors the whole clip left-right with probability 0.5 (if ``flip``). Batched: the
clip's frames and channels are stacked as one (T·3)-channel image, so a single gather with
per-clip indices crops every frame alike (no loop over clips or frames). uint8 clips come out as
float in [0, 1] (this is where the training loops convert them per batch). Mirroring is off
for the motion datasets (``moving_objects``, ``synthetic``): it swaps MoveLeft with MoveRight
and the two rotations, so it would change labels. NFT mixes the result with core's MixUp
(one λ per batch; on clips: every frame of the pair mixed with the same λ).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from core.registry import AUGMENTATIONS

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class ClipCropFlip:
    padding: int = 4
    flip: bool = True

    def __post_init__(self) -> None:
        if self.padding < 0:
            raise ValueError(f"clip crop padding must be ≥ 0, got {self.padding}")

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        if inputs.dim() != 5:
            raise ValueError(f"clip_crop_flip takes clips (N, T, C, H, W), got "
                             f"{tuple(inputs.shape)}")
        clips = inputs.float().div(255.0) if inputs.dtype == torch.uint8 else inputs
        n, t, c, h, w = clips.shape
        p = self.padding
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(clips.device)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(clips.device)
        flips = (torch.rand(n, generator=generator) < 0.5) if self.flip else torch.zeros(
            n, dtype=torch.bool)
        flips = flips.to(clips.device)
        planes = clips.reshape(n, t * c, h, w)
        padded = F.pad(planes, (p, p, p, p)) if p else planes
        cols = torch.arange(w, device=clips.device)
        cols = torch.where(flips[:, None], cols.flip(0)[None, :], cols[None, :]) + dx[:, None]
        rows = torch.arange(h, device=clips.device)[None, :] + dy[:, None]
        flat = (rows[:, :, None] * (w + 2 * p) + cols[:, None, :]).view(n, 1, h * w)
        out = padded.reshape(n, t * c, -1).gather(2, flat.expand(n, t * c, h * w))
        return out.view(n, t, c, h, w), targets


def _clip_crop_flip(adapter: Any, padding: int = 4, flip: bool = True) -> ClipCropFlip:
    return ClipCropFlip(padding=padding, flip=flip)


AUGMENTATIONS.register("clip_crop_flip", _clip_crop_flip, namespace="video")
