"""Causality-inspired Backdoor Defense (CBD; Zhang et al., CVPR 2023) — a training-time defense.

Backdoor shortcuts are learned first. CBD therefore

1. trains a deliberately backdoored model f_B for ``backdoor_epochs`` (5) epochs on the
   poisoned set, capturing mostly the confounding (backdoor) path; then
2. trains the clean model f_C from the same initialisation with each sample's loss weighted by
   w = L_B / (L_B + L_C) (losses of f_B and f_C on the sample, no gradient; weights renormalised
   to mean 1 per batch): samples f_B fits much better than f_C — the poisoned ones — get small
   weights.

Defaults: official code (github.com/zaixizhang/CBD, train.py / config.py): 5 epochs for f_B,
the weighting above, SGD with momentum 0.9, wd 1e-4, Nesterov, lr 0.1. f_C follows the attack's
``TrainConfig`` (epochs, batch, optimizer, lr schedule and warmup, gradient clipping), f_B uses
its batch size, momentum and weight decay with SGD at a constant lr (also when the TrainConfig
chooses Adam). The official default runs *without* the paper's mutual-information term
(``--disentangle 0``: no WGAN discriminator between the hidden features of f_B and f_C); we
implement that default and leave the discriminator out. Unlike the official code, f_C starts
from the same initial weights as f_B (both copies of the given model).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..training import build_optimizer, build_scheduler
from .base import TrainingTimeDefense, Workspace
from .configs import FinetuneConfig, check_positive
from .finetune import sgd, steps_per_epoch
from .loops import gradient_step, run_batches
from .support import sample_loss_support


@dataclass(frozen=True)
class CBDConfig:
    backdoor_epochs: int = 5
    backdoor_lr: float = 0.1
    epochs: int | None = None      # f_C epochs (None: the TrainConfig's)
    progress: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "backdoor_epochs", "backdoor_lr")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError("CBD epochs must be ≥ 1")


class CBD(TrainingTimeDefense):
    name = "cbd"
    Config = CBDConfig

    def supports(self, adapter: TaskAdapter) -> str | None:
        return sample_loss_support(adapter, "CBD")

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: CBDConfig = self.config
        biased, clean_model = ws.model, copy.deepcopy(ws.model)
        base = FinetuneConfig(
            epochs=config.backdoor_epochs, batch_size=ws.train_config.batch_size,
            lr=config.backdoor_lr, momentum=ws.train_config.momentum,
            weight_decay=ws.train_config.weight_decay, lr_schedule="constant",
            progress=config.progress)
        main = dataclasses.replace(ws.train_config, epochs=config.epochs or ws.train_config.epochs,
                                   progress=config.progress)
        stats = {"n": 0, "sum": torch.zeros((), device=ws.device),
                 "min": torch.full((), float("inf"), device=ws.device),
                 "max": torch.full((), float("-inf"), device=ws.device)}

        def weighted(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            losses = ws.adapter.sample_losses(clean_model, inputs, targets)
            with torch.no_grad():
                biased_losses = ws.adapter.sample_losses(biased, inputs, targets)
                w = biased_losses / (biased_losses + losses.detach() + 1e-8)
                w = w * w.numel() / w.sum().clamp_min(1e-12)
                stats["n"] += w.numel()
                stats["sum"] += w.sum()
                stats["min"] = torch.minimum(stats["min"], w.min())
                stats["max"] = torch.maximum(stats["max"], w.max())
            return (w * losses).mean()

        augmentation = ws.adapter.train_augmentation()
        biased.train()
        biased_curve = run_batches(
            gradient_step(lambda x, y: ws.adapter.loss(biased, x, y), sgd(biased.parameters(),
                                                                      base)),
            ws.data, batch_size=base.batch_size, generator=ws.generator, epochs=base.epochs,
            augmentation=augmentation, desc="CBD backdoored model", progress=base.progress)
        biased.eval()
        optimizer = build_optimizer(clean_model.parameters(), main)
        scheduler = build_scheduler(optimizer, main,
                                    main.epochs * steps_per_epoch(ws.data, main.batch_size))
        clean_model.train()
        curve = run_batches(gradient_step(weighted, optimizer,
                                          max_grad_norm=main.grad_clip or None), ws.data,
                            batch_size=main.batch_size, generator=ws.generator,
                            epochs=main.epochs, augmentation=augmentation,
                            schedulers=[scheduler] if scheduler is not None else [],
                            desc="CBD clean model", progress=main.progress)
        clean_model.eval()
        return clean_model, {
            "backdoored_model_loss_curve": biased_curve, "loss_curve": curve,
            "weight_mean": float(stats["sum"]) / max(1, stats["n"]),
            "weight_min": float(stats["min"]), "weight_max": float(stats["max"])}
