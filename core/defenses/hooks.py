"""Looking inside a model during a defense: record the activations of named modules, and
re-estimate BatchNorm statistics on the clean set."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Literal

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..adapter import TaskAdapter
from ..data import TensorData
from .base import UnsupportedDefenseError


@contextmanager
def recording(model: nn.Module, names: Iterable[str], what: Literal["input", "output"] = "output"
              ) -> Iterator[dict[str, torch.Tensor]]:
    """Record the first input or the output of the named modules on every forward pass."""
    modules = dict(model.named_modules())
    record: dict[str, torch.Tensor] = {}
    handles = []
    for name in names:
        if name not in modules:
            raise UnsupportedDefenseError(f"{type(model).__name__} has no module {name!r}")

        def hook(module: nn.Module, args: tuple, output: Any, name: str = name) -> None:
            value = args[0] if what == "input" else output
            if not isinstance(value, torch.Tensor):
                raise UnsupportedDefenseError(f"module {name!r} has a non-tensor {what}")
            record[name] = value

        handles.append(modules[name].register_forward_hook(hook))
    try:
        yield record
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, adapter: TaskAdapter, data: TensorData,
                          batch_size: int) -> int:
    """Re-estimate the running statistics of every BatchNorm layer on ``data`` (cumulative
    average over one pass, train mode, no gradient); returns the number of layers reset.
    The model runs through ``adapter.loss``, the task's own forward (a seq2seq model, e.g.,
    also needs its decoder inputs)."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    was_training = model.training
    model.train()
    try:
        for inputs, targets in data.batches(batch_size):
            adapter.loss(model, inputs, targets)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.train(was_training)
    return len(norms)
