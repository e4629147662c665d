"""Safe checkpoint I/O (docs/design.md §7): backdoored models are untrusted, so nothing is unpickled.

* ``.safetensors`` files are read with ``safetensors`` (tensors only, no code);
* anything else goes through ``torch.load(..., weights_only=True)``, which only rebuilds
  tensors and plain containers. A file that needs arbitrary code to load is refused with
  ``UnsafeCheckpointError``; we never retry with ``weights_only=False``.
"""
from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint that can only be loaded by executing code from the file."""


def _plain_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies; tensors that share storage (tied weights) are cloned apart."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, tensor in state.items():
        t = tensor.detach().cpu()
        ptr = t.untyped_storage().data_ptr() if t.numel() else -1
        out[key] = t.clone().contiguous() if ptr in seen else t.contiguous()
        seen.add(ptr)
    return out


def save_state_dict(state: Mapping[str, torch.Tensor], path: str | Path,
                    metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``state`` as safetensors atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(_plain_state(state), tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_model(model: nn.Module, path: str | Path,
               metadata: Mapping[str, Any] | None = None) -> Path:
    return save_state_dict(model.state_dict(), path, metadata)


def load_state_dict(path: str | Path, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint, loaded without executing code from it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device=str(device))
        except SafetensorError as exc:
            raise ValueError(f"{path} is not a valid safetensors file: {exc}") from exc
    try:
        obj = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"refusing to load {path}: it needs arbitrary code to unpickle, and a possibly "
            f"backdoored model is untrusted. Re-save its state_dict as .safetensors in a "
            f"trusted environment. ({str(exc).splitlines()[0]})") from None
    for key in ("state_dict", "model", "model_state_dict", "netC"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state_dict of tensors")
    return obj


def load_model(model: nn.Module, path: str | Path, device: torch.device | str = "cpu",
               strict: bool = True) -> nn.Module:
    model.load_state_dict(load_state_dict(path, device), strict=strict)
    return model


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})
