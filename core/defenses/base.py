"""The defense interface: every defense, NFT included, is called the same way.

``Defense.purify`` is a template method: refuse early (``check``), take a checked working copy
of the model and the clean data on the device (``runtime.prepare``), then seed and time the
defense's own method (``run``); ``describe`` says what ran. A defense file therefore holds only
its config and its method. ``TrainingTimeDefense.train`` does the same around ``run`` for the
defenses that replace attack training.
"""
from __future__ import annotations

import copy
from abc import ABC
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..config import from_dict, to_dict
from ..data import TensorData
from .runtime import Stopwatch, prepare, seeded


class UnsupportedDefenseError(ValueError):
    """A defense cannot apply to this model, task or modality; the message says why."""


@dataclass
class Workspace:
    """What the template hands a defense's ``run``: ``model`` is the defense's own deep copy of
    the input on ``device`` (``original`` is the input, never to be modified), ``data`` the
    checked clean set (or, for a training-time defense, the poisoned training set) on
    ``device``, ``generator`` a CPU generator seeded with ``seed`` (the global RNG is seeded too
    and restored afterwards). ``train_config`` is the victim's training config (training-time
    defenses only)."""

    model: nn.Module
    original: nn.Module
    adapter: TaskAdapter
    data: TensorData
    device: torch.device
    seed: int
    generator: torch.Generator | None
    train_config: Any = None


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

    def check(self, adapter: TaskAdapter, data: TensorData) -> None:
        """Raise ``UnsupportedDefenseError`` when this defense cannot run on ``data`` (called by
        the template before anything is copied). Default: nothing to check."""

    def run(self, work: Workspace) -> tuple[nn.Module, dict[str, Any]]:
        """The defense's own method: returns the purified model and its diagnostics. Runs
        seeded and timed, on ``work.model`` (a copy it may change)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither run nor purify")

    def purify(self, model: nn.Module, adapter: TaskAdapter, clean: TensorData,
               device: torch.device, seed: int = 0) -> DefenseResult:
        """``check``, ``prepare`` (clean-set check, deep copy, data on ``device``), then ``run``
        inside ``seeded`` and a device-synchronised stopwatch."""
        self.check(adapter, clean)
        work, clean, device = prepare(model, adapter, clean, self.config.batch_size, device)
        return self._timed(Workspace(work, model, adapter, clean, device, seed, None))

    def _timed(self, work: Workspace) -> DefenseResult:
        watch = Stopwatch(work.device)
        with seeded(work.seed, work.device) as generator, watch:
            work.generator = generator
            purified, diagnostics = self.run(work)
        return DefenseResult(purified, watch.seconds, diagnostics)


class TrainingTimeDefense(Defense):
    """A defense that trains the model itself on the poisoned data (ABL, CBD).

    ``train(model, adapter, poisoned_train, train_config, device, seed) -> DefenseResult``
    replaces the attack's training step: ``model`` is the freshly built (untrained) model the
    runner would have trained on ``poisoned_train`` with ``train_config`` (a
    ``core.training.TrainConfig``); it is not modified, and the result holds the trained copy.
    ``purify`` raises: there is no trained model to purify after the fact.
    """

    training_time: ClassVar[bool] = True

    def train(self, model: nn.Module, adapter: TaskAdapter, poisoned_train: TensorData,
              train_config: Any, device: torch.device, seed: int = 0) -> DefenseResult:
        """A deep copy of ``model`` and the poisoned data on ``device``, then ``run`` seeded
        and timed (``work.data`` is the poisoned set, ``work.train_config`` the victim's)."""
        device = torch.device(device)
        return self._timed(Workspace(copy.deepcopy(model).to(device), model, adapter,
                                     poisoned_train.to(device), device, seed, None, train_config))

    def purify(self, model: nn.Module, adapter: TaskAdapter, clean: TensorData,
               device: torch.device, seed: int = 0) -> DefenseResult:
        raise UnsupportedDefenseError(
            f"{self.name} is a training-time defense: it replaces attack training, so call "
            f"train(model, adapter, poisoned_train, train_config, device, seed) instead of purify")
