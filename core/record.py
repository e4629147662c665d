"""Result records: one JSON file per benchmark cell, written atomically and never overwritten."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch

SCHEMA_VERSION = 1
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def installed_version(package: str) -> str | None:
    """The installed version of ``package`` (None when it is not installed)."""
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:  # not installed
        return None


def package_version() -> str:
    return installed_version("nft-suite") or "0+unknown"   # "0+unknown": run from a checkout


def versions() -> dict[str, Any]:
    import numpy

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "numpy": numpy.__version__,
        "torchvision": installed_version("torchvision"),   # the model zoos (None: not installed)
        "timm": installed_version("timm"),
        "nft_suite": package_version(),
    }


def git_info(root: Path = PACKAGE_ROOT) -> dict[str, Any]:
    """Commit hash and dirty flag of the checkout holding this package (None outside git)."""
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def hardware(device: torch.device | str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "device": str(device) if device is not None else None,
    }
    if torch.cuda.is_available():
        chosen = torch.device(device) if device is not None else None
        index = chosen.index if chosen is not None and chosen.type == "cuda" else None
        info["gpu"] = torch.cuda.get_device_name(index or 0)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_record(path: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` to ``path`` atomically; raise ``FileExistsError`` if it already exists.

    The JSON goes to a temp file in the same folder, is fsync'ed, and is then hard-linked to
    ``path`` (``os.link`` fails instead of replacing an existing file), so a reader never sees a
    half-written record and a finished record is never overwritten.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(f"result record already exists, not overwriting: {path}")
    text = json.dumps(_jsonable(record), indent=2, sort_keys=False, allow_nan=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)          # fails if path exists: never overwrites
        except FileExistsError:
            raise FileExistsError(f"result record already exists, not overwriting: {path}") from None
        except OSError:                 # a filesystem without hard links
            if path.exists():
                raise FileExistsError(f"result record already exists, not overwriting: {path}")
            os.replace(tmp, path)
            return path
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
