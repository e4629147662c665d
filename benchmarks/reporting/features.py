"""Penultimate-layer features for the t-SNE plots (paper Fig. 1), saved beside a cell's record.

"Penultimate" is the input of the last ``nn.Linear`` that runs in the forward pass (the
classifier of every model in the zoo); a model without one gives its logits instead.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.attack import Attack
from core.data import TensorData


@torch.no_grad()
def penultimate_features(model: nn.Module, inputs: torch.Tensor, device: torch.device | str,
                         batch_size: int = 512) -> np.ndarray:
    """(N, D) float32 features of ``inputs``: the input of the last Linear layer that runs."""
    device = torch.device(device)
    captured: list[torch.Tensor | None] = [None]

    def hook(module: nn.Module, args: tuple) -> None:
        captured[0] = args[0]

    handles = [m.register_forward_pre_hook(hook) for m in model.modules()
               if isinstance(m, nn.Linear)]
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, inputs.shape[0], batch_size):
            captured[0] = None
            logits = model(inputs[start:start + batch_size].to(device))
            feats = captured[0] if captured[0] is not None else logits
            out.append(feats.flatten(1).float().cpu())
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def save_features(path: Path, before_model: nn.Module, after_model: nn.Module, test: TensorData,
                  attack: Attack, device: torch.device, count: int, batch_size: int = 512) -> Path:
    """Features of ``count`` clean test inputs and of ``count`` triggered ones (true label ≠
    attack label), for the backdoored and the purified model, as an ``.npz`` (atomic write).

    Arrays: ``before``/``after`` (2·count, D), ``labels`` (true class), ``triggered`` (bool).
    """
    labels = test.targets.cpu()
    clean_idx = torch.arange(min(count, len(labels)))
    eligible = torch.nonzero(attack.eval_selection(labels)).flatten()[:count]
    clean_x = test.batch(clean_idx)[0]
    trig_x = attack.apply_trigger(test.batch(eligible)[0])
    inputs = torch.cat([clean_x, trig_x])
    arrays = {
        "before": penultimate_features(before_model, inputs, device, batch_size),
        "after": penultimate_features(after_model, inputs, device, batch_size),
        "labels": torch.cat([labels[clean_idx], labels[eligible]]).numpy(),
        "triggered": np.r_[np.zeros(len(clean_idx), bool), np.ones(len(eligible), bool)],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_features(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
