"""Config checks and the fine-tuning config the baseline defenses share (their typed configs
subclass ``FinetuneConfig`` and override the defaults of their paper)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


def check_positive(config: Any, *names: str) -> None:
    for name in names:
        if getattr(config, name) <= 0:
            raise ValueError(f"{type(config).__name__}.{name} must be > 0, got "
                             f"{getattr(config, name)}")


def check_unit_interval(config: Any, *names: str) -> None:
    for name in names:
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"{type(config).__name__}.{name} must lie in [0, 1], got "
                             f"{getattr(config, name)}")


@dataclass(frozen=True)
class FinetuneConfig:
    """Weight fine-tuning on the clean set: SGD with momentum and weight decay, the task's light
    augmentation, a cosine / constant / step learning rate. Defaults are vanilla FT's
    (BackdoorBench ``config/defense/ft``: SGD lr 0.01, momentum 0.9, wd 5e-4, cosine, 100
    epochs; docs/design.md §5: FT lr 0.01); batch 128 as NFT. Defenses that fine-tune subclass it and
    override the defaults of their paper."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    lr_schedule: Literal["cosine", "constant", "step"] = "cosine"
    lr_milestones: tuple[int, ...] = ()   # epochs at which "step" multiplies the lr by lr_gamma
    lr_gamma: float = 0.1
    augment: bool = True                  # apply adapter.train_augmentation() (images: crop+flip)
    progress: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "epochs", "batch_size", "lr")
        if self.momentum < 0 or self.weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be ≥ 0, got {self.momentum}, "
                             f"{self.weight_decay}")
        if self.lr_schedule == "step" and not self.lr_milestones:
            raise ValueError("lr_schedule 'step' needs lr_milestones (epochs)")
