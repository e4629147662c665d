"""Fine-Pruning (FP; Liu, Dolan-Gavitt & Garg, RAID 2018): prune dormant features, then fine-tune.

1. Record the mean activation of every feature of the model's last representation on the clean
   set. Which layer that is comes from the adapter: the input of its ``output_layers`` (the last
   Conv/Linear by default; several heads must read the same features), as BackdoorBench's
   ``defense/fp.py`` hooks the input of the final layer; for CNNs with global pooling these are the channels of the last convolution stage,
   the layer Liu et al. prune.
2. Prune features in increasing order of activation (pruned = the classifier's weights that
   read them are zero: an ``InputUnitMask`` parametrization, folded at the end), ``step`` at a
   time, measuring the adapter's primary clean metric on the clean set after each step; stop
   before the first count whose relative drop from the unpruned model reaches
   ``max_acc_drop`` (BackdoorBench's ``acc_ratio`` 0.1: "until clean accuracy drops ≥ 10 %";
   Liu et al. used 4 % on their validation set). The activation is the mean of the rectified
   feature (the post-ReLU activation FP was designed around).
3. Fine-tune all weights on the clean set with the pruned features held at zero (BackdoorBench
   ``config/defense/fp``: SGD lr 0.01, momentum 0.9, wd 5e-4, cosine, 100 epochs).

The accuracy is measured on the defender's clean set, not on the test set as BackdoorBench does.
With ``step`` 1 the clean set is evaluated once per pruned feature (up to 511 times for
PreActResNet-18): seconds on a GPU, minutes on 2 CPU cores; raise ``step`` for CPU runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..data import TensorData
from ..masks import fold_masks
from .base import Defense, UnsupportedDefenseError, Workspace
from .configs import FinetuneConfig
from .finetune import finetune
from .hooks import recording
from .support import clean_score
from .weight_masks import InputUnitMask, add_mask, parameter_order


@dataclass(frozen=True)
class FPConfig(FinetuneConfig):
    """FinetuneConfig (the fine-tuning stage; BackdoorBench fp defaults) plus the pruning stop."""

    max_acc_drop: float = 0.10    # relative clean-metric drop that stops pruning (acc_ratio)
    step: int = 1                 # features pruned between two measurements (Liu et al.: one)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.max_acc_drop <= 1.0:
            raise ValueError(f"FP max_acc_drop must lie in (0, 1], got {self.max_acc_drop}")
        if self.step < 1:
            raise ValueError(f"FP step must be ≥ 1, got {self.step}")


@torch.no_grad()
def feature_activations(model: nn.Module, adapter: TaskAdapter, layers: list[str],
                        data: TensorData, batch_size: int) -> torch.Tensor:
    """Mean rectified activation of every input feature the output ``layers`` read over
    ``data``; the model runs through ``adapter.loss`` (the task's forward: a seq2seq model also
    reads its decoder inputs), over every position the layer sees. Several output layers
    (heads) must read one and the same feature tensor: FP prunes those shared features."""
    modules = dict(model.named_modules())
    module = modules[layers[0]]
    total: torch.Tensor | None = None
    count = 0
    model.eval()
    with recording(model, layers, "input") as record:
        for inputs, targets in data.batches(batch_size):
            adapter.loss(model, inputs, targets)
            if total is None and any(record[n] is not record[layers[0]] for n in layers[1:]):
                raise UnsupportedDefenseError(
                    f"FP prunes the features read by the output layers, but {layers} read "
                    f"different tensors; name one head (output_layers) or use another defense")
            features = record[layers[0]].float().clamp(min=0)
            # a Linear reads its features on the last axis, a convolution on axis 1
            axis = features.dim() - 1 if isinstance(module, nn.Linear) else 1
            flat = features.movedim(axis, -1).reshape(-1, features.shape[axis])
            total = flat.sum(dim=0) if total is None else total + flat.sum(dim=0)
            count += flat.shape[0]
    assert total is not None
    return total / count


class FP(Defense):
    name = "fp"
    Config = FPConfig

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: FPConfig = self.config
        layers = ws.adapter.output_layers(ws.model, ws.adapter.example_input(ws.data))
        modules = dict(ws.model.named_modules())
        for layer in layers:
            module = modules[layer]
            if not isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)) or \
                    getattr(module, "groups", 1) != 1:
                raise UnsupportedDefenseError(
                    f"FP prunes the features read by the output layer {layer!r}, which must be "
                    f"a Linear or an ungrouped convolution, not {type(module).__name__}")
        activation = feature_activations(ws.model, ws.adapter, layers, ws.data, config.batch_size)
        masks = [add_mask(modules[layer], InputUnitMask(
            activation.numel(), ws.device, modules[layer].weight.dtype,
            parameter_order(modules[layer]))) for layer in layers]
        order = torch.argsort(activation, stable=True)     # least active first
        pruned, curve_acc = self._prune(ws.model, ws.adapter, ws.data, masks, order, ws.device)
        for mask in masks:
            for param in mask.parameters():
                param.requires_grad_(False)
        loss_curve = finetune(ws.model, ws.adapter, ws.data, config, ws.generator,
                              desc="FP fine-tune")
        fold_masks(ws.model)
        return ws.model, {
            "layer": layers[0] if len(layers) == 1 else layers, "features": activation.numel(),
            "pruned": pruned, "pruned_features": order[:pruned].tolist(),
            "acc_curve": curve_acc, "loss_curve": loss_curve}

    def _prune(self, model: nn.Module, adapter: TaskAdapter, clean: TensorData,
               masks: list[InputUnitMask], order: torch.Tensor,
               device: torch.device) -> tuple[int, list[tuple[int, float]]]:
        """Prune features in ``order``; returns the kept count and the (count, metric) curve."""
        base = clean_score(adapter, model, clean, device)
        curve = [(0, base)]
        kept = 0

        def prune(count: int) -> None:
            for mask in masks:
                mask.mask.fill_(1.0)
                mask.mask[order[:count]] = 0.0

        with torch.no_grad():
            for count in range(self.config.step, len(order), self.config.step):
                prune(count)
                score = clean_score(adapter, model, clean, device)
                curve.append((count, score))
                if base > 0 and (base - score) / base >= self.config.max_acc_drop:
                    break
                kept = count
            prune(kept)
        return kept, curve
