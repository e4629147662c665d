"""Supervised training on tensor data (used to implant backdoors and by weight-tuning defenses).

The data stay on the device; each step indexes a batch, applies the task's batched augmentation
and the task loss. SGD + momentum + weight decay with a cosine or constant learning rate;
bfloat16 autocast and channels_last are options for CUDA.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from .adapter import TaskAdapter
from .augment import Augmentation, bind_augmentation
from .data import TensorData
from .purify import batch_indices
from .seeding import make_generator, seed_everything


@dataclass(frozen=True)
class TrainConfig:
    """Defaults: paper supp. Table 1 (SGD 0.05 / momentum 0.9 / wd 5e-4 / batch 128)."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    amp: bool = False            # bfloat16 autocast (CUDA only; ignored on CPU)
    channels_last: bool = False  # 4-D inputs in channels_last memory format (CUDA)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"need epochs ≥ 1, batch_size ≥ 1 and lr > 0, got {self}")


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
    params = parameters if parameters is not None else [p for p in model.parameters()
                                                         if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=False)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(steps))
                 if config.lr_schedule == "cosine" else None)
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
