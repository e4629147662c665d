"""Supervised training on tensor data (used to implant backdoors and by weight-tuning defenses).

The data stay on the device; each step indexes a batch, applies the task's batched augmentation
and the task loss. SGD + momentum + weight decay (the default, paper supp. Table 1), or Adam /
AdamW; a cosine or constant learning rate, optionally after a linear warmup; optional clipping
of the gradients' global norm. bfloat16 autocast and channels_last are options for CUDA.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterable, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from .adapter import TaskAdapter
from .augment import Augmentation, bind_augmentation
from .data import TensorData
from .purify import batch_indices
from .seeding import make_generator, seed_everything


OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")
LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """Defaults: paper supp. Table 1 (SGD 0.05 / momentum 0.9 / wd 5e-4 / batch 128).

    ``optimizer``: ``sgd`` (momentum, no Nesterov; ``weight_decay`` is an L2 term), ``adam``
    (``weight_decay`` an L2 term) or ``adamw`` (decoupled ``weight_decay``); Adam and AdamW use
    PyTorch's betas (0.9, 0.999) and eps 1e-8, and ignore ``momentum``.
    ``grad_clip``: before each step the gradients of the trained parameters are rescaled to a
    global L2 norm of at most this (0 = off). ``warmup_steps``: the learning rate rises linearly,
    ``lr·k/warmup_steps`` at step k = 1..warmup_steps, then follows ``lr_schedule`` from ``lr``
    over the remaining steps (0 = off; a warmup longer than the run just stops early).
    """

    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    grad_clip: float = 0.0       # max global gradient norm; 0 = no clipping
    warmup_steps: int = 0        # linear warmup steps before lr_schedule; 0 = none
    amp: bool = False            # bfloat16 autocast (CUDA only; ignored on CPU)
    channels_last: bool = False  # 4-D inputs in channels_last memory format (CUDA)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"need epochs ≥ 1, batch_size ≥ 1 and lr > 0, got {self}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of "
                             f"{', '.join(OPTIMIZERS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; choose one of "
                             f"{', '.join(LR_SCHEDULES)}")
        for name in ("momentum", "weight_decay", "grad_clip", "warmup_steps"):
            value = getattr(self, name)
            if not value >= 0:   # also rejects NaN
                raise ValueError(f"TrainConfig.{name} must be ≥ 0, got {value}")


def build_optimizer(params: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` over ``params`` at ``config.lr``."""
    params = list(params)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=False)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
                    total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-step scheduler for a run of ``total_steps`` steps (None: constant lr, no warmup).

    Without warmup this is ``CosineAnnealingLR(T_max=total_steps)`` or nothing, as before the
    warmup option existed; with warmup, one ``LambdaLR`` of the closed forms of both phases.
    """
    warmup = config.warmup_steps
    if warmup == 0:
        if config.lr_schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        return None
    decay_steps = max(1, total_steps - warmup)
    cosine = config.lr_schedule == "cosine"

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if not cosine:
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, decay_steps) / decay_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fit(model: nn.Module, adapter: TaskAdapter, data: TensorData, config: TrainConfig,
        device: torch.device | str, seed: int = 0,
        augmentation: Augmentation | None = None,
        parameters: list[nn.Parameter] | None = None) -> dict:
    """Train ``model`` in place on ``data``; returns ``{"loss_curve", "wall_time_s", "steps"}``."""
    device = torch.device(device)
    augmentation = augmentation or adapter.train_augmentation()
    model.to(device)
    use_cl = config.channels_last and device.type == "cuda"
    if use_cl:
        model.to(memory_format=torch.channels_last)
    data = data.to(device)
    if len(data) < config.batch_size:
        raise ValueError(f"training set has {len(data)} samples, fewer than one batch of "
                         f"{config.batch_size}")
    generator = make_generator(seed)
    steps = batch_indices(len(data), config.batch_size, config.epochs, None, generator).to(device)
    params = list(parameters) if parameters is not None else [p for p in model.parameters()
                                                               if p.requires_grad]
    optimizer = build_optimizer(params, config)
    scheduler = build_scheduler(optimizer, config, len(steps))
    amp = config.amp and device.type == "cuda"
    losses = torch.zeros(len(steps), device=device)
    bind_augmentation(augmentation, model, lambda x, y: adapter.loss(model, x, y))
    model.train()
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        seed_everything(seed)
        for step, index in enumerate(tqdm(steps, desc="train", unit="step",
                                          disable=not config.progress, leave=False)):
            inputs, targets = augmentation(data.inputs[index], data.targets[index], generator)
            if use_cl and inputs.dim() == 4:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = adapter.loss(model, inputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses[step] = loss.detach()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    model.eval()
    curve = losses.cpu()
    if not torch.isfinite(curve).all():
        raise FloatingPointError("training loss became non-finite; lower the learning rate")
    return {"loss_curve": curve.tolist(), "wall_time_s": time.perf_counter() - start,
            "steps": len(steps)}
