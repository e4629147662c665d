"""FT-SAM (Zhu, Wei, Zha & Wu, ICCV 2023): fine-tuning with sharpness-aware minimisation.

Backdoor neurons sit where the loss is sharp along their weights; SAM with a *large* radius
ρ = 2 moves exactly those weights while plain fine-tuning leaves them alone. Each step:

    ε = ρ · T_w² ∇L / ‖T_w ∇L‖   (T_w = |w| for adaptive SAM, ASAM; 1 for plain SAM)
    w ← w − lr · SGD-step(∇L(w + ε))

on the clean set with label smoothing 0.1 and the task augmentation.

Defaults: BackdoorBench ``defense/ft-sam.py`` and ``config/defense/ft-sam`` (the authors'
reference implementation; docs/design.md §5): ρ 2.0 (ρ_max = ρ_min), adaptive SAM on (its ``--adaptive``
flag defaults to True), label smoothing 0.1, SGD lr 0.01, momentum 0.9, wd 5e-4, cosine, 100
epochs. Label smoothing needs class-index targets and ``adapter.num_classes``; set it to 0 for
other tasks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..augment import Compose, to_soft
from ..purify import frozen_batchnorm_stats, sam_epsilon
from .base import Defense, UnsupportedDefenseError, Workspace
from .configs import FinetuneConfig, check_unit_interval
from .finetune import lr_scheduler, sgd, steps_per_epoch
from .loops import run_batches


@dataclass(frozen=True)
class FTSAMConfig(FinetuneConfig):
    """FinetuneConfig (BackdoorBench ft-sam: lr 0.01, momentum 0.9, wd 5e-4, cosine, 100
    epochs) plus the SAM radius, ASAM switch and label smoothing."""

    rho: float = 2.0
    adaptive: bool = True
    label_smoothing: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rho < 0:
            raise ValueError(f"FT-SAM rho must be ≥ 0, got {self.rho}")
        check_unit_interval(self, "label_smoothing")


class LabelSmoothing:
    """Augmentation step: class indices -> smoothed probability rows (1 − s on the true class,
    s / (C − 1) elsewhere, as the reference implementation's ``smooth_crossentropy``)."""

    def __init__(self, num_classes: int, smoothing: float) -> None:
        self.num_classes, self.smoothing = num_classes, smoothing

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        soft = to_soft(targets, self.num_classes).to(inputs.device)
        off = self.smoothing / (self.num_classes - 1)
        return inputs, soft * (1.0 - self.smoothing - off) + off


class FTSAM(Defense):
    name = "ftsam"
    Config = FTSAMConfig

    def supports(self, adapter: TaskAdapter) -> str | None:
        if self.config.label_smoothing > 0 and not adapter.single_label:
            return (f"FT-SAM's label smoothing needs one classification head with class-index "
                    f"targets, and {type(adapter).__name__} is not single_label; set "
                    f"defense_options.ftsam.label_smoothing=0 to run it without")
        return None

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: FTSAMConfig = self.config
        steps = [ws.adapter.train_augmentation()] if config.augment else []
        if config.label_smoothing > 0:
            hard = not ws.data.targets.is_floating_point() and ws.data.targets.dim() == 1
            if not hard or not getattr(ws.adapter, "num_classes", None):
                raise UnsupportedDefenseError(
                    "FT-SAM label smoothing needs class-index targets and ws.adapter.num_classes; "
                    "set label_smoothing=0 for this task")
            steps.append(LabelSmoothing(ws.adapter.num_classes, config.label_smoothing))
        params = [p for p in ws.model.parameters() if p.requires_grad]
        optimizer = sgd(params, config)
        scheduler = lr_scheduler(optimizer, config, steps_per_epoch(ws.data, config.batch_size))

        def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            loss = ws.adapter.loss(ws.model, inputs, targets)
            grads = torch.autograd.grad(loss, params)
            shifts = sam_epsilon(params, list(grads), config.rho, config.adaptive)
            with torch.no_grad():
                for p, e in zip(params, shifts):
                    p.add_(e)
            optimizer.zero_grad(set_to_none=True)
            with frozen_batchnorm_stats(ws.model):     # the running statistics see each batch once
                ws.adapter.loss(ws.model, inputs, targets).backward()
            with torch.no_grad():
                for p, e in zip(params, shifts):
                    p.sub_(e)
            optimizer.step()
            return loss.detach()

        ws.model.train()
        curve = run_batches(step, ws.data, batch_size=config.batch_size, generator=ws.generator,
                            epochs=config.epochs, augmentation=Compose(*steps),
                            schedulers=[scheduler] if scheduler is not None else [],
                            desc="FT-SAM", progress=config.progress)
        ws.model.eval()
        return ws.model, {"loss_curve": curve, "steps": len(curve)}
