"""What a defense needs of a task, asked before anything trains (the reasons quote the adapter's
own words), the clean metric some defenses steer by, and input clamping to the task's bounds."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..data import TensorData
from .base import UnsupportedDefenseError


def clean_score(adapter: TaskAdapter, model: nn.Module, data: TensorData,
                device: torch.device) -> float:
    """The adapter's primary clean metric (percent) of ``model`` on ``data``."""
    metrics = adapter.evaluate(model, data, None, device)
    if adapter.primary_metric not in metrics:
        raise UnsupportedDefenseError(
            f"{type(adapter).__name__}.evaluate returns no {adapter.primary_metric!r} "
            f"(its primary_metric); got {sorted(metrics)}")
    return float(metrics[adapter.primary_metric])


def require_perturbable(adapter: TaskAdapter, data: TensorData, defense: str) -> None:
    if not adapter.perturbable_inputs(data):
        own = None if adapter.continuous_inputs else adapter.capability_reason("continuous_inputs")
        reason = own or (f"{type(adapter).__name__} inputs are not continuous "
                         f"(perturbable_inputs() is False)")
        raise UnsupportedDefenseError(
            f"{defense} optimises an additive perturbation of the inputs, but {reason}")


def perturbation_support(adapter: TaskAdapter, defense: str) -> str | None:
    """Why ``defense`` (a trigger search over additive input perturbations against the model's
    own predictions: I-BAU, AWM) cannot serve ``adapter``, or None."""
    if not adapter.continuous_inputs:
        reason = (adapter.capability_reason("continuous_inputs") or f"{type(adapter).__name__} "
                  f"inputs are not continuous (continuous_inputs is False)")
        return f"{defense} adds a gradient-found perturbation to the inputs, but {reason}"
    if not adapter.can_predict_targets():
        return (f"{defense} searches its trigger against the model's own predictions, but "
                f"{type(adapter).__name__} is not single-label classification and implements "
                f"no predicted_targets")
    return None


def sample_loss_support(adapter: TaskAdapter, defense: str) -> str | None:
    """Why ``defense`` (which weighs or ranks training samples by their own loss: ABL, CBD)
    cannot serve ``adapter``, or None."""
    if not adapter.implements("sample_losses"):
        return (f"{defense} ranks or weighs samples by their own loss, but "
                f"{type(adapter).__name__} implements no sample_losses (per-sample losses)")
    return None


class PerturbsInputs:
    """Mixin of the defenses that search an additive input perturbation against the model's own
    predictions (I-BAU, AWM): they declare it by ``label`` and refuse, before training, tasks
    whose inputs cannot be perturbed or whose targets cannot be predicted."""

    label: str

    def supports(self, adapter: TaskAdapter) -> str | None:
        return perturbation_support(adapter, self.label)

    def check(self, adapter: TaskAdapter, data: TensorData) -> None:
        require_perturbable(adapter, data, self.label)


def clamp_to(inputs: torch.Tensor, bounds: tuple[Any, Any] | None) -> torch.Tensor:
    """Clamp ``inputs`` into the adapter's ``input_bounds()`` (no-op for None)."""
    if bounds is None:
        return inputs
    low, high = (torch.as_tensor(b, dtype=inputs.dtype, device=inputs.device) for b in bounds)
    return torch.maximum(torch.minimum(inputs, high), low)
