"""Neuron masks as ``torch.nn.utils.parametrize`` parametrizations, and their folding.

One scalar mask per output unit (a conv channel or a linear output feature) of every maskable
layer, initialised to 1 (docs/design.md §2):

* a Conv1d/2d/3d or Linear whose output goes *directly* into an affine normalisation layer
  (BatchNorm1d/2d/3d, GroupNorm, LayerNorm or InstanceNorm over that unit dimension) is masked
  through the norm's weight γ. A mask on the conv weight itself would be normalised away by the
  norm in train mode and get no gradient;
* any other Conv/Linear is masked through its weight rows (``weight[i] * m[i]``);
* biases are untouched unless ``mask_bias`` (paper Table 14), which also scales the bias (or the
  norm's β), so that the whole neuron output is scaled;
* the first maskable layer is never masked (paper), the final classifier only if
  ``mask_classifier`` (official code: no).

"Directly" is decided by data flow, not by module order: one forward pass on an example input
records which tensor each Conv/Linear returns and which tensor each norm receives; a tensor
changed in place in between (``out += shortcut``) no longer counts as the layer's output. A
max- or average-pooling module in between (``conv → MaxPool → BN``, as in airbench) is
transparent: pooling keeps channels and commutes with a non-negative per-channel scale, so the
norm's γ masks the conv's units all the same (without this, such a conv was masked through its
weight rows and the norm in train mode normalised its mask away: it never moved from 1). Depth order
(for the μ(l) schedule) is the order in which the layers first run in that pass.

Not masked, by design:

* modules that never run their own ``forward`` in that pass. The main case is
  ``nn.MultiheadAttention``: its q/k/v projections are one fused ``in_proj_weight`` Parameter
  (a row there is one q, k or v dimension of one head, not a neuron, and attention logits scale
  with the product of two such masks), and its ``out_proj`` is applied functionally inside
  ``F.multi_head_attention_forward``, so no data flow can be traced through it. Transformer
  blocks are masked through their feed-forward layers and normalisation layers instead;
* layers named in ``exclude`` (fnmatch patterns on module names), and modules that are neither
  Conv nor Linear (embeddings, ConvTranspose, recurrent cells).

``fold_masks`` removes every parametrization with ``leave_parametrized=True``: the result is the
original model class whose ``state_dict`` keys equal the original's and loads without this library.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize

LINEAR_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: channel-keeping modules that commute with a non-negative per-channel scale
TRANSPARENT_TYPES = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d,
                     nn.AvgPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
                     nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                     nn.AdaptiveAvgPool3d)
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm,
              nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)


class NoMaskableLayerError(ValueError):
    """The model has no layer that NFT could mask."""


class NeuronMask(nn.Module):
    """Parametrization ``tensor -> tensor * mask`` with one scalar per entry of dimension 0."""

    def __init__(self, num_units: int, device: torch.device | None = None,
                 dtype: torch.dtype | None = None, parameter_order: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.mask = nn.Parameter(torch.ones(num_units, device=device, dtype=dtype))
        # the host module's parameter order, restored on folding so state_dict keys keep order
        self.parameter_order = parameter_order

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (tensor.dim() - 1)
        return tensor * self.mask.view(shape).to(tensor.dtype)


@dataclass
class MaskedLayer:
    """One masked layer: the producing Conv/Linear, where its mask lives, and its depth index."""

    name: str                 # the Conv/Linear producing the neurons
    target: str               # module whose tensor carries the mask (the layer or its norm)
    via: str                  # "norm" or "weight"
    depth: int                # 1..L in forward order among masked layers
    mask: nn.Parameter

    @property
    def num_units(self) -> int:
        return self.mask.numel()


@dataclass
class _Traced:
    order: list[str]              # Conv/Linear modules in first-call order
    followed_by: dict[str, str]   # Conv/Linear name -> norm that consumes its output directly


def _norm_units(norm: nn.Module) -> int | None:
    """Units of an affine norm's per-unit weight, or None when it has none usable."""
    weight = getattr(norm, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 1:
        return None
    return weight.numel()


def _out_units(layer: nn.Module) -> int:
    return layer.weight.shape[0]


def trace_layers(model: nn.Module, example_input: Any) -> _Traced:
    """Run one forward pass (eval mode, no grad) and record the data flow described above."""
    names = {module: name for name, module in model.named_modules()}
    outputs: dict[int, tuple[torch.Tensor, str, int]] = {}  # alive, so ids stay unique
    order: list[str] = []
    followed_by: dict[str, str] = {}
    seen_norms: set[str] = set()
    handles = []

    def after_layer(module: nn.Module, args: tuple, output: Any) -> None:
        name = names[module]
        if name not in order:
            order.append(name)
            if isinstance(output, torch.Tensor):
                outputs[id(output)] = (output, name, output._version)

    def through_pool(module: nn.Module, args: tuple, output: Any) -> None:
        if not args or not isinstance(args[0], torch.Tensor) or not isinstance(output, torch.Tensor):
            return
        hit = outputs.get(id(args[0]))
        if hit is not None and hit[0] is args[0] and args[0]._version == hit[2]:
            outputs[id(output)] = (output, hit[1], output._version)

    def before_norm(module: nn.Module, args: tuple) -> None:
        name = names[module]
        if name in seen_norms or not args or not isinstance(args[0], torch.Tensor):
            return
        seen_norms.add(name)
        hit = outputs.get(id(args[0]))
        # same object *and* not modified in place since (``out += shortcut`` keeps the object)
        if (hit is not None and hit[0] is args[0] and args[0]._version == hit[2]
                and hit[1] not in followed_by):
            followed_by[hit[1]] = name

    for module in model.modules():
        if isinstance(module, LINEAR_TYPES):
            handles.append(module.register_forward_hook(after_layer))
        elif isinstance(module, NORM_TYPES):
            handles.append(module.register_forward_pre_hook(before_norm))
        elif isinstance(module, TRANSPARENT_TYPES):
            handles.append(module.register_forward_hook(through_pool))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            if isinstance(example_input, dict):
                model(**example_input)
            elif isinstance(example_input, (tuple, list)):
                model(*example_input)
            else:
                model(example_input)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return _Traced(order=order, followed_by=followed_by)


def select_layers(model: nn.Module, example_input: Any, *, mask_classifier: bool = False,
                  skip_first: bool = True, exclude: tuple[str, ...] = (),
                  output_layers: list[str] | tuple[str, ...] | None = None,
                  via_norm: bool = True) -> list[tuple[str, str, str]]:
    """``(layer, target, via)`` of every layer to mask, in depth order (see ``inject_masks``);
    ``via`` is ``"norm"`` (the norm's γ carries the mask) or ``"weight"`` (the weight rows).
    ``via_norm=False`` masks every layer through its own weight rows (the paper's Eq. 8) even
    where a norm layer follows (with that norm in train mode such a mask is normalised away)."""
    traced = trace_layers(model, example_input)
    modules = dict(model.named_modules())
    outputs = set(traced.order[-1:] if output_layers is None else output_layers)
    unknown = outputs - set(modules)
    if unknown:
        raise ValueError(f"output layers {sorted(unknown)} are not modules of "
                         f"{type(model).__name__}")
    candidates = [n for n in traced.order if not any(fnmatch.fnmatch(n, p) for p in exclude)]
    if skip_first and candidates:
        candidates = candidates[1:]
    if not mask_classifier:
        candidates = [n for n in candidates if n not in outputs]
    if not candidates:
        raise NoMaskableLayerError(
            f"{type(model).__name__} has no maskable layer: NFT masks Conv1d/2d/3d and Linear "
            f"layers (found {len(traced.order)} that run in forward, of which the first is never "
            f"masked and the output layers {sorted(outputs)} only with mask_classifier=True).")
    chosen = []
    for name in candidates:
        norm_name = traced.followed_by.get(name)
        norm = modules[norm_name] if norm_name else None
        if via_norm and norm is not None and _norm_units(norm) == _out_units(modules[name]):
            chosen.append((name, norm_name, "norm"))
        else:
            chosen.append((name, name, "weight"))
    return chosen


def inject_masks(model: nn.Module, example_input: Any, *, mask_classifier: bool = False,
                 mask_bias: bool = False, skip_first: bool = True,
                 exclude: tuple[str, ...] = (),
                 output_layers: list[str] | tuple[str, ...] | None = None) -> list[MaskedLayer]:
    """Parametrize ``model`` in place with neuron masks; returns the masked layers in depth order.

    ``example_input`` is one batch the model accepts (a tensor, a tuple of positional
    arguments, or a dict of keyword arguments). ``output_layers`` names the model's output
    heads (``TaskAdapter.output_layers``; None: the last Conv/Linear that runs), which are
    masked only with ``mask_classifier``. Raises ``NoMaskableLayerError`` when nothing can be
    masked. One mask parameter per layer (ANP, RNP); NFT uses ``inject_flat_masks``.
    """
    modules = dict(model.named_modules())
    masked: list[MaskedLayer] = []
    for depth, (name, target_name, via) in enumerate(select_layers(
            model, example_input, mask_classifier=mask_classifier, skip_first=skip_first,
            exclude=exclude, output_layers=output_layers), start=1):
        target = modules[target_name]
        weight = target.weight
        param = NeuronMask(weight.shape[0], device=weight.device, dtype=weight.dtype,
                           parameter_order=tuple(target._parameters))
        parametrize.register_parametrization(target, "weight", param)
        if mask_bias and getattr(target, "bias", None) is not None:
            parametrize.register_parametrization(target, "bias", param)
        masked.append(MaskedLayer(name=name, target=target_name, via=via, depth=depth,
                                  mask=param.mask))
    return masked


def iter_parametrized(model: nn.Module) -> Iterator[tuple[nn.Module, str]]:
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for tensor_name in list(module.parametrizations.keys()):
                yield module, tensor_name


def fold_masks(model: nn.Module) -> nn.Module:
    """Bake every mask into its tensor and remove the parametrizations (in place)."""
    orders: dict[nn.Module, tuple[str, ...]] = {}
    for module, tensor_name in list(iter_parametrized(model)):
        for param in module.parametrizations[tensor_name]:
            if getattr(param, "parameter_order", None):
                orders.setdefault(module, param.parameter_order)
        parametrize.remove_parametrizations(module, tensor_name, leave_parametrized=True)
    for module, order in orders.items():
        rank = {name: i for i, name in enumerate(order)}
        items = sorted(module._parameters.items(), key=lambda kv: rank.get(kv[0], len(rank)))
        module._parameters.clear()
        module._parameters.update(items)
    return model


def mask_values(masked: list[MaskedLayer]) -> dict[str, list[float]]:
    """Final masks per layer, keyed by the producing layer's name, as plain floats."""
    return {layer.name: layer.mask.detach().cpu().tolist() for layer in masked}
