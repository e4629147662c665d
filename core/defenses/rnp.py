"""Reconstructive Neuron Pruning (RNP; Li et al., ICML 2023).

An asymmetric unlearn-then-recover procedure exposes the backdoor neurons:

1. **Unlearn**: gradient *ascent* on the clean loss over the weights (SGD lr 0.01, momentum 0.9,
   wd 5e-4, lr ×0.1 at epochs 10 and 20) until the clean accuracy falls to ``clean_threshold``
   (0.2) or ``unlearning_epochs`` (20) pass. Clean features are destroyed first; the backdoor
   features survive.
2. **Recover**: on the unlearned model, learn one mask m ∈ [0, 1] per neuron (weights frozen)
   by minimising ``loss_scale``·L on the clean set (mask SGD lr 0.2, momentum 0.9, 20 epochs).
   The masks restore the clean neurons; the backdoor neurons stay low.
3. **Prune** the *original* model: neurons with m ≤ ``threshold`` (0.2) are zeroed.

Neurons, mask targets and the pruning step are ANP's (``core.defenses.anp``): every Conv/Linear
output unit except the output layer's, through the following BatchNorm's γ where there is one
(the official ``MaskBatchNorm2d`` masks γ only).

Defaults: official code (github.com/bboylyg/RNP, main.py; docs/design.md §5). Two deliberate
differences, both noted in the config: the stop test uses the adapter's clean metric on the
clean set after each epoch (eval mode) rather than the running train-mode accuracy of the epoch,
and ``max_grad_norm`` is off because the official ``clip_grad_norm_(…, 20)`` is called before
``backward`` and so never clips anything.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..data import TensorData
from ..masks import inject_masks, mask_values
from .anp import MASK_OPTIONS, prune_by_threshold
from .base import Defense, Workspace
from .configs import check_positive, check_unit_interval
from .finetune import freeze
from .loops import gradient_step, run_batches
from .weight_masks import clamp_unit
from .support import clean_score


@dataclass(frozen=True)
class RNPConfig:
    unlearning_lr: float = 0.01
    unlearning_epochs: int = 20
    unlearning_milestones: tuple[int, ...] = (10, 20)   # lr ×0.1 at these epochs
    momentum: float = 0.9
    weight_decay: float = 5e-4
    clean_threshold: float = 0.2   # stop unlearning once the clean accuracy (fraction) is ≤ this
    max_grad_norm: float | None = None   # official intent 20, but its clipping is a no-op
    recovering_lr: float = 0.2
    recovering_epochs: int = 20
    loss_scale: float = 0.2        # the official ``--alpha``: scales the recovery loss
    threshold: float = 0.2         # prune neurons whose recovered mask is ≤ threshold
    batch_size: int = 128
    augment: bool = True           # task augmentation on the clean set
    progress: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "unlearning_lr", "unlearning_epochs", "recovering_lr",
                       "recovering_epochs", "batch_size", "loss_scale")
        check_unit_interval(self, "clean_threshold", "threshold")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"RNP max_grad_norm must be > 0 or None, got {self.max_grad_norm}")


class RNP(Defense):
    name = "rnp"
    Config = RNPConfig

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: RNPConfig = self.config
        example = ws.adapter.example_input(ws.data)
        augmentation = ws.adapter.train_augmentation() if config.augment else None
        unlearn_curve, acc_curve = self._unlearn(ws.model, ws.adapter, ws.data, augmentation,
                                                 ws.generator, ws.device)
        freeze(ws.model)
        options = {**MASK_OPTIONS, "output_layers": ws.adapter.output_layers(ws.model, example)}
        masked = inject_masks(ws.model, example, **options)
        masks = [layer.mask for layer in masked]
        optimizer = torch.optim.SGD(masks, lr=config.recovering_lr, momentum=config.momentum)

        step = gradient_step(lambda x, y: config.loss_scale * ws.adapter.loss(ws.model, x, y),
                             optimizer, after=lambda: clamp_unit(masks))
        ws.model.train()
        recover_curve = run_batches(step, ws.data, batch_size=config.batch_size,
                                    generator=ws.generator, epochs=config.recovering_epochs,
                                    augmentation=augmentation, desc="RNP recover",
                                    progress=config.progress)
        learned = mask_values(masked)
        purified, pruned = prune_by_threshold(ws.original, example, learned, config.threshold,
                                              ws.device, **options)
        return purified, {
            "masks": learned, "pruned": pruned, "units": sum(m.numel() for m in masks),
            "threshold": config.threshold, "unlearning_epochs": len(acc_curve),
            "unlearning_acc_curve": acc_curve,
            "unlearning_loss_curve": unlearn_curve, "recovering_loss_curve": recover_curve}

    def _unlearn(self, work: nn.Module, adapter: TaskAdapter, clean: TensorData,
                 augmentation: object, generator: torch.Generator,
                 device: torch.device) -> tuple[list[float], list[float]]:
        """Gradient ascent, one epoch at a time, until the clean accuracy reaches the threshold."""
        config: RNPConfig = self.config
        optimizer = torch.optim.SGD(work.parameters(), lr=config.unlearning_lr,
                                    momentum=config.momentum, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, list(config.unlearning_milestones), 0.1)
        step = gradient_step(lambda x, y: adapter.loss(work, x, y), optimizer, ascent=True,
                             max_grad_norm=config.max_grad_norm)
        losses: list[float] = []
        accs: list[float] = []
        for _ in range(config.unlearning_epochs):
            work.train()
            losses += run_batches(step, clean, batch_size=config.batch_size, generator=generator,
                                  augmentation=augmentation, desc="RNP unlearn",
                                  progress=config.progress)
            scheduler.step()
            accs.append(clean_score(adapter, work, clean, device) / 100.0)
            if accs[-1] <= config.clean_threshold:
                break
        return losses, accs
