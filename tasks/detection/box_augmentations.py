"""Augmentations of the ``boxes`` kind: they move the boxes with the pixels.

* ``BoxShiftFlip`` (training and before NFT's mix): a random translation by up to ``padding``
  pixels (pad, crop back) and an optional horizontal flip, per sample; boxes are shifted /
  mirrored the same way, clipped to the image, and a box left with less than one pixel of width
  or height is dropped (the loaders' policy, ``datasets/box_cleaning.py``).
* ``BoxMixUp`` (NFT's mix for boxes, registered ``box_mixup`` for the detection_boxes task): one
  λ ~ Beta(a, a) and one permutation π per batch (a = 1 as the official NFT code), pixels
  ``λ·x + (1−λ)·x[π]``, and the target of sample i is the *concatenation* of both box lists.
  The boxes are not weighted by λ: torchvision's detection losses take no per-box weights. This
  is the MixUp of YOLOX / mmdetection's ``MixUp`` transform; Zhang et al. ("Bag of Freebies for
  Training Object Detection", 2019) weigh each box's loss by its image's λ instead, which would
  need a loss of our own. ``box_flip`` (shift + flip, no mix) and ``none`` are the ablations.

Targets are lists (one dict per image): the per-sample Python is over a batch's dicts only,
the pixels move in one batched gather.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.registry import AUGMENTATIONS
from core.seeding import derive_seed

Targets = list[dict[str, torch.Tensor]]


def clip_boxes(boxes: torch.Tensor, labels: torch.Tensor, width: int,
               height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes clipped to the image; those thinner than one pixel dropped (with their labels)."""
    boxes = boxes.clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
    return boxes[keep], labels[keep]


@dataclass
class BoxShiftFlip:
    padding: int = 4
    flip: bool = False

    def __call__(self, inputs: torch.Tensor, targets: Targets,
                 generator: torch.Generator) -> tuple[torch.Tensor, Targets]:
        n, channels, h, w = inputs.shape
        p = self.padding
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        flip = (torch.rand(n, generator=generator) < 0.5) if self.flip \
            else torch.zeros(n, dtype=torch.bool)
        dev = inputs.device
        padded = F.pad(inputs, (p, p, p, p)) if p else inputs
        rows = dy.to(dev)[:, None] + torch.arange(h, device=dev)
        cols = dx.to(dev)[:, None] + torch.arange(w, device=dev)
        cols = torch.where(flip.to(dev)[:, None], cols.flip(1), cols)
        out = padded[torch.arange(n, device=dev)[:, None, None, None],
                     torch.arange(channels, device=dev)[None, :, None, None],
                     rows[:, None, :, None], cols[:, None, None, :]]
        moved = []
        for i, t in enumerate(targets):
            boxes = t["boxes"].clone()
            if flip[i]:
                x1 = int(dx[i]) + w - p - t["boxes"][:, 2]
                x2 = int(dx[i]) + w - p - t["boxes"][:, 0]
                boxes[:, 0], boxes[:, 2] = x1, x2
            else:
                boxes[:, 0::2] += p - int(dx[i])
            boxes[:, 1::2] += p - int(dy[i])
            boxes, labels = clip_boxes(boxes, t["labels"], w, h)
            moved.append({"boxes": boxes, "labels": labels})
        return out, moved


@dataclass
class BoxMixUp:
    alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.alpha < 0:
            raise ValueError(f"box MixUp alpha must be ≥ 0, got {self.alpha}")

    def __call__(self, inputs: torch.Tensor, targets: Targets,
                 generator: torch.Generator) -> tuple[torch.Tensor, Targets]:
        lam = 1.0 if self.alpha == 0 else float(
            np.random.default_rng(derive_seed(generator)).beta(self.alpha, self.alpha))
        perm = torch.randperm(inputs.shape[0], generator=generator)
        mixed = inputs * lam + inputs[perm.to(inputs.device)] * (1.0 - lam)
        out = []
        for i, j in enumerate(perm.tolist()):
            if i == j:
                out.append(targets[i])
                continue
            out.append({"boxes": torch.cat([targets[i]["boxes"], targets[j]["boxes"]]),
                        "labels": torch.cat([targets[i]["labels"], targets[j]["labels"]])})
        return mixed, out


AUGMENTATIONS.register("box_mixup", lambda adapter, alpha=1.0: BoxMixUp(alpha=alpha),
                       namespace="detection_boxes")
AUGMENTATIONS.register("box_flip", lambda adapter: BoxShiftFlip(padding=0, flip=True),
                       namespace="detection_boxes")
