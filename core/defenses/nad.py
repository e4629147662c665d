"""Neural Attention Distillation (NAD; Li et al., ICLR 2021).

1. **Teacher**: a copy of the backdoored model fine-tuned on the clean set
   (``teacher_epochs`` 10, lr 0.01, as BackdoorBench's ``te_epochs`` / ``lr``).
2. **Student**: the backdoored model trained on the clean set with the task loss plus, for the
   deepest feature layers, β_l · MSE(A(s_l), A(t_l)) between attention maps
   A(a) = Σ_c |a_c|^p / ‖Σ_c |a_c|^p‖₂ (sum over channels, L2-normalised over positions) of
   student and (frozen, eval-mode) teacher.

Feature layers come from the adapter (``feature_layers``: outputs laid out (N, C, *positions);
ResNet stages for ResNets, conv/BN outputs by default); the deepest ``len(betas)`` are used, or
``layers`` when given. A model without such feature maps (an MLP) cannot be distilled this way
and raises ``UnsupportedDefenseError``.

Defaults: BackdoorBench ``config/defense/nad`` (docs/design.md §5 "β 500–1,000, p 2"): β = (500, 1000,
1000) for the three deepest maps, p = 2, teacher 10 epochs at lr 0.01, student 100 epochs, SGD
lr 0.01, momentum 0.9, wd 1e-4, cosine; batch 128 as the other defenses. The official code
(github.com/bboylyg/NAD, config.py) uses β = (0, 0, 5000), 20 epochs at lr 0.1 → 0.01 after 2,
Nesterov, batch 64: on a small clean set that lr let the AT term blow up and destroyed clean
accuracy in our runs (synthetic task, 100 clean samples: ACC 97 % → 9 %), so we keep
BackdoorBench's schedule, whose β the design cites.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..adapter import TaskAdapter
from ..data import TensorData
from .base import Defense, UnsupportedDefenseError, Workspace
from .configs import FinetuneConfig
from .finetune import finetune, freeze
from .hooks import recording


@dataclass(frozen=True)
class NADConfig(FinetuneConfig):
    """FinetuneConfig = the student's training, plus the teacher and the attention terms."""

    weight_decay: float = 1e-4
    teacher_epochs: int = 10
    teacher_lr: float = 0.01
    betas: tuple[float, ...] = (500.0, 1000.0, 1000.0)   # shallow → deep
    p: float = 2.0
    layers: tuple[str, ...] = ()          # explicit feature layers (as many as betas)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.teacher_epochs < 1 or self.teacher_lr <= 0 or self.p <= 0:
            raise ValueError("NAD needs teacher_epochs ≥ 1, teacher_lr > 0 and p > 0")
        if not self.betas or any(b < 0 for b in self.betas):
            raise ValueError(f"NAD betas must be a non-empty list of values ≥ 0, got {self.betas}")
        if self.layers and len(self.layers) != len(self.betas):
            raise ValueError(f"NAD got {len(self.layers)} layers for {len(self.betas)} betas")


def attention_map(features: torch.Tensor, p: float) -> torch.Tensor:
    """Σ over channels of |a|^p, flattened over positions and L2-normalised (NAD's ``AT``)."""
    if features.dim() < 3:
        raise UnsupportedDefenseError(
            f"NAD needs feature maps with position axes (N, C, ...), got shape "
            f"{tuple(features.shape)}")
    maps = features.float().abs().pow(p).sum(dim=1).flatten(1)
    return maps / (maps.norm(dim=1, keepdim=True) + 1e-6)


class NAD(Defense):
    name = "nad"
    Config = NADConfig

    def supports(self, adapter: TaskAdapter) -> str | None:
        if not adapter.feature_maps and not self.config.layers:
            return (f"NAD distils attention maps of (N, C, *positions) feature maps, and "
                    f"{type(adapter).__name__}'s models have none (feature_maps is False)")
        return None

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: NADConfig = self.config
        layers = list(config.layers) or self._deepest(ws.adapter, ws.model, ws.data)
        teacher_config = FinetuneConfig(
            epochs=config.teacher_epochs, batch_size=config.batch_size, lr=config.teacher_lr,
            momentum=config.momentum, weight_decay=config.weight_decay, nesterov=config.nesterov,
            lr_schedule="cosine", augment=config.augment, progress=config.progress)
        teacher = copy.deepcopy(ws.model)
        teacher_curve = finetune(teacher, ws.adapter, ws.data, teacher_config, ws.generator,
                                 desc="NAD teacher")
        freeze(teacher).eval()
        with recording(ws.model, layers) as student_maps, \
                recording(teacher, layers) as teacher_maps:
            def loss_fn(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
                loss = ws.adapter.loss(ws.model, inputs, targets)
                with torch.no_grad():
                    ws.adapter.loss(teacher, inputs, targets)   # the task's own forward
                for beta, name in zip(config.betas, layers):
                    loss = loss + beta * F.mse_loss(
                        attention_map(student_maps[name], config.p),
                        attention_map(teacher_maps[name], config.p))
                return loss

            curve = finetune(ws.model, ws.adapter, ws.data, config, ws.generator, loss_fn=loss_fn,
                             desc="NAD student")
        return ws.model, {
            "layers": layers, "betas": list(config.betas), "teacher_loss_curve": teacher_curve,
            "loss_curve": curve, "steps": len(curve)}

    def _deepest(self, adapter: TaskAdapter, model: nn.Module, clean: TensorData) -> list[str]:
        available = adapter.feature_layers(model, adapter.example_input(clean))
        wanted = len(self.config.betas)
        if len(available) < wanted:
            raise UnsupportedDefenseError(
                f"NAD distils attention maps of {wanted} feature layers, but "
                f"{type(adapter).__name__}.feature_layers finds {len(available)} in "
                f"{type(model).__name__} ({available}); pass fewer betas or explicit layers")
        return available[-wanted:]
