"""WaNet (Nguyen & Tran, "WaNet – Imperceptible Warping-based Backdoor Attack", ICLR 2021;
official code VinAIResearch/Warping-based_Backdoor_Attack-release).

The trigger is a fixed smooth warp: a k×k field of random offsets in [−1, 1], normalised to
mean absolute value 1, upsampled bicubically to H×W, scaled by s / size, added to the identity
sampling grid, multiplied by ``grid_rescale`` and clipped to [−1, 1]; images are resampled with
``grid_sample`` (bilinear, align_corners=True). "Noise mode": a further ``cross_ratio`` × (number
poisoned) samples are warped with the trigger grid plus per-sample uniform noise in
[−1, 1] / size and keep their labels, so the network learns that only the exact warp is the
trigger. Defaults as the paper / official code / docs/design.md §5: k = 4, s = 0.5, grid_rescale = 1,
cross_ratio = 2, poison rate 10 %, dirty label.

Where ours differs: the official code re-draws the noise-mode grids and picks the poisoned and
noise samples anew in every batch (and its all-to-all mode forgets the +1); we poison statically:
the trigger grid is fixed by ``pattern_seed``, and the noise samples (listed in
``PoisonResult.extra["noise_indices"]``, drawn from the samples not poisoned) and their noisy
grids are drawn once from the poisoning generator. For non-square images the x offsets are
scaled by 1/W and the y offsets by 1/H (the official code uses the height for both).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.attack import Attack, AttackConfig, PoisonResult
from core.data import TensorData
from core.registry import ATTACKS
from core.seeding import make_generator
from core.config import require

from .extra_samples import extra_indices
from .triggers import check_images


@dataclass(frozen=True)
class WaNetConfig(AttackConfig):
    k: int = 4                  # control-grid size
    s: float = 0.5              # warping strength
    grid_rescale: float = 1.0
    cross_ratio: float = 2.0    # noise-mode samples per poisoned sample (0 = off)
    pattern_seed: int = 0       # fixes the warping field

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.k >= 2, f"wanet k must be ≥ 2, got {self.k}")
        require(self.s > 0, f"wanet s must be > 0, got {self.s}")
        require(self.grid_rescale > 0, f"wanet grid_rescale must be > 0, got {self.grid_rescale}")
        require(self.cross_ratio >= 0, f"wanet cross_ratio must be ≥ 0, got {self.cross_ratio}")


@ATTACKS.register("wanet", namespace="image")
class WaNet(Attack):
    name = "wanet"
    Config = WaNetConfig

    def grid(self, like: torch.Tensor) -> torch.Tensor:
        """The fixed trigger sampling grid, shape (1, H, W, 2) in grid_sample's (x, y) order."""
        h, w = like.shape[-2:]
        cfg = self.config
        ins = torch.rand(1, 2, cfg.k, cfg.k, generator=make_generator(cfg.pattern_seed)) * 2 - 1
        ins = ins / ins.abs().mean()
        noise = F.interpolate(ins, size=(h, w), mode="bicubic", align_corners=True)
        noise = noise.permute(0, 2, 3, 1) / torch.tensor([w, h], dtype=torch.float32)
        ys, xs = torch.linspace(-1, 1, h), torch.linspace(-1, 1, w)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        identity = torch.stack((gx, gy), dim=-1)[None]
        grid = ((identity + cfg.s * noise) * cfg.grid_rescale).clamp(-1.0, 1.0)
        return grid.to(device=like.device, dtype=like.dtype)

    @staticmethod
    def warp(inputs: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        grid = grid.expand(inputs.shape[0], -1, -1, -1)
        out = F.grid_sample(inputs, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=True)
        return out.clamp(0.0, 1.0)

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_images(inputs, self.name, min_size=2)
        return self.warp(inputs, self.grid(inputs))

    def noise_warp(self, inputs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noise mode: the trigger grid plus per-sample U[−1, 1]/size offsets (labels kept)."""
        n, _, h, w = inputs.shape
        offsets = (torch.rand(n, h, w, 2, generator=generator) * 2 - 1)
        offsets = offsets / torch.tensor([w, h], dtype=torch.float32)
        grids = (self.grid(inputs) + offsets.to(inputs)).clamp(-1.0, 1.0)
        return self.warp(inputs, grids)

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        result = super().poison(train, generator)
        count = round(self.config.cross_ratio * len(result.indices))
        noise_idx = extra_indices(len(train), result.indices, count, generator,
                                  "wanet noise-mode samples", "cross_ratio")
        if len(noise_idx):
            inputs = result.data.inputs
            idx = noise_idx.to(inputs.device)
            inputs[idx] = self.noise_warp(inputs[idx], generator)
        result.extra["noise_indices"] = noise_idx
        return result
