"""Seeded batch loops on ``core.loop.Loop``: batching, the non-finite check and progress behave
the same in every defense as in NFT's loop (``core/purify.py``). Data stay on the device and
batches are drawn with a CPU generator."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import nn

from ..augment import Augmentation
from ..data import TensorData
from ..loop import Loop

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class DefenseDivergedError(FloatingPointError):
    """A defense's loss became NaN/inf; the input model is left untouched."""


def run_batches(step: StepFn, data: TensorData, *, batch_size: int, generator: torch.Generator,
                epochs: int = 1, iterations: int | None = None,
                augmentation: Augmentation | None = None, schedulers: Iterable[Any] = (),
                desc: str = "defense", progress: bool = True) -> list[float]:
    """Call ``step(inputs, targets) -> loss`` on ``epochs`` shuffled passes over ``data`` (ragged
    tail dropped) or on ``iterations`` batches drawn with replacement; returns the loss curve.

    The shared step machinery (``core.loop.Loop``) on ``data``'s device. Schedulers step after
    every batch. Raises ``DefenseDivergedError`` on a non-finite loss. Steps may draw from
    ``generator`` themselves, so augmentations draw per step here (same random stream).
    """
    batch_size = min(batch_size, len(data))
    loop = Loop(data.device, desc=desc, progress=progress)
    order = loop.order(len(data), batch_size, epochs, iterations, generator)
    schedulers = list(schedulers)

    def after(_: int) -> None:
        for scheduler in schedulers:
            scheduler.step()

    def diverged(step_no: int, value: float) -> DefenseDivergedError:
        return DefenseDivergedError(f"{desc}: the loss became {value} at step {step_no}; the "
                                    f"input model is unchanged. Lower the learning rate or check "
                                    f"the clean data for NaN/inf values.")

    return loop.run(step, data, order, generator=generator, augmentation=augmentation,
                    after_step=after, on_nonfinite=diverged, draw_ahead=False)


def descend(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
            after: Callable[[], None] | None = None) -> torch.Tensor:
    """``loss.backward()`` and one ``optimizer`` step (gradients cleared first), then
    ``after()`` (e.g. clamping masks); returns the detached loss."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if after is not None:
        after()
    return loss.detach()


def gradient_step(loss_fn: LossFn, optimizer: torch.optim.Optimizer, *, ascent: bool = False,
                  max_grad_norm: float | None = None,
                  after: Callable[[], None] | None = None) -> StepFn:
    """One optimiser step on ``loss_fn`` (gradient ascent if ``ascent``); ``after`` runs after
    the step (e.g. clamping masks). Returns the loss itself, not its negation."""
    params = [p for group in optimizer.param_groups for p in group["params"]]

    def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = loss_fn(inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        (-loss if ascent else loss).backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        if after is not None:
            after()
        return loss.detach()

    return step
