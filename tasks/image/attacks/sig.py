"""SIG (Barni, Kallas & Tondi, "A New Backdoor Attack in CNNs by Training Set Corruption
Without Label Poisoning", ICIP 2019): a horizontal sinusoid added to the image,
x'(i, j) = clip(x(i, j) + Δ·sin(2π·j·f / W)), the same signal on every row and channel.
Clean label: only target-class training images are triggered, labels are kept.

Defaults: Δ = 20/255 and f = 6 — the sinusoidal setting of Barni et al. (Δ = 20 on the
0–255 scale, f = 6); docs/design.md §5 allows 20/255…40/255 and BackdoorBench uses Δ = 40. Following
docs/design.md §5, ``poison_rate`` is the share of the *target class* that is poisoned, default 80 %.
ASR is measured as usual on triggered non-target test images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.registry import ATTACKS
from core.attack import CleanLabelAttack, CleanLabelConfig
from core.config import require

from .triggers import check_images


@dataclass(frozen=True)
class SIGConfig(CleanLabelConfig):
    poison_rate: float = 0.8        # share of the target class (docs/design.md §5: 80 %)
    delta: float = 20.0 / 255.0     # amplitude Δ (Barni et al.: 20 on 0–255)
    frequency: float = 6.0          # periods across the image width (Barni et al.: f = 6)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0.0 < self.delta <= 1.0, f"sig delta must lie in (0, 1], got {self.delta}")
        require(self.frequency > 0, f"sig frequency must be > 0, got {self.frequency}")


@ATTACKS.register("sig", namespace="image")
class SIG(CleanLabelAttack):
    name = "sig"
    Config = SIGConfig

    def signal(self, like: torch.Tensor) -> torch.Tensor:
        """The (1, W) row signal Δ·sin(2π·j·f / W), broadcast over rows and channels."""
        w = like.shape[-1]
        j = torch.arange(w, device=like.device, dtype=torch.float64)
        row = self.config.delta * torch.sin(2 * math.pi * j * self.config.frequency / w)
        return row.to(like.dtype)[None, :]

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_images(inputs, self.name)
        return (inputs + self.signal(inputs)).clamp(0.0, 1.0)
