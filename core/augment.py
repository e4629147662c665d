"""The augmentation protocol of the purify loop, and the generic ones: identity, compose, MixUp.

An augmentation maps a batch ``(inputs, targets)`` to a new batch, drawing its randomness from a
CPU ``torch.Generator`` so that a seed fixes the result. One that needs the model being trained
or purified (PGD-adversarial examples) also defines ``bind(model, loss_fn)``; the loops call it
once before the first step, with ``loss_fn(inputs, targets) -> scalar``. It works on whole batches on their
device (no per-sample Python). Augmentations that mix samples return *soft* targets: one
probability row per sample, which ``soft_cross_entropy`` consumes.

Optionally an augmentation splits its randomness from its arithmetic: ``draw(n, generator)``
returns what one call on ``n`` samples would draw (in the same order from ``generator``) and
``apply(inputs, targets, drawn)`` uses it, so ``__call__`` = ``apply(..., draw(...))``. Loops
then draw a whole run's randomness before the first step and move it to the device at once
(``core.loop.Loop``): no host→device copy per step, and the same numbers.

Registered factories take the task adapter plus options: ``factory(adapter, **options)``. Task
specific ones (image crops, word deletion, point-cloud mixes) register in their task's namespace.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from .registry import AUGMENTATIONS
from .seeding import derive_seed

Batch = tuple[torch.Tensor, torch.Tensor]


@runtime_checkable
class Augmentation(Protocol):
    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch: ...


class Identity:
    """No augmentation (the "none" ablation of supp. Table 7 / paper Table 7)."""

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        return inputs, targets

    def draw(self, n: int, generator: torch.Generator) -> None:
        return None

    def apply(self, inputs: torch.Tensor, targets: torch.Tensor, drawn: None) -> Batch:
        return inputs, targets

    def __repr__(self) -> str:
        return "Identity()"


class Compose:
    """Apply augmentations in order."""

    def __init__(self, *steps: Augmentation) -> None:
        self.steps = [s for s in steps if s is not None and not isinstance(s, Identity)]

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        for step in self.steps:
            inputs, targets = step(inputs, targets, generator)
        return inputs, targets

    def bind(self, model: Any, loss_fn: Any) -> None:
        bind_augmentation(self.steps, model, loss_fn)

    def __getattr__(self, name: str) -> Any:
        # draw/apply exist only when every step has them (see the module docstring)
        if name in ("draw", "apply") and all(
                callable(getattr(s, "draw", None)) and callable(getattr(s, "apply", None))
                for s in self.__dict__.get("steps", [None])):
            return getattr(self, f"_{name}")
        raise AttributeError(name)

    def _draw(self, n: int, generator: torch.Generator) -> list:
        return [step.draw(n, generator) for step in self.steps]

    def _apply(self, inputs: torch.Tensor, targets: torch.Tensor, drawn: list) -> Batch:
        for step, part in zip(self.steps, drawn):
            inputs, targets = step.apply(inputs, targets, part)
        return inputs, targets

    def __repr__(self) -> str:
        return f"Compose({', '.join(repr(s) for s in self.steps)})"


def bind_augmentation(augmentation: Any, model: Any, loss_fn: Any) -> None:
    """Give ``model`` and ``loss_fn`` to every augmentation (or list of them) that asks."""
    for step in augmentation if isinstance(augmentation, (list, tuple)) else [augmentation]:
        if hasattr(step, "bind"):
            step.bind(model, loss_fn)


def to_soft(targets: torch.Tensor, num_classes: int | None) -> torch.Tensor:
    """Class indices -> one-hot rows; soft rows pass through."""
    if targets.is_floating_point() and targets.dim() >= 2:
        return targets
    if num_classes is None:
        raise ValueError("hard class targets need num_classes to become soft labels")
    return F.one_hot(targets.long(), num_classes).to(torch.float32)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against class indices or probability rows (mean over the batch)."""
    if targets.is_floating_point() and targets.shape == logits.shape:
        return -(targets * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()
    return F.cross_entropy(logits.float(), targets.long())


@dataclass
class MixUp:
    """MixUp (Zhang et al. 2018) on any tensor input: one λ ~ Beta(a, a) per batch.

    ``x' = λ·x + (1−λ)·x[π]`` and ``y' = λ·y + (1−λ)·y[π]`` with soft labels, as in the
    official NFT code (a = 1, one λ and one permutation π per batch). Cross-entropy on ``y'``
    equals the official ``λ·CE(y) + (1−λ)·CE(y[π])``.
    """

    num_classes: int | None
    alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.alpha < 0:
            raise ValueError(f"MixUp alpha must be ≥ 0, got {self.alpha}")

    def sample_lambda(self, generator: torch.Generator) -> float:
        if self.alpha == 0:
            return 1.0
        return float(np.random.default_rng(derive_seed(generator)).beta(self.alpha, self.alpha))

    def draw(self, n: int, generator: torch.Generator) -> tuple[float, torch.Tensor]:
        """λ, then the permutation π, from ``generator``."""
        lam = self.sample_lambda(generator)
        return lam, torch.randperm(n, generator=generator)

    def apply(self, inputs: torch.Tensor, targets: torch.Tensor,
              drawn: tuple[float, torch.Tensor]) -> Batch:
        lam, perm = drawn
        perm = perm.to(inputs.device)
        soft = to_soft(targets, self.num_classes).to(inputs.device)
        mixed = inputs * lam + inputs[perm] * (1.0 - lam)
        return mixed, soft * lam + soft[perm] * (1.0 - lam)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        return self.apply(inputs, targets, self.draw(inputs.shape[0], generator))


def _mixup(adapter: Any, alpha: float = 1.0) -> MixUp:
    return MixUp(num_classes=getattr(adapter, "num_classes", None), alpha=alpha)


def _none(adapter: Any) -> Identity:
    return Identity()


AUGMENTATIONS.register("mixup", _mixup)
AUGMENTATIONS.register("none", _none)
