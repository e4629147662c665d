"""Per-epoch training checkpoints, so that rerunning an interrupted ``fit`` continues it.

``fit(..., checkpoint_dir=D)`` calls ``save`` after every epoch and ``load`` before the first
step. One checkpoint is two files in ``D``:

* ``epoch-NNNN.safetensors``: every tensor — the model's state (weights and normalisation
  statistics), the optimizer's per-parameter state (momentum buffers, Adam moments), the
  lookahead's slow copy, the random states (the run's ``torch.Generator``, torch's global CPU
  and CUDA generators, NumPy's key) and the losses so far (float64, exact);
* ``train_state.json``: the small rest — epoch and step reached, the safetensors file's name,
  the optimizer's parameter groups, the scheduler's ``state_dict``, Python's and NumPy's other
  random state, the wall time so far, and a fingerprint of the run (config, data size, seed,
  steps, the model's state keys) that a resume must match.

Both are written atomically (temp file + rename); the JSON is written after the tensors it names
and older tensor files are deleted only then, so an interruption at any point leaves a complete
checkpoint (at worst the previous epoch's). Nothing is unpickled on load (safetensors + JSON).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .checkpoint import load_state_dict, save_state_dict

STATE_FILE = "train_state.json"
FORMAT = 1


class ResumeMismatchError(ValueError):
    """A checkpoint folder that belongs to a different run (other config, data or model)."""


def fingerprint(config: Any, model: nn.Module, n_samples: int, seed: int, steps: int) -> str:
    """A short hash of what must not change between an interrupted run and its resumption."""
    settings = {k: v for k, v in asdict(config).items() if k != "progress"}
    blob = json.dumps({"config": settings, "n": n_samples, "seed": seed, "steps": steps,
                       "keys": sorted(model.state_dict())}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class Resumed:
    """What ``load`` restored into the model/optimizer/scheduler, and what the caller sets."""

    epoch: int
    step: int
    losses: list[float]
    wall_time_s: float
    generator_state: torch.Tensor
    rng: dict[str, Any] = field(default_factory=dict)

    def restore_global_rng(self, device: torch.device) -> None:
        """torch's, Python's and NumPy's global generators as they were at the checkpoint."""
        torch.set_rng_state(self.rng["torch"])
        if device.type == "cuda" and "cuda" in self.rng:
            torch.cuda.set_rng_state(self.rng["cuda"], device)
        version, internal, gauss = self.rng["python"]
        random.setstate((version, tuple(internal), gauss))
        name, pos, has_gauss, cached = self.rng["numpy_rest"]
        np.random.set_state((name, self.rng["numpy_key"].numpy().astype(np.uint32), pos,
                             has_gauss, cached))


def _write_json(path: Path, payload: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(directory: str | Path, *, epoch: int, step: int, model: nn.Module,
         optimizer: torch.optim.Optimizer, scheduler: Any, lookahead: Any,
         generator: torch.Generator, losses: list[float], wall_time_s: float,
         run_fingerprint: str, device: torch.device) -> Path:
    """Write the checkpoint of a run that has finished ``epoch`` epochs (``step`` steps)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    opt_state: dict[str, dict] = {}
    for index, entry in opt["state"].items():
        plain = {}
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{name}"] = value
                plain[name] = {"tensor": True}
            else:
                plain[name] = value
        opt_state[str(index)] = plain
    if lookahead is not None:
        tensors.update({f"lookahead.{k}": v for k, v in lookahead.slow.items()})
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    name, key, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy_key"] = torch.from_numpy(key.astype(np.int64))
    tensors["losses"] = torch.tensor(losses, dtype=torch.float64)
    file = f"epoch-{epoch:04d}.safetensors"
    save_state_dict(tensors, directory / file)
    version, internal, gauss = random.getstate()
    _write_json(directory / STATE_FILE, {
        "format": FORMAT, "epoch": epoch, "step": step, "file": file,
        "fingerprint": run_fingerprint, "wall_time_s": wall_time_s,
        "optimizer": {"param_groups": opt["param_groups"], "state": opt_state},
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "python_random": [version, list(internal), gauss],
        "numpy_random": [name, int(pos), int(has_gauss), float(cached)],
    })
    for old in directory.glob("epoch-*.safetensors"):
        if old.name != file:
            old.unlink()
    return directory / file


def load(directory: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer,
         scheduler: Any, lookahead: Any, run_fingerprint: str,
         device: torch.device) -> Resumed | None:
    """Restore the last checkpoint in ``directory`` into the given objects (None: none there)."""
    directory = Path(directory)
    state_path = directory / STATE_FILE
    if not state_path.is_file():
        return None
    meta = json.loads(state_path.read_text())
    if meta.get("format") != FORMAT or meta.get("fingerprint") != run_fingerprint:
        raise ResumeMismatchError(
            f"{directory} holds the checkpoint of another training run (config, data, seed or "
            f"model differ); delete that folder to start this run from scratch")
    tensors = load_state_dict(directory / meta["file"], device="cpu")
    prefix = "model."
    model.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                           if k.startswith(prefix)})
    opt_state: dict[int, dict] = {}
    for index, entry in meta["optimizer"]["state"].items():
        opt_state[int(index)] = {
            name: tensors[f"optim.{index}.{name}"] if isinstance(value, dict) else value
            for name, value in entry.items()}
    optimizer.load_state_dict({"state": opt_state,
                               "param_groups": meta["optimizer"]["param_groups"]})
    if scheduler is not None:
        scheduler.load_state_dict(meta["scheduler"])
    if lookahead is not None:
        with torch.no_grad():
            for key, slow in lookahead.slow.items():
                slow.copy_(tensors[f"lookahead.{key}"])
    rng = {"torch": tensors["rng.torch"], "python": meta["python_random"],
           "numpy_key": tensors["rng.numpy_key"], "numpy_rest": meta["numpy_random"]}
    if "rng.cuda" in tensors:
        rng["cuda"] = tensors["rng.cuda"]
    return Resumed(epoch=meta["epoch"], step=meta["step"],
                   losses=tensors["losses"].tolist(), wall_time_s=meta["wall_time_s"],
                   generator_state=tensors["rng.generator"], rng=rng)


__all__ = ["ResumeMismatchError", "Resumed", "fingerprint", "load", "save", "STATE_FILE"]
