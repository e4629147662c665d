"""Shared base of the image attacks whose trigger is a network trained in ``prepare`` (ISSBA's
steganography encoder, LIRA's trigger generator); its ``seeded``, ``freeze`` and ``run_steps``
helpers serve Input-aware and FBA too.

Both are dirty-label and poison *statically*: ``prepare`` learns the network (seeded, cached as
safetensors through ``Attack.cached_module``), after which ``apply_trigger`` is a pure batched
function of the input images. What lives here is what both need and nothing else: the "not
prepared yet" error, seeded construction, the cache key over the exact training data, batched
inference on the network's device, and the perturbation statistics recorded with every poisoning
(``attack.artifacts["trigger"]``), so that how visible a learned trigger is gets measured, not
assumed.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from core.attack import Attack, PoisonResult, tensor_hash
from core.data import TensorData
from core.loop import Loop, StepFn

from .triggers import check_images

M = TypeVar("M", bound=nn.Module)


def seeded(build: Callable[[], M], seed: int) -> M:
    """``build()`` with the global RNG seeded by ``seed`` (initial weights), leaving the
    caller's global RNG state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def freeze(module: M) -> M:
    """Eval mode, no gradients: the learned trigger is fixed once ``prepare`` is done."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def run_steps(attack: Attack, what: str, device: torch.device, step: StepFn, data: TensorData,
              order: torch.Tensor, generator: torch.Generator, augmentation: Any = None,
              advice: str = "lower the learning rates") -> list[float]:
    """``step(inputs, targets) -> loss`` on the batches ``order`` picks from ``data``, on the
    shared step machinery (``core.loop.Loop``): a progress bar (``attack.progress``) and the
    NaN/inf check of the returned losses (a ``FloatingPointError`` naming the step and
    ``advice``); returns the losses. ``augmentation`` is applied per step with ``generator``
    (nothing is drawn ahead: some steps draw from ``generator`` themselves). Float32, no
    autocast: the learned networks are cached, and bfloat16 would change them on CUDA."""
    loop = Loop(device, desc=f"{attack.name} {what}", progress=attack.progress)

    def diverged(step_no: int, value: float) -> FloatingPointError:
        return FloatingPointError(f"{attack.name}: the {what} loss became {value} at step "
                                  f"{step_no}; {advice}")

    return loop.run(step, data, order.to(loop.device), generator=generator,
                    augmentation=augmentation, on_nonfinite=diverged, draw_ahead=False)


def data_key(train: TensorData, seed: int, **extra: Any) -> dict:
    """Cache key part that is not in the config: the seed and the exact training data."""
    return {"seed": int(seed), "inputs": tensor_hash(train.inputs),
            "targets": tensor_hash(train.targets),
            "image_shape": list(train.inputs.shape[1:]), **extra}


def epoch_means(curves: torch.Tensor, epochs: int, names: tuple[str, ...],
                attack: str) -> dict[str, list[float]]:
    """Per-epoch means of per-step training curves (shape (len(names), steps)), for
    ``attack.history``; a non-finite loss is an error, as in ``core.training.fit``."""
    means = curves.detach().cpu().view(len(names), epochs, -1).mean(dim=2)
    if not torch.isfinite(means).all():
        raise FloatingPointError(f"{attack}: a training loss became non-finite; lower the "
                                 f"learning rates")
    return {name: row.tolist() for name, row in zip(names, means)}


def perturbation_stats(clean: torch.Tensor, triggered: torch.Tensor) -> dict[str, float]:
    """How far the triggered images lie from the clean ones, in [0, 1] pixel units:
    ``max_abs`` (L∞), ``mean_abs``, ``rms`` and the PSNR in dB (peak 1)."""
    if clean.numel() == 0:
        return {"count": 0}
    diff = (triggered.detach().double() - clean.detach().double()).flatten(1)
    mse = float(diff.square().mean())
    return {"count": int(clean.shape[0]), "max_abs": float(diff.abs().max()),
            "mean_abs": float(diff.abs().mean()), "rms": math.sqrt(mse),
            "psnr_db": float("inf") if mse == 0 else -10.0 * math.log10(mse)}


class LearnedTriggerAttack(Attack):
    needs_prepare = True
    """Dirty-label attack whose trigger is ``self.network``, learned in ``prepare``.

    Subclasses implement ``prepare`` (which must call ``self.set_network``) and
    ``trigger_batch`` (one batch, already on the network's device, no grad)."""

    #: batch size of the network at poisoning / test time (memory only; results are the same)
    inference_batch_size: int = 256

    def __init__(self, config: Any, num_classes: int) -> None:
        super().__init__(config, num_classes)
        self.network: nn.Module | None = None
        self.device: torch.device | None = None
        self.image_shape: tuple[int, ...] | None = None

    def set_network(self, network: nn.Module, device: torch.device | str,
                    image_shape: tuple[int, ...]) -> None:
        """Use ``network`` (trained or loaded) as the trigger, frozen on ``device``."""
        self.device = torch.device(device)
        self.network = freeze(network.to(self.device))
        self.image_shape = tuple(int(s) for s in image_shape)

    def train_shape(self, train: TensorData) -> tuple[int, int, int]:
        """(C, H, W) of the images ``prepare`` learns from (checked like trigger inputs)."""
        check_images(train.inputs, self.name)
        c, h, w = (int(s) for s in train.inputs.shape[1:])
        return c, h, w

    def require_network(self) -> nn.Module:
        if self.network is None:
            raise RuntimeError(f"{self.name}: the trigger is learned; call "
                               f"attack.prepare(train, adapter, device, seed) before poison() "
                               f"or apply_trigger()")
        return self.network

    @abstractmethod
    def trigger_batch(self, inputs: torch.Tensor) -> torch.Tensor:
        """Triggered copies of one batch on ``self.device`` (values in [0, 1])."""

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_images(inputs, self.name)
        self.require_network()
        if tuple(inputs.shape[1:]) != self.image_shape:
            raise ValueError(f"{self.name}: the trigger network was learned on images of shape "
                             f"{self.image_shape}, got {tuple(inputs.shape[1:])}")
        out = torch.empty_like(inputs)
        with torch.no_grad():
            for start in range(0, inputs.shape[0], self.inference_batch_size):
                chunk = inputs[start:start + self.inference_batch_size]
                batch = chunk.to(device=self.device, dtype=torch.float32)
                out[start:start + chunk.shape[0]] = self.trigger_batch(batch).to(out)
        return out

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        """The base class's dirty-label poisoning, plus the measured perturbation of the
        poisoned samples in ``self.artifacts["trigger"]`` (recorded with every result)."""
        result = super().poison(train, generator)
        idx = result.indices.to(train.inputs.device)
        self.artifacts["trigger"] = perturbation_stats(train.inputs[idx],
                                                       result.data.inputs[idx])
        return result
