"""Mode Connectivity Repair (MCR; Zhao, Chen, Das, Ramamurthy & Lin, ICLR 2020).

Two end points θ₀ (the backdoored model) and θ₁ (a copy fine-tuned on the clean set) are joined
by a Bézier curve φ(t) = Σᵢ C(n, i) tⁱ (1 − t)ⁿ⁻ⁱ θᵢ whose inner bends (initialised on the
straight line between the ends) are trained on the clean set with t ~ U(0, 1) drawn per batch,
the ends fixed. Along such a curve the clean loss stays low while the backdoor, which the two
ends share only partly, fades; the repaired model is φ(t) at a chosen t, with BatchNorm
statistics re-estimated on the clean set.

The curve is trained through ``torch.nn.utils.parametrize``: every parameter of a working copy
is replaced by φ(t), so the task's own ``adapter.loss`` runs unchanged; the result is a plain
copy of the input model with the parameters of φ(t) (same class and state_dict keys).

Defaults: quadratic Bézier (3 bends) and t = 0.1 (docs/design.md §5; BackdoorBench
``config/defense/mcr``: num_bends 3, test_t 0.1); fine-tuned end point as BackdoorBench's
``ft_*`` (SGD lr 0.01, momentum 0.9, wd 5e-4, cosine, 100 epochs); curve training as the
authors' code (github.com/IBM/model-sanitization, backdoor/backdoor-cifar/train.py): 100 epochs,
SGD lr 0.01 (constant for half the run, then linearly down to 1 % at 90 %), momentum 0.9,
wd 1e-4 (applied to the trainable bends rather than to φ(t)), batch 128.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from math import comb

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..adapter import TaskAdapter
from ..data import TensorData
from .base import Defense, UnsupportedDefenseError, Workspace
from .configs import FinetuneConfig, check_unit_interval
from .finetune import finetune, steps_per_epoch
from .hooks import recalibrate_batchnorm
from .loops import gradient_step, run_batches


@dataclass(frozen=True)
class MCRConfig(FinetuneConfig):
    """FinetuneConfig = the fine-tuned end point; curve_* = the curve training; t = the pick."""

    t: float = 0.1
    num_bends: int = 3
    curve_epochs: int = 100
    curve_lr: float = 0.01
    curve_momentum: float = 0.9
    curve_weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        check_unit_interval(self, "t")
        if self.num_bends < 3:
            raise ValueError(f"MCR num_bends must be ≥ 3 (a curve with a trainable bend), got "
                             f"{self.num_bends}")
        if self.curve_epochs < 1 or self.curve_lr <= 0:
            raise ValueError("MCR needs curve_epochs ≥ 1 and curve_lr > 0")


def bezier(t: float, bends: int) -> list[float]:
    """Bernstein weights of the ``bends`` control points at ``t``."""
    n = bends - 1
    return [comb(n, i) * t ** i * (1 - t) ** (n - i) for i in range(bends)]


class CurvePoint(nn.Module):
    """Parametrization ignoring the stored tensor: Σᵢ cᵢ θᵢ for fixed ends, trainable bends."""

    def __init__(self, start: torch.Tensor, end: torch.Tensor, bends: int,
                 weights: list[float]) -> None:
        super().__init__()
        self.start, self.end = start.detach().clone(), end.detach().clone()
        self.bends = nn.ParameterList(
            nn.Parameter(start.detach() + (end.detach() - start.detach()) * i / (bends - 1))
            for i in range(1, bends - 1))
        self.weights = weights      # shared list, set by the curve before each step

    def forward(self, stored: torch.Tensor) -> torch.Tensor:
        points = [self.start, *self.bends, self.end]
        return sum(w * p for w, p in zip(self.weights, points))


class MCR(Defense):
    name = "mcr"
    Config = MCRConfig

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: MCRConfig = self.config
        end = copy.deepcopy(ws.model)
        end_curve = finetune(end, ws.adapter, ws.data, config, ws.generator, desc="MCR end point")
        curve, points, weights = self._build_curve(ws.model, end)
        curve_losses = self._train_curve(curve, points, weights, ws.adapter, ws.data, ws.generator)
        weights[:] = bezier(config.t, config.num_bends)
        repaired = copy.deepcopy(ws.original).to(ws.device)
        with torch.no_grad():
            for (name, param), point in zip(repaired.named_parameters(), points):
                param.copy_(point(param))
        recalibrated = recalibrate_batchnorm(repaired, ws.adapter, ws.data, config.batch_size)
        return repaired.eval(), {
            "t": config.t, "num_bends": config.num_bends, "batchnorm_recalibrated": recalibrated,
            "end_point_loss_curve": end_curve, "curve_loss_curve": curve_losses}

    def _build_curve(self, start: nn.Module, end: nn.Module
                     ) -> tuple[nn.Module, list[CurvePoint], list[float]]:
        """Parametrize every parameter of (a copy of) ``start`` as a point on the curve;
        ``points`` follow ``named_parameters()`` order of the input model."""
        curve = start
        end_params = dict(end.named_parameters())
        weights = bezier(0.0, self.config.num_bends)
        by_name: dict[str, CurvePoint] = {}
        seen: set[int] = set()
        for module_name, module in list(curve.named_modules()):
            for name, param in list(module._parameters.items()):
                if param is None:
                    continue
                if id(param) in seen:
                    raise UnsupportedDefenseError("MCR cannot put tied (shared) parameters on a "
                                                  "curve")
                seen.add(id(param))
                full = f"{module_name}.{name}" if module_name else name
                point = CurvePoint(param, end_params[full], self.config.num_bends, weights)
                param.requires_grad_(False)
                parametrize.register_parametrization(module, name, point)
                by_name[full] = point
        order = [name for name, _ in end.named_parameters()]
        return curve, [by_name[name] for name in order], weights

    def _train_curve(self, curve: nn.Module, points: list[CurvePoint], weights: list[float],
                     adapter: TaskAdapter, clean: TensorData,
                     generator: torch.Generator) -> list[float]:
        config: MCRConfig = self.config
        bends = [b for point in points for b in point.bends]
        optimizer = torch.optim.SGD(bends, lr=config.curve_lr, momentum=config.curve_momentum,
                                    weight_decay=config.curve_weight_decay)
        total = config.curve_epochs * steps_per_epoch(clean, config.batch_size)

        def factor(step: int) -> float:     # the authors' schedule, per step instead of epoch
            alpha = step / total
            return 1.0 if alpha <= 0.5 else (1.0 - (alpha - 0.5) / 0.4 * 0.99
                                             if alpha <= 0.9 else 0.01)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        inner = gradient_step(lambda x, y: adapter.loss(curve, x, y), optimizer)

        def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            t = float(torch.rand((), generator=generator))
            weights[:] = bezier(t, config.num_bends)
            return inner(inputs, targets)

        augmentation = adapter.train_augmentation() if config.augment else None
        curve.train()
        return run_batches(step, clean, batch_size=config.batch_size, generator=generator,
                           epochs=config.curve_epochs, augmentation=augmentation,
                           schedulers=[scheduler], desc="MCR curve", progress=config.progress)
