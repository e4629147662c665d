"""The task adapter interface: everything modality-specific that core and the runner need.

One subclass per task kind (``tasks/<modality>/``). Core code (the purify loop, the defenses,
the runner) only talks to this interface, so a new modality is one adapter.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from .attack import Attack
from .augment import Augmentation, Identity
from .data import TensorData
from .registry import ATTACKS, MODELS


class CleanSetError(ValueError):
    """The defender's clean set cannot be used (missing classes, too small, …)."""


@dataclass
class Splits:
    """What a dataset gives the runner.

    ``train`` is the attacker's data (to be poisoned); ``clean`` is the defender's clean split,
    held out from ``train``; ``test`` measures clean and triggered metrics.
    """

    train: TensorData
    test: TensorData
    clean: TensorData
    num_classes: int
    info: dict[str, Any] = field(default_factory=dict)


class TaskAdapter(ABC):
    """Base class of task adapters."""

    name: ClassVar[str]
    #: metric name -> True when larger is better (recorded beside every result)
    higher_is_better: ClassVar[dict[str, bool]] = {}
    #: augmentation NFT mixes with by default (registry name)
    default_nft_augmentation: ClassVar[str] = "mixup"

    def __init__(self) -> None:
        self.num_classes: int | None = None

    # -- data ---------------------------------------------------------------------------------
    @abstractmethod
    def load_splits(self, dataset: str, data_root: Path | None, options: dict[str, Any],
                    seed: int) -> Splits:
        """Load ``dataset`` and split it; must set ``self.num_classes`` where it applies."""

    # -- models and attacks -------------------------------------------------------------------
    def build_model(self, name: str, splits: Splits) -> nn.Module:
        return MODELS.get(name, namespace=self.name)(num_classes=splits.num_classes,
                                                    **self.model_kwargs(splits))

    def model_kwargs(self, splits: Splits) -> dict[str, Any]:
        """Extra keyword arguments for model factories (e.g. input channels)."""
        return {}

    def build_attack(self, name: str, options: dict[str, Any] | None, splits: Splits) -> Attack:
        cls = ATTACKS.get(name, namespace=self.name)
        return cls.from_options(options, splits.num_classes)

    # -- training and purification ------------------------------------------------------------
    @abstractmethod
    def loss(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The task loss of ``model`` on a batch (targets may be soft)."""

    def train_augmentation(self) -> Augmentation:
        """Light augmentation for training and before NFT's mixing (images: crop + flip)."""
        return Identity()

    def example_input(self, data: TensorData) -> Any:
        """One small batch the model accepts (used to trace layers before masking)."""
        return data.inputs[:2]

    def samples_per_class(self, clean: TensorData) -> float:
        """N_c of the NFT regulariser."""
        return float(len(clean))

    def check_clean_set(self, clean: TensorData, batch_size: int) -> None:
        """Raise ``CleanSetError`` when ``clean`` cannot drive a defense."""
        if len(clean) < batch_size:
            raise CleanSetError(f"the clean set has {len(clean)} samples, fewer than one batch "
                                f"of {batch_size}; lower the batch size or give more clean data")

    # -- evaluation ---------------------------------------------------------------------------
    @abstractmethod
    def evaluate(self, model: nn.Module, test: TensorData, attack: Attack | None,
                 device: torch.device, batch_size: int = 512) -> dict[str, float]:
        """Metrics in percent (``clean_acc``, ``asr``, …)."""
