"""Trojan (TrojanNN; Liu et al., "Trojaning Attack on Neural Networks", NDSS 2018) with a
watermark-style trigger, registered twice: ``trojan_one`` (all-to-one, every poisoned label →
target) and ``trojan_all`` (all-to-all, y → (y + 1) mod C). Dirty label, poison rate 10 %.

Where ours differs: TrojanNN reverse-engineers the trigger's pixel values to excite chosen
neurons of a pretrained model, and the suites built on it (NAD, I-BAU, the NFT code) ship that
pattern as a file (``best_square_trigger_cifar10.npz``) and add it to uint8 images, which
overflows (docs/design.md §2). We ship no files and do not optimise the pattern: the trigger is a
deterministic watermark drawn from ``pattern_seed`` — a polyline of ``num_strokes``
straight strokes, each in its own colour, inside the central 70 % of the image (a scribbled,
signature-like glyph), stamped with opacity ``alpha`` (TrojanNN's transparency is 1 − alpha;
we default to an opaque stamp). The stroke geometry is in image-relative coordinates, so
32×32 and 64×64 images get the same mark; strokes are ``stroke_width`` pixels wide at 32×32
and scale with the image (never below 1.5 px, so every stroke stays a connected line). Pixels
stay in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.attack import Attack, AttackConfig
from core.registry import ATTACKS
from core.seeding import make_generator
from core.config import require

from .triggers import check_images

MARGIN = 0.15          # strokes stay inside [MARGIN, 1 − MARGIN] of each image side
MIN_WIDTH_PX = 1.5


@dataclass(frozen=True)
class TrojanConfig(AttackConfig):
    alpha: float = 1.0          # stamp opacity (TrojanNN transparency 0 %)
    num_strokes: int = 4        # strokes of the watermark
    stroke_width: float = 1.5   # pixels at 32×32, scaled with the image size
    pattern_seed: int = 0       # fixes stroke positions and colours

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0.0 < self.alpha <= 1.0, f"trojan alpha must lie in (0, 1], got {self.alpha}")
        require(self.num_strokes >= 1, f"trojan num_strokes must be ≥ 1, got {self.num_strokes}")
        require(self.stroke_width > 0, f"trojan stroke_width must be > 0, got {self.stroke_width}")


@dataclass(frozen=True)
class TrojanOneConfig(TrojanConfig):
    def __post_init__(self) -> None:
        super().__post_init__()
        require(not self.all_to_all, "trojan_one is the all-to-one variant; use trojan_all "
                                     "for y -> (y + 1) mod C")


@dataclass(frozen=True)
class TrojanAllConfig(TrojanConfig):
    all_to_all: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.all_to_all, "trojan_all is the all-to-all variant; use trojan_one for "
                                 "all-to-one")


class Trojan(Attack):
    """Shared trigger of ``trojan_one`` and ``trojan_all``."""

    def watermark(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mask (1, H, W) of 0/1, colour image (C, H, W)) on ``like``'s device and dtype."""
        c, h, w = like.shape[1:]
        cfg = self.config
        gen = make_generator(cfg.pattern_seed)
        points = MARGIN + (1 - 2 * MARGIN) * torch.rand(cfg.num_strokes + 1, 2, generator=gen)
        colours = torch.rand(cfg.num_strokes, 3, generator=gen)
        # one polyline: stroke i joins points i and i + 1, (y, x) in pixel units
        points = points * torch.tensor([h, w], dtype=torch.float32)
        a, b = points[:-1], points[1:]                                      # (S, 2)
        # pixel centres at (i + 0.5, j + 0.5)
        ys = torch.arange(h, dtype=torch.float32) + 0.5
        xs = torch.arange(w, dtype=torch.float32) + 0.5
        p = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)      # (H, W, 2)
        ab = (b - a)[:, None, None, :]                                      # (S, 1, 1, 2)
        ap = p[None] - a[:, None, None, :]                                  # (S, H, W, 2)
        t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)).clamp(0.0, 1.0)
        dist = (ap - t[..., None] * ab).norm(dim=-1)                        # (S, H, W)
        nearest, which = dist.min(dim=0)
        width = max(MIN_WIDTH_PX, cfg.stroke_width * min(h, w) / 32.0)
        mask = (nearest <= width / 2).float()[None]
        colour = colours[which].permute(2, 0, 1)                            # (3, H, W)
        if c != 3:
            colour = colour.mean(dim=0, keepdim=True).expand(c, h, w)
        return (mask.to(device=like.device, dtype=like.dtype),
                colour.to(device=like.device, dtype=like.dtype))

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_images(inputs, self.name)
        mask, colour = self.watermark(inputs)
        weight = self.config.alpha * mask
        return ((1.0 - weight) * inputs + weight * colour).clamp(0.0, 1.0)


@ATTACKS.register("trojan_one", namespace="image")
class TrojanOne(Trojan):
    name = "trojan_one"
    Config = TrojanOneConfig


@ATTACKS.register("trojan_all", namespace="image")
class TrojanAll(Trojan):
    name = "trojan_all"
    Config = TrojanAllConfig
