"""Adversarial Weight Masking (AWM; Chai & Chen, NeurIPS 2022).

A soft mask M ∈ [0, 1] on every individual weight is trained against a trigger that is
re-synthesised each round, so that the masked model ignores any small universal trigger:

    for each of ``outer`` rounds:
        trigger: a universal additive perturbation Δ (shape of one input), SGD lr 10 maximising
                 L(f_M(x + Δ), f_M(x)) over ``inner`` epochs of clean batches, then scaled into
                 the L1 ball ‖Δ‖₁ ≤ ``trigger_norm``;
        masks:   Adam on α·L(f_M(x), y) + (1 − α)·L(f_M(x + Δ), y) + γ·‖M‖₁ over as many
                 batches, masks clipped to [0, 1];
        lr ×0.9 (exponential decay per round).

The result keeps the soft masks, folded into the weights (w ← w·M).

Masked layers: every Conv/Linear that runs in forward except the adapter's ``output_layers``
(the official models mask all convolutions, ``MaskedConv2d``). Inputs must be continuous
(``adapter.perturbable_inputs``); Δ-perturbed inputs are clamped to ``adapter.input_bounds()``
(the official code clamps in the mask step, not in the trigger search; we clamp in both). The
model's own predictions (``adapter.predicted_targets``) are the trigger search's targets.

Defaults: official code (github.com/jinghuichen/AWM, main.py; docs/design.md §5): Adam 1e-2,
outer 20, inner 5 (epochs' worth of batches, ``int(N / batch) · inner`` draws with
replacement), α 0.9, γ 1e-8, trigger L1 budget 1,000, trigger SGD lr 10, batch 128, model in
eval mode, no augmentation, no shrink steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..masks import fold_masks, trace_layers
from .base import Defense, UnsupportedDefenseError, Workspace
from .configs import check_positive, check_unit_interval
from .finetune import freeze
from .loops import descend, run_batches
from .support import PerturbsInputs, clamp_to
from .weight_masks import WeightMask, add_mask, clamp_unit, parameter_order


@dataclass(frozen=True)
class AWMConfig:
    lr: float = 1e-2              # Adam on the masks (official --lr2)
    lr_decay: float = 0.9         # ExponentialLR per outer round
    outer: int = 20
    inner: int = 5                # epochs' worth of batches per trigger / mask pass
    alpha: float = 0.9            # weight of the clean loss
    gamma: float = 1e-8           # L1 weight on the masks
    trigger_norm: float = 1000.0  # L1 budget of the trigger
    trigger_lr: float = 10.0      # SGD on the trigger
    batch_size: int = 128
    progress: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "lr", "lr_decay", "outer", "inner", "trigger_norm", "trigger_lr",
                       "batch_size")
        check_unit_interval(self, "alpha")
        if self.gamma < 0:
            raise ValueError(f"AWM gamma must be ≥ 0, got {self.gamma}")


class AWM(PerturbsInputs, Defense):
    name = "awm"
    label = "AWM"
    Config = AWMConfig

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: AWMConfig = self.config
        example = ws.adapter.example_input(ws.data)
        outputs = set(ws.adapter.output_layers(ws.model, example))
        modules = dict(ws.model.named_modules())
        names = [n for n in trace_layers(ws.model, example).order if n not in outputs]
        if not names:
            raise UnsupportedDefenseError(f"AWM masks the weights of the Conv/Linear layers "
                                          f"before the output layer; {type(ws.original).__name__} "
                                          f"has none")
        freeze(ws.model).eval()
        masks = [add_mask(modules[n], WeightMask(modules[n].weight,
                                                 parameter_order(modules[n]))).mask
                 for n in names]
        optimizer = torch.optim.Adam(masks, lr=config.lr)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
        bounds = ws.adapter.input_bounds()
        batches = max(1, len(ws.data) // min(config.batch_size, len(ws.data))) * config.inner
        one = ws.data.input_example(1)
        trigger = torch.zeros((1, *one.shape[1:]), device=ws.device, dtype=one.dtype,
                              requires_grad=True)

        def trigger_step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                predicted = ws.adapter.predicted_targets(ws.model, inputs)
            loss = ws.adapter.loss(ws.model, clamp_to(inputs + trigger, bounds), predicted)
            trigger_opt.zero_grad(set_to_none=True)
            (-loss).backward()
            trigger_opt.step()
            return loss.detach()

        def mask_step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            perturbed = clamp_to(inputs + trigger.detach(), bounds)
            loss = (config.alpha * ws.adapter.loss(ws.model, inputs, targets)
                    + (1 - config.alpha) * ws.adapter.loss(ws.model, perturbed, targets)
                    + config.gamma * sum(m.abs().sum() for m in masks))
            return descend(loss, optimizer, after=lambda: clamp_unit(masks))

        trigger_losses: list[float] = []
        mask_losses: list[float] = []
        trigger_norms: list[float] = []
        for _ in range(config.outer):
            with torch.no_grad():
                trigger.zero_()
            trigger_opt = torch.optim.SGD([trigger], lr=config.trigger_lr)
            trigger_losses += run_batches(trigger_step, ws.data, batch_size=config.batch_size,
                                          generator=ws.generator, iterations=batches,
                                          desc="AWM trigger", progress=config.progress)
            with torch.no_grad():
                norm = trigger.abs().sum()
                trigger.mul_(torch.clamp(config.trigger_norm / (norm + 1e-12), max=1.0))
            trigger_norms.append(float(trigger.detach().abs().sum()))
            mask_losses += run_batches(mask_step, ws.data, batch_size=config.batch_size,
                                       generator=ws.generator, iterations=batches,
                                       desc="AWM masks", progress=config.progress)
            scheduler.step()
        values = torch.cat([m.detach().flatten() for m in masks])
        fold_masks(ws.model)
        return ws.model.eval(), {
            "layers": names, "weights": values.numel(),
            "mask_mean": float(values.mean()), "mask_below_half": int((values < 0.5).sum()),
            "trigger_l1": trigger_norms, "trigger_loss_curve": trigger_losses,
            "mask_loss_curve": mask_losses}
