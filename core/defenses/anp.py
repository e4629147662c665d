"""Adversarial Neuron Pruning (ANP; Wu & Wang, NeurIPS 2021).

Neurons whose removal barely hurts the clean loss, but whose adversarial perturbation hurts it a
lot, are the backdoor's. ANP learns one mask m ∈ [0, 1] per neuron on the clean set:

    min_m  α·L(m) + (1 − α)·max_{‖δ‖∞ ≤ ε, ‖ξ‖∞ ≤ ε} L(m + δ, 1 + ξ)

where a neuron's weight is scaled by m + δ and its bias by 1 + ξ. Each step draws δ, ξ uniformly
in [−ε, ε], takes one signed-gradient ascent step of size ε on them, then one SGD step on the
masks, and clips the masks to [0, 1]. Finally neurons with m ≤ ``threshold`` are pruned from the
*original* model (their weight zeroed; bias and normalisation statistics kept), every other
neuron is left as it was.

Which neurons: every Conv/Linear output unit that ``core.masks.inject_masks`` masks, the first
layer included, the output layer excluded; a unit followed by a normalisation layer is scaled
through the norm's γ, exactly the BatchNorm-γ masks of the official code (``NoisyBatchNorm2d``).

Defaults are the official code's (github.com/csdongxian/ANP_backdoor, optimize_mask_cifar.py
and prune_neuron_cifar.py; docs/design.md §5): ε 0.4, one perturbation step, α 0.2, mask SGD lr 0.2 with
momentum 0.9, batch 128, 2,000 iterations drawn with replacement, BN in train mode, prune by
threshold 0.2 (the official script sweeps thresholds; 0.2 is the paper's choice). As in the
official code the perturbation is not re-clipped after its ascent step.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..masks import MaskedLayer, fold_masks, inject_masks, mask_values
from .base import Defense, Workspace
from .configs import check_positive, check_unit_interval
from .finetune import freeze
from .loops import descend, run_batches
from .weight_masks import clamp_unit


@dataclass(frozen=True)
class ANPConfig:
    eps: float = 0.4              # perturbation budget ε
    steps: int = 1                # signed-gradient steps on the perturbation (step size ε/steps)
    alpha: float = 0.2            # weight of the natural loss (1 − α on the robust loss)
    lr: float = 0.2               # mask SGD learning rate
    momentum: float = 0.9
    iterations: int = 2000        # batches drawn with replacement
    batch_size: int = 128
    threshold: float = 0.2        # prune neurons whose mask is ≤ threshold
    bn_mode: Literal["train", "eval"] = "train"   # official: model.train() during mask optimisation
    augment: bool = True          # task augmentation (official: random crop + flip)
    progress: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "lr", "iterations", "batch_size", "steps")
        check_unit_interval(self, "alpha", "threshold")
        if self.eps < 0:
            raise ValueError(f"ANP eps must be ≥ 0, got {self.eps}")
        if self.bn_mode not in ("train", "eval"):
            raise ValueError(f"ANP bn_mode must be 'train' or 'eval', got {self.bn_mode!r}")


class NeuronNoise(nn.Module):
    """Parametrization adding ANP's perturbation on top of a neuron mask.

    On a weight (after the ``NeuronMask``): ``t + w·δ`` = ``w·(m + δ)``, with ``w`` the raw
    weight; on a bias: ``b·(1 + ξ)``. Inactive (identity) unless ``enabled``.
    """

    def __init__(self, units: int, raw: Callable[[], torch.Tensor] | None,
                 device: torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        self.noise = nn.Parameter(torch.zeros(units, device=device, dtype=dtype))
        self.raw = raw            # returns the unmasked weight (None: scale the tensor itself)
        self.enabled = False

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return tensor
        shape = (-1,) + (1,) * (tensor.dim() - 1)
        base = tensor if self.raw is None else self.raw()
        return tensor + base * self.noise.view(shape).to(tensor.dtype)


def add_noise(model: nn.Module, masked: list[MaskedLayer]) -> list[NeuronNoise]:
    """Register a ``NeuronNoise`` on the weight (and bias, if any) of every mask target."""
    modules = dict(model.named_modules())
    noises = []
    for layer in masked:
        target = modules[layer.target]
        weight = target.parametrizations.weight.original
        noise = NeuronNoise(layer.num_units, lambda w=weight: w, weight.device, weight.dtype)
        parametrize.register_parametrization(target, "weight", noise)
        noises.append(noise)
        if getattr(target, "bias", None) is not None:
            bias_noise = NeuronNoise(layer.num_units, None, weight.device, weight.dtype)
            parametrize.register_parametrization(target, "bias", bias_noise)
            noises.append(bias_noise)
    return noises


def prune_by_threshold(model: nn.Module, example_input: object, masks: dict[str, list[float]],
                       threshold: float, device: torch.device,
                       **inject_options: Any) -> tuple[nn.Module, int]:
    """A copy of ``model`` on ``device`` with every neuron whose learned mask is ≤ ``threshold``
    zeroed (through the same mask targets), the rest untouched; returns it and the count."""
    pruned_model = copy.deepcopy(model).to(device)
    layers = inject_masks(pruned_model, example_input, **inject_options)
    pruned = 0
    with torch.no_grad():
        for layer in layers:
            keep = torch.tensor(masks[layer.name], device=layer.mask.device) > threshold
            layer.mask.copy_(keep.to(layer.mask.dtype))
            pruned += int((~keep).sum())
    fold_masks(pruned_model)
    return pruned_model.eval(), pruned


MASK_OPTIONS = {"skip_first": False, "mask_classifier": False}   # every BN of the official code


class ANP(Defense):
    name = "anp"
    Config = ANPConfig

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: ANPConfig = self.config
        freeze(ws.model)
        example = ws.adapter.example_input(ws.data)
        options = {**MASK_OPTIONS, "output_layers": ws.adapter.output_layers(ws.model, example)}
        masked = inject_masks(ws.model, example, **options)
        noises = add_noise(ws.model, masked)
        masks = [layer.mask for layer in masked]
        mask_opt = torch.optim.SGD(masks, lr=config.lr, momentum=config.momentum)
        noise_opt = torch.optim.SGD([n.noise for n in noises], lr=config.eps / config.steps)

        def set_noise(enabled: bool) -> None:
            for noise in noises:
                noise.enabled = enabled

        def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            if config.eps > 0:
                with torch.no_grad():   # random start in [−ε, ε]
                    for noise in noises:
                        draw = torch.rand(noise.noise.shape, generator=ws.generator)
                        noise.noise.copy_((2 * draw - 1).to(noise.noise) * config.eps)
                set_noise(True)
                for _ in range(config.steps):
                    noise_opt.zero_grad(set_to_none=True)
                    (-ws.adapter.loss(ws.model, inputs, targets)).backward()
                    for noise in noises:
                        if noise.noise.grad is not None:     # signed-gradient ascent
                            noise.noise.grad = torch.sign(noise.noise.grad)
                    noise_opt.step()
                robust = ws.adapter.loss(ws.model, inputs, targets)
            else:
                robust = torch.zeros((), device=ws.device)
            set_noise(False)
            natural = ws.adapter.loss(ws.model, inputs, targets)
            loss = config.alpha * natural + (1 - config.alpha) * robust
            return descend(loss, mask_opt, after=lambda: clamp_unit(masks))

        ws.model.train(config.bn_mode == "train")
        curve = run_batches(step, ws.data, batch_size=config.batch_size, generator=ws.generator,
                            iterations=config.iterations, desc="ANP",
                            augmentation=ws.adapter.train_augmentation() if config.augment
                            else None, progress=config.progress)
        learned = mask_values(masked)
        purified, pruned = prune_by_threshold(ws.original, example, learned, config.threshold,
                                              ws.device, **options)
        return purified, {
            "masks": learned, "pruned": pruned, "units": sum(m.numel() for m in masks),
            "threshold": config.threshold, "loss_curve": curve, "steps": len(curve)}
