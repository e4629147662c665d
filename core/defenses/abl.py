"""Anti-Backdoor Learning (ABL; Li et al., NeurIPS 2021) — a training-time defense.

Backdoored samples are learned much faster than clean ones. ABL trains on the poisoned set in
three stages, replacing the attack's ordinary training:

1. **Isolation**: ``isolation_epochs`` epochs with the local gradient ascent (LGA) loss
   sign(L − γ)·L (batch mean loss; γ = 0.5), which keeps the clean loss near γ while the
   backdoor loss keeps falling; then the ``isolation_ratio`` (1 %) samples of lowest loss
   (``adapter.sample_losses``, eval mode) are isolated.
2. **Training** on the remaining samples with the attack's ``TrainConfig`` (``finetune_epochs``
   epochs, default the config's own), the task augmentation included.
3. **Unlearning**: ``unlearning_epochs`` epochs of gradient *ascent* on the isolated samples
   (SGD lr 5e-4, momentum 0.9, wd 1e-4, Nesterov, no augmentation).

Defaults: official code (github.com/bboylyg/ABL, config.py, backdoor_isolation.py,
backdoor_unlearning.py; docs/design.md §5 "γ 0.5, isolate 1 %"): LGA, 10 isolation epochs at lr 0.1
(momentum 0.9, wd 1e-4, Nesterov), 5 unlearning epochs at 5e-4. The official isolation script
sorts losses in *descending* order before taking the first 1 %; the paper (and BackdoorBench)
isolate the lowest-loss samples, which we follow. Batch size comes from the TrainConfig.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..data import TensorData
from ..training import fit
from .base import TrainingTimeDefense, Workspace
from .configs import check_positive, check_unit_interval
from .loops import gradient_step, run_batches
from .support import sample_loss_support


@dataclass(frozen=True)
class ABLConfig:
    isolation_epochs: int = 10
    isolation_lr: float = 0.1
    gamma: float = 0.5                 # LGA loss floor γ
    isolation_ratio: float = 0.01      # share of the training set isolated
    finetune_epochs: int | None = None # stage 2 epochs (None: the TrainConfig's epochs)
    unlearning_epochs: int = 5
    unlearning_lr: float = 5e-4
    momentum: float = 0.9
    weight_decay: float = 1e-4
    loss_batch_size: int = 512         # batch of the per-sample loss pass
    progress: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "isolation_epochs", "isolation_lr", "unlearning_epochs",
                       "unlearning_lr", "loss_batch_size")
        check_unit_interval(self, "isolation_ratio")
        if self.isolation_ratio == 0:
            raise ValueError("ABL isolation_ratio must be > 0")
        if self.gamma < 0:
            raise ValueError(f"ABL gamma must be ≥ 0, got {self.gamma}")
        if self.finetune_epochs is not None and self.finetune_epochs < 0:
            raise ValueError("ABL finetune_epochs must be ≥ 0")


@torch.no_grad()
def sample_losses(adapter: TaskAdapter, model: nn.Module, data: TensorData,
                  batch_size: int) -> torch.Tensor:
    """Per-sample task loss of every sample (eval mode), on the CPU."""
    model.eval()
    return torch.cat([adapter.sample_losses(model, x, y).float().cpu()
                      for x, y in data.batches(batch_size)])


class ABL(TrainingTimeDefense):
    name = "abl"
    Config = ABLConfig

    def supports(self, adapter: TaskAdapter) -> str | None:
        return sample_loss_support(adapter, "ABL")

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: ABLConfig = self.config
        batch = ws.train_config.batch_size

        def optimizer(lr: float) -> torch.optim.SGD:
            return torch.optim.SGD(ws.model.parameters(), lr=lr, momentum=config.momentum,
                                   weight_decay=config.weight_decay, nesterov=True)

        def lga(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            loss = ws.adapter.loss(ws.model, inputs, targets)
            return torch.sign(loss - config.gamma) * loss

        ws.model.train()
        augmentation = ws.adapter.train_augmentation()
        isolation_curve = run_batches(
            gradient_step(lga, optimizer(config.isolation_lr)), ws.data, batch_size=batch,
            generator=ws.generator, epochs=config.isolation_epochs, augmentation=augmentation,
            desc="ABL isolation", progress=config.progress)
        losses = sample_losses(ws.adapter, ws.model, ws.data, config.loss_batch_size)
        count = max(1, int(len(ws.data) * config.isolation_ratio))
        isolated = torch.sort(torch.argsort(losses)[:count]).values
        rest = torch.ones(len(ws.data), dtype=torch.bool)
        rest[isolated] = False
        epochs = ws.train_config.epochs if config.finetune_epochs is None \
            else config.finetune_epochs
        train_info: dict = {}
        if epochs > 0:
            stage2 = dataclasses.replace(ws.train_config, epochs=epochs)
            train_info = fit(ws.model, ws.adapter, ws.data.subset(torch.nonzero(rest).flatten()),
                             stage2, ws.device, ws.seed + 1)
        ws.model.train()
        unlearning_curve = run_batches(
            gradient_step(lambda x, y: ws.adapter.loss(ws.model, x, y),
                          optimizer(config.unlearning_lr), ascent=True),
            ws.data.subset(isolated), batch_size=batch, generator=ws.generator,
            epochs=config.unlearning_epochs, desc="ABL unlearning",
            progress=config.progress)
        ws.model.eval()
        return ws.model, {
            "isolated_indices": isolated.tolist(), "isolated": count,
            "isolation_loss_curve": isolation_curve,
            "train_loss_curve": train_info.get("loss_curve", []),
            "unlearning_loss_curve": unlearning_curve}
