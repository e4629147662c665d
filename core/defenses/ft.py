"""Vanilla fine-tuning (FT): train all weights on the clean set with the task loss.

The simplest purification baseline of the NFT paper (docs/design.md §5: FT, lr 0.01). Catastrophic
forgetting of the backdoor is its whole mechanism, so it works when the clean set is large
enough and the learning rate high enough to move the weights, and often leaves the backdoor
intact otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .base import Defense, Workspace
from .configs import FinetuneConfig
from .finetune import finetune


@dataclass(frozen=True)
class FTConfig(FinetuneConfig):
    """SGD lr 0.01 (docs/design.md §5), momentum 0.9, wd 5e-4, cosine, 100 epochs (BackdoorBench
    ``config/defense/ft/config.yaml``), batch 128 (as NFT), task augmentation."""


class FT(Defense):
    name = "ft"
    Config = FTConfig

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        curve = finetune(ws.model, ws.adapter, ws.data, self.config, ws.generator,
                         desc="FT")
        return ws.model, {"loss_curve": curve, "steps": len(curve)}
