"""Weight fine-tuning on the clean set: the SGD optimiser, the learning-rate schedule of a
``FinetuneConfig`` and the fine-tuning loop that FT, FP, NAD and MCR run."""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..augment import Augmentation, bind_augmentation
from ..data import TensorData
from .configs import FinetuneConfig
from .loops import LossFn, gradient_step, run_batches


def sgd(params: Iterable[torch.Tensor], config: FinetuneConfig) -> torch.optim.SGD:
    return torch.optim.SGD(list(params), lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay,
                           nesterov=config.nesterov and config.momentum > 0)


def lr_scheduler(optimizer: torch.optim.Optimizer, config: FinetuneConfig,
                 steps_per_epoch: int) -> Any:
    """The per-batch scheduler of ``config.lr_schedule`` (None for constant)."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, config.epochs * steps_per_epoch))
    if config.lr_schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, [m * steps_per_epoch for m in config.lr_milestones], config.lr_gamma)
    return None


def steps_per_epoch(data: TensorData, batch_size: int) -> int:
    return max(1, len(data) // min(batch_size, len(data)))


def finetune(model: nn.Module, adapter: TaskAdapter, data: TensorData, config: FinetuneConfig,
             generator: torch.Generator, *, loss_fn: LossFn | None = None,
             params: Iterable[torch.Tensor] | None = None,
             augmentation: Augmentation | None = None, desc: str = "fine-tune") -> list[float]:
    """Train ``model`` in place (train mode) on ``data`` with ``config``; ``loss_fn`` defaults
    to the task loss, ``params`` to every trainable parameter, ``augmentation`` to the task's
    light augmentation when ``config.augment``. Returns the loss curve; leaves eval mode."""
    loss_fn = loss_fn or (lambda x, y: adapter.loss(model, x, y))
    if augmentation is None and config.augment:
        augmentation = adapter.train_augmentation()
    if augmentation is not None:
        bind_augmentation(augmentation, model, loss_fn)
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    optimizer = sgd(params, config)
    scheduler = lr_scheduler(optimizer, config, steps_per_epoch(data, config.batch_size))
    model.train()
    curve = run_batches(gradient_step(loss_fn, optimizer), data, batch_size=config.batch_size,
                        epochs=config.epochs, generator=generator, augmentation=augmentation,
                        schedulers=[scheduler] if scheduler is not None else [], desc=desc,
                        progress=config.progress)
    model.eval()
    return curve


def freeze(model: nn.Module) -> nn.Module:
    for param in model.parameters():
        param.requires_grad_(False)
    return model
