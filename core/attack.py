"""The attack interface, and helpers every attack uses: exact poison indices and their hash.

An attack is a frozen config plus two pure operations: ``poison`` (the attacker's training set
→ poisoned copy + the indices it changed) and ``apply_trigger`` (test inputs → triggered
inputs). Which test samples count for ASR and which label counts as success are the attack's
too (``eval_selection``, ``attack_labels``).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from .checkpoint import load_model, save_model
from .config import from_dict, require, to_dict
from .data import TensorData, hash_indices


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
    #: the trigger exists only after ``prepare`` (a learned trigger network, a pool of partner
    #: images): before it, ``apply_trigger`` raises a ``RuntimeError`` that says so
    needs_prepare: ClassVar[bool] = False

    def __init__(self, config: Any, num_classes: int) -> None:
        self.config = config
        self.num_classes = num_classes
        # where ``prepare`` caches what it learns (generator weights); the runner sets it,
        # None = learn again every time
        self.artifact_dir: Path | None = None
        # whether ``prepare`` may show progress bars (surrogate training, trigger search); the
        # runner sets it from --no-progress
        self.progress: bool = True
        self.artifacts: dict[str, dict] = {}   # what ``cached_module`` did, for the record
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

    def cached_module(self, module: nn.Module, part: str, key: dict,
                      learn: Callable[[nn.Module], None]) -> nn.Module:
        """Load ``module``'s weights from the artifact cache, or ``learn(module)`` (in place)
        and store them as safetensors. The file is keyed by a hash of the attack's config,
        ``part`` and ``key`` (which must hold everything else that determines the result:
        seed, a hash of the training data, …). What happened is kept in ``self.artifacts``."""
        payload = {"attack": self.describe(), "part": part, **key}
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str)
                                .encode()).hexdigest()[:20]
        path = (Path(self.artifact_dir) / f"attack-{self.name}-{part}-{digest}.safetensors"
                if self.artifact_dir is not None else None)
        if path is not None and path.exists():
            load_model(module, path)
            self.artifacts[part] = {"cache_hit": True, "key": digest, "wall_time_s": 0.0}
            return module
        start = time.perf_counter()
        learn(module)
        wall = time.perf_counter() - start
        if path is not None:
            save_model(module, path, metadata={"attack": self.name, "part": part,
                                               "key": payload})
        self.artifacts[part] = {"cache_hit": False, "key": digest, "wall_time_s": wall}
        return module

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


@dataclass(frozen=True)
class CleanLabelConfig(AttackConfig):
    """Clean-label attacks: ``poison_rate`` is the share of the *target class* that is
    poisoned, labels are never changed, so all-to-all makes no sense."""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(not self.all_to_all,
                "a clean-label attack keeps every label, so all_to_all=True is not supported")


class CleanLabelAttack(Attack):
    """Clean-label poisoning, for every modality: round(poison_rate × #target-class samples)
    training samples of the target class get ``poison_inputs`` (default: the trigger alone;
    CLB adds PGD, the video attack feature erasure) and every label is kept."""

    clean_label = True

    def poison_inputs(self, inputs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply_trigger(inputs)

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        target = self.config.target
        eligible = torch.nonzero(train.targets.cpu() == target).flatten()
        if len(eligible) == 0:
            raise ValueError(f"{self.name}: the training set has no sample of the target class "
                             f"{target}, so a clean-label attack cannot poison anything")
        count = poison_count(len(eligible), self.config.poison_rate)
        indices = choose_indices(eligible, count, generator)
        inputs = train.inputs.clone()
        idx = indices.to(inputs.device)
        inputs[idx] = self.poison_inputs(inputs[idx], generator)
        return PoisonResult(TensorData(inputs, train.targets.clone(), train.transform), indices)


def poison_count(total: int, rate: float) -> int:
    count = round(rate * total)
    if count < 1:
        least = math.ceil(50.0 / max(1, total)) / 100   # rounds to one poisoned sample
        raise ValueError(f"poison rate {rate} of {total} samples poisons nothing; set the "
                         f"attack's poison_rate (attack_options.<attack>.poison_rate) to at least "
                         f"{min(1.0, least):g}, or keep more training data")
    return count


def choose_indices(eligible: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` distinct entries of ``eligible``, sorted, drawn with ``generator``."""
    if count > len(eligible):
        raise ValueError(f"asked to poison {count} samples but only {len(eligible)} are eligible")
    order = torch.randperm(len(eligible), generator=generator)[:count]
    return torch.sort(eligible.cpu()[order]).values.long()


def tensor_hash(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's bytes (keys caches on the exact data a part was learned from)."""
    data = tensor.detach().cpu().contiguous().numpy().tobytes()
    return "sha256:" + hashlib.sha256(data).hexdigest()
