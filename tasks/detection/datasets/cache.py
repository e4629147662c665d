"""The decoded-split cache of the detection loaders.

Decoded splits are cached as safetensors under ``<dataset dir>/.cache/`` keyed by the split,
the size and a fingerprint of the annotation file; delete the folder after editing images.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from .detection_set import DetectionSet, difficult_mask

CACHE_FORMAT = "2"   # 2: per-object "difficult" flags, bad-file info


def fingerprint(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path) and part.is_file():
            stat = part.stat()
            digest.update(f"{part}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        else:
            digest.update(repr(part).encode())
    digest.update(CACHE_FORMAT.encode())
    return digest.hexdigest()[:16]


def save_cached(path: Path, data: DetectionSet) -> None:
    from safetensors.torch import save_file

    counts = torch.tensor([len(a["labels"]) for a in data.annotations], dtype=torch.int64)
    boxes = torch.cat([a["boxes"] for a in data.annotations]) if len(data) else torch.zeros(0, 4)
    labels = torch.cat([a["labels"] for a in data.annotations]) if len(data) else torch.zeros(0)
    difficult = (torch.cat([difficult_mask(a) for a in data.annotations]) if len(data)
                 else torch.zeros(0, dtype=torch.bool))
    meta = {"categories": json.dumps(data.categories), "file_names": json.dumps(data.file_names),
            "info": json.dumps(data.info)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"images": data.images.contiguous(), "counts": counts,
                   "boxes": boxes.float().contiguous(), "labels": labels.long().contiguous(),
                   "difficult": difficult.to(torch.uint8).contiguous()},
                  str(tmp), metadata=meta)
        os.replace(tmp, path)
    except OSError:
        pass   # a read-only dataset folder: decode again next time


def load_cached(path: Path) -> DetectionSet | None:
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    bounds = torch.cumsum(tensors["counts"], 0).tolist()
    starts = [0] + bounds[:-1]
    annotations = [{"boxes": tensors["boxes"][s:e].clone(), "labels": tensors["labels"][s:e].clone(),
                    "difficult": tensors["difficult"][s:e].bool()}
                   for s, e in zip(starts, bounds)]
    return DetectionSet(tensors["images"], annotations, json.loads(meta["categories"]),
                        json.loads(meta["file_names"]), json.loads(meta["info"]))
