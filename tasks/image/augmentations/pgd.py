"""PGD-adversarial augmentation (supp. Table 7): replace the batch by L∞ PGD examples.

Madry et al. (2018) PGD against the model being purified: a uniform random start in the ε-ball,
then ``steps`` signed-gradient ascent steps of size ``step_size`` on ``loss_fn(x_adv, targets)``,
each projected onto the ε-ball around the clean batch and onto [0, 1]. Defaults ε = 8/255,
step 2/255, 5 steps. Labels are unchanged.

The loops call ``bind(model, loss_fn)`` once before the first step (``loss_fn`` is the task loss
of the live, masked model). Gradients are taken with ``torch.autograd.grad`` w.r.t. the input
only, so neither the model's parameters nor NFT's masks receive a ``.grad``. The attack runs in
the model's current train/eval mode (the function the next training step sees; NFT keeps BN in
train mode by default), and the model's buffers are restored afterwards, so the attack's extra
forward passes do not move BatchNorm running statistics; the mode is left as it was.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from core.registry import AUGMENTATIONS

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class PGDAugment:
    """K-step L∞ PGD with random start on the bound model's loss; needs ``bind`` first."""

    eps: float = 8 / 255
    step_size: float = 2 / 255
    steps: int = 5
    random_start: bool = True
    model: nn.Module | None = field(default=None, repr=False)
    loss_fn: LossFn | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.eps < 0 or self.step_size < 0:
            raise ValueError(f"PGD eps and step_size must be ≥ 0, got {self.eps}, "
                             f"{self.step_size}")
        if self.steps < 0:
            raise ValueError(f"PGD steps must be ≥ 0, got {self.steps}")

    def bind(self, model: nn.Module | None, loss_fn: LossFn) -> None:
        """Attack ``loss_fn(inputs, targets)``; ``model`` (if given) keeps its buffers and mode."""
        self.model = model
        self.loss_fn = loss_fn

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        if self.loss_fn is None:
            raise RuntimeError("the 'pgd' augmentation attacks a model: call "
                               "bind(model, loss_fn) before using it (core.augment."
                               "bind_augmentation does this in the purify loop)")
        clean = inputs.detach()
        if self.random_start and self.eps > 0:
            noise = torch.rand(clean.shape, generator=generator, dtype=torch.float32)
            noise = noise.to(device=clean.device, dtype=clean.dtype)
            adv = (clean + (2.0 * noise - 1.0) * self.eps).clamp(0.0, 1.0)
        else:
            adv = clean.clone()
        buffers, training = self._snapshot()
        try:
            with torch.enable_grad():
                for _ in range(self.steps):
                    adv.requires_grad_(True)
                    loss = self.loss_fn(adv, targets)
                    (grad,) = torch.autograd.grad(loss, adv)
                    adv = adv.detach() + self.step_size * grad.sign()
                    adv = torch.minimum(torch.maximum(adv, clean - self.eps), clean + self.eps)
                    adv = adv.clamp(0.0, 1.0)
        finally:
            self._restore(buffers, training)
        return adv.detach(), targets

    def _snapshot(self) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[bool]]:
        if self.model is None:
            return [], []
        buffers = [(b, b.detach().clone()) for b in self.model.buffers()]
        return buffers, [m.training for m in self.model.modules()]

    def _restore(self, buffers: list[tuple[torch.Tensor, torch.Tensor]],
                 training: list[bool]) -> None:
        if self.model is None:
            return
        with torch.no_grad():
            for live, saved in buffers:
                live.copy_(saved)
        for module, mode in zip(self.model.modules(), training):
            module.training = mode


def _pgd(adapter: Any, eps: float = 8 / 255, step_size: float = 2 / 255, steps: int = 5,
         random_start: bool = True) -> PGDAugment:
    return PGDAugment(eps=eps, step_size=step_size, steps=steps, random_start=random_start)


AUGMENTATIONS.register("pgd", _pgd, namespace="image")
