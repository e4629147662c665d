"""The attack interface, and helpers every attack uses: exact poison indices and their hash.

An attack is a frozen config plus two pure operations: ``poison`` (the attacker's training set
→ poisoned copy + the indices it changed) and ``apply_trigger`` (test inputs → triggered
inputs). Which test samples count for ASR and which label counts as success are the attack's
too (``eval_selection``, ``attack_labels``).
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from .config import from_dict, to_dict
from .data import TensorData


@dataclass(frozen=True)
class AttackConfig:
    """Settings common to label-flipping attacks."""

    poison_rate: float = 0.1
    target: int = 0
    all_to_all: bool = False   # label y -> (y + 1) mod C instead of -> target

    def __post_init__(self) -> None:
        if not 0.0 < self.poison_rate <= 1.0:
            raise ValueError(f"poison_rate must lie in (0, 1], got {self.poison_rate}")
        if self.target < 0:
            raise ValueError(f"target class must be ≥ 0, got {self.target}")


@dataclass
class PoisonResult:
    data: TensorData
    indices: torch.Tensor   # sorted int64 indices of the poisoned (triggered) training samples
    extra: dict = field(default_factory=dict)   # e.g. WaNet's noise-mode indices

    @property
    def index_hash(self) -> str:
        return hash_indices(self.indices)


class Attack(ABC):
    """Base class. Subclasses set ``Config`` and implement ``apply_trigger``."""

    name: ClassVar[str]
    Config: ClassVar[type] = AttackConfig
    clean_label: ClassVar[bool] = False

    def __init__(self, config: Any, num_classes: int) -> None:
        self.config = config
        self.num_classes = num_classes
        if config.target >= num_classes:
            raise ValueError(f"{self.name}: target class {config.target} is out of range for "
                             f"{num_classes} classes (0..{num_classes - 1})")

    @classmethod
    def from_options(cls, options: dict | None, num_classes: int) -> "Attack":
        return cls(from_dict(cls.Config, options), num_classes)

    def describe(self) -> dict:
        return {"name": self.name, "clean_label": self.clean_label, **to_dict(self.config)}

    def prepare(self, train: TensorData, adapter: Any, device: torch.device, seed: int) -> None:
        """Build what the attack needs before poisoning (a surrogate model, a trigger
        generator, …). Called once by the runner before ``poison``; the default does nothing."""

    @abstractmethod
    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        """Triggered copies of ``inputs`` (never modifies its argument)."""

    def attack_labels(self, labels: torch.Tensor) -> torch.Tensor:
        if self.config.all_to_all:
            return (labels + 1) % self.num_classes
        return torch.full_like(labels, self.config.target)

    def eval_selection(self, labels: torch.Tensor) -> torch.Tensor:
        """Boolean mask of test samples that count for ASR/LCR (true label ≠ attack label)."""
        if self.config.all_to_all:
            return torch.ones_like(labels, dtype=torch.bool)
        return labels != self.config.target

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        """Dirty-label poisoning: trigger + relabel an exact ``poison_rate`` share of ``train``."""
        eligible = torch.nonzero(self.eval_selection(train.targets.cpu())).flatten()
        count = poison_count(len(train), self.config.poison_rate)
        indices = choose_indices(eligible, count, generator)
        inputs, targets = train.inputs.clone(), train.targets.clone()
        idx = indices.to(inputs.device)
        inputs[idx] = self.apply_trigger(inputs[idx])
        targets[idx] = self.attack_labels(targets[idx])
        return PoisonResult(TensorData(inputs, targets), indices)


def poison_count(total: int, rate: float) -> int:
    count = round(rate * total)
    if count < 1:
        raise ValueError(f"poison rate {rate} of {total} samples poisons nothing")
    return count


def choose_indices(eligible: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` distinct entries of ``eligible``, sorted, drawn with ``generator``."""
    if count > len(eligible):
        raise ValueError(f"asked to poison {count} samples but only {len(eligible)} are eligible")
    order = torch.randperm(len(eligible), generator=generator)[:count]
    return torch.sort(eligible.cpu()[order]).values.long()


def hash_indices(indices: torch.Tensor) -> str:
    """SHA-256 of the sorted int64 indices (recorded with every result)."""
    data = torch.sort(indices.detach().cpu().long().flatten()).values.numpy().tobytes()
    return "sha256:" + hashlib.sha256(data).hexdigest()
