"""NFT's neuron masks as one flat vector: one optimiser tensor, one clamp, one L1 term.

The layers and mask targets are ``core.masks``'s (``select_layers``): a Conv/Linear followed
directly by a norm is masked through the norm's γ, any other through its weight rows. Each
masked layer reads its slice ``vector[start:stop]``. Two ways to apply a slice:

* a parametrization ``tensor * m`` of the target's weight (norm γ, Linear weight rows), as
  ``core.masks.NeuronMask`` does;
* for a **convolution masked through its weight rows** (typically a conv feeding a residual
  sum), a forward hook that scales the conv's *output channels* instead:
  ``conv(x, W) · m + b · (1 − m)``, which equals ``conv(x, W · m) + b`` (``+ b · m`` with
  ``mask_bias``). The mask's gradient then needs only the layer's output, not a full weight
  gradient ``∂L/∂W`` (the frozen weights need none): the step costs what a norm-masked layer
  costs. ``fold`` multiplies the weight rows by the mask in place at the end, so the folded
  model is the same class with the same ``state_dict`` keys either way.

The per-unit lower bound μ(l) of every unit is precomputed once (``lower_bounds``), so the
clamp after each optimiser step is one ``maximum`` + one ``clamp`` over the whole vector.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from .masks import MaskedLayer, fold_masks, select_layers
from .schedules import MuSchedule

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class SliceMask(nn.Module):
    """Parametrization ``tensor -> tensor * vector[start:stop]`` (one scalar per row)."""

    def __init__(self, vector: torch.Tensor, start: int, stop: int,
                 parameter_order: tuple[str, ...]) -> None:
        super().__init__()
        self.source = (vector,)          # a tuple: the vector is not registered in the model
        self.start, self.stop = start, stop
        self.parameter_order = parameter_order

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        mask = self.source[0][self.start:self.stop]
        return tensor * mask.view((-1,) + (1,) * (tensor.dim() - 1)).to(tensor.dtype)


class OutputScale:
    """Forward hook of a convolution: output channel ``i`` × ``vector[start + i]``, the bias
    kept (or scaled too with ``mask_bias``)."""

    def __init__(self, vector: torch.Tensor, start: int, stop: int, scale_bias: bool) -> None:
        self.vector, self.start, self.stop, self.scale_bias = vector, start, stop, scale_bias

    def mask(self) -> torch.Tensor:
        return self.vector[self.start:self.stop]

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (output.dim() - 2)
        mask = self.mask().view(shape).to(output.dtype)
        scaled = output * mask
        if module.bias is not None and not self.scale_bias:
            scaled = scaled + module.bias.view(shape).to(output.dtype) * (1 - mask)
        return scaled


@dataclass
class FlatMasks:
    vector: nn.Parameter                 # every mask, layer after layer, initialised to 1
    layers: list[MaskedLayer]            # ``mask`` of each is its slice (a view) of ``vector``
    hooks: list[tuple[nn.Module, Any, OutputScale]] = field(default_factory=list)

    def lower_bounds(self, schedule: MuSchedule) -> torch.Tensor:
        """μ(depth) of every entry of ``vector`` (same device and dtype)."""
        bounds = [schedule(layer.depth, len(self.layers)) for layer in self.layers]
        sizes = torch.tensor([layer.num_units for layer in self.layers])
        values = torch.tensor(bounds, dtype=self.vector.dtype).repeat_interleave(sizes)
        return values.to(self.vector.device)

    @torch.no_grad()
    def clamp_(self, lower: torch.Tensor) -> None:
        """Every mask into [μ(l), 1], in place."""
        torch.maximum(self.vector, lower, out=self.vector)
        self.vector.clamp_(max=1.0)

    def l1(self, reference: float = 1.0) -> torch.Tensor:
        """Σ |m − reference| over all masks."""
        return (self.vector - reference).abs().sum()

    def values(self) -> dict[str, list[float]]:
        flat = self.vector.detach().cpu()
        out, start = {}, 0
        for layer in self.layers:
            out[layer.name] = flat[start:start + layer.num_units].tolist()
            start += layer.num_units
        return out

    @torch.no_grad()
    def fold(self, model: nn.Module) -> nn.Module:
        """Bake every mask into the weights (output scales into weight rows, in place) and
        remove the hooks and parametrizations: the input model's class and keys."""
        for module, handle, scale in self.hooks:
            handle.remove()
            shape = (-1,) + (1,) * (module.weight.dim() - 1)
            module.weight.mul_(scale.mask().view(shape).to(module.weight.dtype))
            if scale.scale_bias and module.bias is not None:
                module.bias.mul_(scale.mask().to(module.bias.dtype))
        self.hooks = []
        return fold_masks(model)


def inject_flat_masks(model: nn.Module, example_input: Any, *, mask_classifier: bool = False,
                      mask_bias: bool = False, skip_first: bool = True,
                      exclude: tuple[str, ...] = (),
                      output_layers: list[str] | tuple[str, ...] | None = None,
                      scale_conv_outputs: bool = True, via_norm: bool = True) -> FlatMasks:
    """Mask ``model`` in place (the layers of ``core.masks.inject_masks``) with one flat vector.

    ``scale_conv_outputs``: weight-row-masked convolutions scale their output channels instead
    (a hook; see the module docstring); their ``via`` is ``"output"``. ``via_norm``: see
    ``core.masks.select_layers``."""
    modules = dict(model.named_modules())
    chosen = select_layers(model, example_input, mask_classifier=mask_classifier,
                           skip_first=skip_first, exclude=exclude, output_layers=output_layers,
                           via_norm=via_norm)
    sizes = [modules[target].weight.shape[0] for _, target, _ in chosen]
    first = modules[chosen[0][1]].weight
    vector = nn.Parameter(torch.ones(sum(sizes), device=first.device, dtype=first.dtype))
    flat = FlatMasks(vector, [])
    start = 0
    for depth, ((name, target_name, via), size) in enumerate(zip(chosen, sizes), start=1):
        target, stop = modules[target_name], start + size
        if via == "weight" and scale_conv_outputs and isinstance(target, CONV_TYPES):
            scale = OutputScale(vector, start, stop, mask_bias)
            flat.hooks.append((target, target.register_forward_hook(scale), scale))
            via = "output"
        else:
            param = SliceMask(vector, start, stop, tuple(target._parameters))
            parametrize.register_parametrization(target, "weight", param)
            if mask_bias and getattr(target, "bias", None) is not None:
                parametrize.register_parametrization(target, "bias", param)
        flat.layers.append(MaskedLayer(name=name, target=target_name, via=via, depth=depth,
                                       mask=vector[start:stop]))
        start = stop
    return flat


__all__ = ["FlatMasks", "OutputScale", "SliceMask", "inject_flat_masks"]
