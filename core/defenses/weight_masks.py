"""Masks that NFT's ``NeuronMask`` does not cover: one scalar per input unit (FP) or per weight
(AWM), registered as parametrizations and folded like ``NeuronMask``."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..masks import NeuronMask


class InputUnitMask(NeuronMask):
    """One scalar per *input* unit (dim 1) of a Conv/Linear weight: zero = the feature the layer
    reads is pruned (FP). Folds like ``NeuronMask`` (``core.masks.fold_masks``)."""

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (tensor.dim() - 2)
        return tensor * self.mask.view(shape).to(tensor.dtype)


class WeightMask(NeuronMask):
    """One scalar per weight entry (AWM's masks). Folds like ``NeuronMask``."""

    def __init__(self, weight: torch.Tensor, parameter_order: tuple[str, ...] = ()) -> None:
        super().__init__(1, weight.device, weight.dtype, parameter_order)
        self.mask = nn.Parameter(torch.ones_like(weight))

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor * self.mask.to(tensor.dtype)


@torch.no_grad()
def clamp_unit(masks: list[torch.Tensor]) -> None:
    """Clip every mask into [0, 1] in place (ANP, RNP, AWM after each step)."""
    for mask in masks:
        mask.clamp_(0.0, 1.0)


def add_mask(module: nn.Module, mask: NeuronMask, tensor_name: str = "weight") -> NeuronMask:
    """Parametrize ``module.<tensor_name>`` with ``mask`` (removed by ``fold_masks``)."""
    parametrize.register_parametrization(module, tensor_name, mask)
    return mask


def parameter_order(module: nn.Module) -> tuple[str, ...]:
    return tuple(module._parameters)
