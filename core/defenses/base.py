"""The defense interface: every defense, NFT included, is called the same way."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..config import from_dict, to_dict
from ..data import TensorData


class UnsupportedDefenseError(ValueError):
    """A defense cannot apply to this model, task or modality; the message says why."""


@dataclass
class DefenseResult:
    model: nn.Module                          # purified; same class and state_dict keys
    wall_time_s: float                        # the defense alone, device synchronised
    diagnostics: dict[str, Any] = field(default_factory=dict)


class Defense(ABC):
    """``Defense(config).purify(model, adapter, clean, device, seed) -> DefenseResult``.

    ``purify`` must not modify ``model``. ``training_time`` defenses (ABL, CBD) replace attack
    training instead and are run differently by the runner: see ``TrainingTimeDefense``.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    training_time: ClassVar[bool] = False

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()

    @classmethod
    def from_options(cls, options: dict | None) -> "Defense":
        return cls(from_dict(cls.Config, options))

    def describe(self) -> dict:
        return {"name": self.name, **to_dict(self.config)}

    def supports(self, adapter: TaskAdapter) -> str | None:
        """None when this defense (with its config) can serve ``adapter``'s task, else the
        reason it cannot. Reads only the adapter's declared capabilities (``continuous_inputs``,
        ``single_label``, ``feature_maps``, the optional methods it implements; the reason quotes
        ``adapter.capability_reason`` where the adapter words it): nothing is loaded or
        trained, so the runner asks before any training and writes an ``unsupported`` record
        instead of running the defense. Default: any task."""
        return None

    @abstractmethod
    def purify(self, model: nn.Module, adapter: TaskAdapter, clean: TensorData,
               device: torch.device, seed: int = 0) -> DefenseResult: ...


class TrainingTimeDefense(Defense):
    """A defense that trains the model itself on the poisoned data (ABL, CBD).

    ``train(model, adapter, poisoned_train, train_config, device, seed) -> DefenseResult``
    replaces the attack's training step: ``model`` is the freshly built (untrained) model the
    runner would have trained on ``poisoned_train`` with ``train_config`` (a
    ``core.training.TrainConfig``); it is not modified, and the result holds the trained copy.
    ``purify`` raises: there is no trained model to purify after the fact.
    """

    training_time: ClassVar[bool] = True

    @abstractmethod
    def train(self, model: nn.Module, adapter: TaskAdapter, poisoned_train: TensorData,
              train_config: Any, device: torch.device, seed: int = 0) -> DefenseResult: ...

    def purify(self, model: nn.Module, adapter: TaskAdapter, clean: TensorData,
               device: torch.device, seed: int = 0) -> DefenseResult:
        raise UnsupportedDefenseError(
            f"{self.name} is a training-time defense: it replaces attack training, so call "
            f"train(model, adapter, poisoned_train, train_config, device, seed) instead of purify")
