"""ModelNet loaders: the offline PCD copy, the official OFF meshes and the 2,048-point HDF5 release.

``load(root, name, num_points)`` looks in ``<root>/<name>/`` (``name`` = ``modelnet10`` or
``modelnet40``) for, in this order:

* ``[…/]pcd/<class>/{train,test}/*.pcd`` or ``<class>/{train,test}/*.pcd`` — the offline copy
  (``python data_scripts/modelnet10.py --data-root DIR --from-archive
  ../shared/datasets/modelnet10-pcd.tar.gz``; 1,024 points per shape);
* ``<class>/{train,test}/*.off`` — the official ModelNet10/40 zips (meshes): ``num_points``
  points are sampled uniformly on each surface, seeded by the file's index in the sorted list;
* ``ply_data_{train,test}*.h5`` (+ ``shape_names.txt``) — the ``modelnet40_ply_hdf5_2048``
  release (needs h5py, the ``pointcloud`` extra); the first ``num_points`` points of each shape
  are kept, as the PointNet/PointNet++ code does (the release's point order is already random).

Class ids are the sorted class folder names (HDF5: ``shape_names.txt`` order). Every shape is
normalised into the unit sphere (centroid at 0, farthest point at radius 1) and has exactly
``num_points`` points (``io.fixed_count``: seeded subset, or resampled with replacement when the
file holds fewer). Up axis: z for PCD and OFF (the meshes are z-up), y for the HDF5 release.

Bad files (zero-byte, truncated, garbage, NaN/inf coordinates, malformed headers, wrong
dimensions) follow the suite's one contract (``core/bad_data.py``): with ``on_error="raise"``
(default) the first one stops the load with one line naming it; with ``on_error="skip"`` they
are skipped, counted and listed in ``PointDataset.skipped`` (the adapter records the list). Decoded
tensors are cached as ``<dir>/.cache/<name>-<layout>-<points>.safetensors``, keyed by the file
listing (names and sizes); a read-only folder only costs a warning.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from core.bad_data import BadDataError, BadFiles

from .io import (BadShapeError, fixed_count, normalize_unit_sphere, read_h5_split, read_off,
                 read_pcd, sample_surface)

CACHE_FORMAT = "2"   # 2: on_error in the key, file lists kept
LAYOUTS = ("pcd", "off", "h5")
UP_AXIS = {"pcd": 2, "off": 2, "h5": 1}
SCRIPTS = {"modelnet10": "modelnet10.py", "modelnet40": "modelnet40.py"}
OFFLINE = {"modelnet10": "../shared/datasets/modelnet10-pcd.tar.gz"}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder that is missing or holds no known layout; says how to prepare it."""


@dataclass
class PointDataset:
    train_x: torch.Tensor      # (N, P, 3) float32, unit sphere
    train_y: torch.Tensor      # (N,) int64
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    layout: str
    up_axis: int
    skipped: list[str] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)   # split -> file names read


def _has(folder: Path, pattern: str) -> bool:
    return any(True for _ in folder.glob(pattern))


def find_layout(top: Path, max_depth: int = 3) -> tuple[str, Path] | None:
    """(layout, folder) of the shallowest folder under ``top`` that holds a known layout."""
    level = [top]
    for _ in range(max_depth + 1):
        for folder in level:
            if _has(folder, "*/train/*.pcd"):
                return "pcd", folder
            if _has(folder, "*/train/*.off"):
                return "off", folder
            if _has(folder, "ply_data_train*.h5"):
                return "h5", folder
        level = [c for f in level if f.is_dir() for c in sorted(f.iterdir())
                 if c.is_dir() and not c.name.startswith(".")]
    return None


def _listing(folder: Path, layout: str) -> list[Path]:
    if layout == "h5":
        return sorted(folder.glob("ply_data_*.h5"))
    return sorted(folder.glob(f"*/*/*.{layout}"))


def _fingerprint(files: list[Path], folder: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(folder)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def _read_shape(path: Path, layout: str, num_points: int, index: int) -> np.ndarray:
    if layout == "pcd":
        return read_pcd(path)
    verts, faces = read_off(path)
    return sample_surface(verts, faces, num_points, np.random.default_rng(index))


def _read_folders(folder: Path, layout: str, num_points: int, max_per_class: int | None,
                  bad: BadFiles) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and _has(p, f"*/*.{layout}"))
    out = {}
    for split in ("train", "test"):
        files = [(c, f) for c, name in enumerate(classes)
                 for f in sorted((folder / name / split).glob(f"*.{layout}"))[:max_per_class]]
        clouds, labels, names = [], [], []
        for index, (label, path) in enumerate(tqdm(files, desc=f"reading {split} {layout}",
                                                   unit="shape", leave=False,
                                                   disable=len(files) < 500)):
            points = bad.attempt(path, lambda: _read_shape(path, layout, num_points, index))
            if points is None:
                continue
            names.append(str(path.relative_to(folder)))
            clouds.append(fixed_count(points, num_points, seed=index))
            labels.append(label)
        x = torch.from_numpy(np.stack(clouds)) if clouds else torch.zeros(0, num_points, 3)
        out[split] = (x, torch.tensor(labels, dtype=torch.int64))
        out[f"{split}_files"] = names   # type: ignore[assignment]
    out["classes"] = classes   # type: ignore[assignment]
    return out


