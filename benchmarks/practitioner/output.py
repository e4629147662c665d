"""The purified model, as the user's pipeline expects it: the normalising wrapper the defenses
run inside, and writing the unwrapped model back with the input's keys, dtypes and format."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks.practitioner.models import Weights
from core.checkpoint import save_state_dict

class Normalized(nn.Module):
    """``model((x - mean) / std)`` for images in [0, 1]: the defenses work in pixel space (their
    augmentations, input bounds and perturbations assume it), the user's model keeps its own
    input convention. mean/std are non-persistent buffers: the wrapper adds no state_dict keys
    beyond the ``model.`` prefix, and the purified ``.model`` is the user's class untouched."""

    def __init__(self, model: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean.view(1, -1, 1, 1).float(), persistent=False)
        self.register_buffer("std", std.view(1, -1, 1, 1).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))


def output_state(model: nn.Module, weights: Weights) -> dict[str, torch.Tensor]:
    """The purified state_dict with the input's key prefix and dtypes restored."""
    state = model.state_dict()
    return {weights.prefix + k: v.detach().cpu().to(weights.dtypes.get(k, v.dtype))
            for k, v in state.items()}


def write_model(model: nn.Module, weights: Weights, path: Path, example: torch.Tensor,
                metadata: dict[str, Any]) -> Path:
    """Write the purified (unwrapped) ``model`` to ``path`` by its suffix: ``.safetensors``,
    ``.pt``/``.pth`` (a plain state_dict, loads with ``weights_only=True``) or ``.pt2``
    (``torch.export``, same example input and batch dynamism as an input program)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        return save_state_dict(output_state(model, weights), path, metadata)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix in (".pt", ".pth"):
            torch.save(output_state(model, weights), tmp)
        else:
            model = model.cpu().eval()
            args = weights.example_inputs or (example[:2].cpu(),)
            dynamic = weights.dynamic_batch or weights.example_inputs is None
            shapes = ({0: torch.export.Dim.AUTO},) + (None,) * (len(args) - 1) if dynamic else None
            program = torch.export.export(model, tuple(args), dynamic_shapes=shapes)
            torch.export.save(program, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


OUTPUT_SUFFIXES = (".safetensors", ".pt", ".pth", ".pt2")
