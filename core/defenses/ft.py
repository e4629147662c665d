"""Vanilla fine-tuning (FT): train all weights on the clean set with the task loss.

The simplest purification baseline of the NFT paper (design §5: FT, lr 0.01). Catastrophic
forgetting of the backdoor is its whole mechanism, so it works when the clean set is large
enough and the learning rate high enough to move the weights, and often leaves the backdoor
intact otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..data import TensorData
from .base import Defense, DefenseResult
from .common import FinetuneConfig, Stopwatch, finetune, prepare, seeded


@dataclass(frozen=True)
class FTConfig(FinetuneConfig):
    """SGD lr 0.01 (design §5), momentum 0.9, wd 5e-4, cosine, 100 epochs (BackdoorBench
    ``config/defense/ft/config.yaml``), batch 128 (as NFT), task augmentation."""


class FT(Defense):
    name = "ft"
    Config = FTConfig

    def purify(self, model: nn.Module, adapter: TaskAdapter, clean: TensorData,
               device: torch.device, seed: int = 0) -> DefenseResult:
        config: FTConfig = self.config
        work, clean, device = prepare(model, adapter, clean, config.batch_size, device)
        watch = Stopwatch(device)
        with seeded(seed, device) as generator, watch:
            curve = finetune(work, adapter, clean, config, generator, desc="FT")
        return DefenseResult(work, watch.seconds, {"loss_curve": curve, "steps": len(curve)})