def _read_h5(folder: Path, num_points: int, max_per_class: int | None,
             bad: BadFiles) -> dict:
    names_file = folder / "shape_names.txt"
    classes = ([line.strip() for line in names_file.read_text().splitlines() if line.strip()]
               if names_file.is_file() else None)
    out: dict = {}
    for split in ("train", "test"):
        xs, ys, names = [], [], []
        for path in sorted(folder.glob(f"ply_data_{split}*.h5")):
            read = bad.attempt(path, lambda: read_h5_split(path))
            if read is None:
                continue
            data, label = read
            names.append(path.name)
            finite = np.isfinite(data).all(axis=(1, 2))
            for i in np.flatnonzero(~finite):
                bad.handle(BadDataError(path, f"shape {i}: NaN/inf coordinates"))
            xs.append(data[finite])
            ys.append(label[finite])
        if not xs:
            raise BadDataError(folder, f"no readable ply_data_{split}*.h5 file ({bad.brief()})")
        x, y = np.concatenate(xs), np.concatenate(ys)
        if x.shape[1] < num_points:
            x = np.stack([fixed_count(c, num_points, seed=i) for i, c in enumerate(x)])
        x = x[:, :num_points]
        if max_per_class is not None:
            keep = np.concatenate([np.flatnonzero(y == c)[:max_per_class] for c in np.unique(y)])
            keep.sort()
            x, y = x[keep], y[keep]
        out[split] = (torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))
        out[f"{split}_files"] = names
    count = int(max(out["train"][1].max(), out["test"][1].max())) + 1
    out["classes"] = classes or [f"class{i}" for i in range(count)]
    return out


def load(root: Path, name: str, num_points: int = 1024,
         max_per_class: int | None = None, on_error: str = "raise") -> PointDataset:
    """Load ``<root>/<name>/`` (see the module docstring); cached after the first read."""
    folder = Path(root) / name
    found = find_layout(folder) if folder.is_dir() else None
    if found is None:
        script = SCRIPTS.get(name, "modelnet10.py")
        offline = OFFLINE.get(name)
        hint = (f"\n  python data_scripts/{script} --data-root {root}"
                + (f"\n  python data_scripts/{script} --data-root {root} --from-archive {offline}"
                   if offline else ""))
        raise DatasetNotFoundError(
            f"{name} not found: looked in {folder} for <class>/train|test/*.pcd, "
            f"<class>/train|test/*.off or ply_data_train*.h5. Prepare it with:{hint}")
    layout, data_dir = found
    files = _listing(data_dir, layout)
    key = json.dumps({"format": CACHE_FORMAT, "points": num_points, "limit": max_per_class,
                      "files": _fingerprint(files, data_dir), "on_error": on_error})
    limit = max_per_class if max_per_class is not None else "all"
    cache = folder / ".cache" / f"{name}-{layout}-{num_points}-{limit}.safetensors"
    loaded = _read_cache(cache, key)
    if loaded is None:
        bad = BadFiles(on_error)
        raw = (_read_h5(data_dir, num_points, max_per_class, bad) if layout == "h5"
               else _read_folders(data_dir, layout, num_points, max_per_class, bad))
        loaded = {"train_x": normalize_unit_sphere(raw["train"][0].float()),
                  "train_y": raw["train"][1], "test_x": normalize_unit_sphere(
                      raw["test"][0].float()), "test_y": raw["test"][1],
                  "classes": raw["classes"], "skipped": [str(e) for e in bad.errors],
                  "files": {"train": raw["train_files"], "test": raw["test_files"]}}
        _write_cache(cache, key, loaded)
    if len(loaded["train_y"]) == 0 or len(loaded["test_y"]) == 0:
        empty = "train" if len(loaded["train_y"]) == 0 else "test"
        first = "; ".join(loaded["skipped"][:3])
        raise BadDataError(data_dir, f"the {empty} split holds no usable shape "
                                     f"({len(loaded['skipped'])} bad file(s) skipped: {first})")
    return PointDataset(loaded["train_x"], loaded["train_y"], loaded["test_x"],
                        loaded["test_y"], list(loaded["classes"]), layout, UP_AXIS[layout],
                        list(loaded["skipped"]), dict(loaded.get("files", {})))


def _read_cache(path: Path, key: str) -> dict | None:
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            if meta.get("key") != key:
                return None
            out = {k: handle.get_tensor(k) for k in ("train_x", "train_y", "test_x", "test_y")}
        out["classes"] = json.loads(meta["classes"])
        out["skipped"] = json.loads(meta.get("skipped", "[]"))
        out["files"] = json.loads(meta.get("files", "{}"))
        return out
    except (OSError, ValueError, KeyError):
        return None


def _write_cache(path: Path, key: str, data: dict) -> None:
    from safetensors.torch import save_file

    tensors = {k: data[k].contiguous() for k in ("train_x", "train_y", "test_x", "test_y")}
    meta = {"key": key, "classes": json.dumps(data["classes"]),
            "skipped": json.dumps(data["skipped"]), "files": json.dumps(data["files"])}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.part")
        save_file(tensors, str(partial), metadata=meta)
        os.replace(partial, path)
    except OSError as exc:
        warnings.warn(f"could not write the point-cloud cache {path} ({exc}); the shapes will "
                      f"be read again on every load", stacklevel=3)
