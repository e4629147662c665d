"""Reading point clouds: PCD (v0.7), OFF meshes (with surface sampling) and the HDF5 release,
then unit-sphere normalisation and a fixed point count.

Bad input (a truncated file, NaN/inf coordinates, an unknown encoding) raises ``BadShapeError``
naming the file; the dataset loaders catch it, skip the file, count it and name it in a warning
(``tasks/pointcloud/datasets.py``). A shape with fewer points than requested is resampled with
replacement (a seeded draw, so the same file always gives the same cloud); one with more keeps
a seeded random subset without replacement.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

PCD_TYPES = {("F", 4): "<f4", ("F", 8): "<f8", ("I", 1): "<i1", ("I", 2): "<i2",
             ("I", 4): "<i4", ("U", 1): "<u1", ("U", 2): "<u2", ("U", 4): "<u4"}


class BadShapeError(ValueError):
    """A shape file that cannot be used; the message names the file and the reason."""


def _finite(points: np.ndarray, path: Path) -> np.ndarray:
    if points.size == 0:
        raise BadShapeError(f"{path}: holds no points")
    if not np.isfinite(points).all():
        bad = int((~np.isfinite(points)).any(axis=1).sum())
        raise BadShapeError(f"{path}: {bad} point(s) with NaN/inf coordinates")
    return points


def read_pcd(path: Path) -> np.ndarray:
    """The xyz coordinates (N, 3) float32 of a PCD v0.7 file (``DATA ascii`` or ``binary``).

    Other fields (normals, rgb) are read past and dropped; ``binary_compressed`` is refused.
    """
    path = Path(path)
    raw = path.read_bytes()
    header: dict[str, list[str]] = {}
    offset = 0
    while True:
        end = raw.find(b"\n", offset)
        if end < 0:
            raise BadShapeError(f"{path}: truncated PCD header (no DATA line)")
        line = raw[offset:end].decode("ascii", errors="replace").strip()
        offset = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        header[key.upper()] = values
        if key.upper() == "DATA":
            break
    try:
        fields = header["FIELDS"]
        sizes = [int(s) for s in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
        npoints = int(header["POINTS"][0])
        encoding = header["DATA"][0].lower()
    except (KeyError, IndexError, ValueError) as exc:
        raise BadShapeError(f"{path}: malformed PCD header ({exc!r})") from None
    if not {"x", "y", "z"} <= set(fields):
        raise BadShapeError(f"{path}: PCD fields {fields} lack x, y, z")
    if encoding == "ascii":
        text = raw[offset:].decode("ascii", errors="replace").split()
        width = sum(counts)
        if len(text) < npoints * width:
            raise BadShapeError(f"{path}: truncated: {len(text)} values for {npoints} points "
                                f"of {width}")
        table = np.asarray(text[:npoints * width], dtype=np.float64).reshape(npoints, width)
        starts = np.cumsum([0] + counts)
        cols = [starts[fields.index(a)] for a in "xyz"]
        return _finite(table[:, cols].astype(np.float32), path)
    if encoding != "binary":
        raise BadShapeError(f"{path}: PCD DATA {encoding!r} is not supported (ascii or binary)")
    try:
        dtype = np.dtype([(f, PCD_TYPES[(t.upper(), s)], (c,)) if c > 1 else
                          (f, PCD_TYPES[(t.upper(), s)])
                          for f, s, t, c in zip(fields, sizes, types, counts)])
    except KeyError as exc:
        raise BadShapeError(f"{path}: unsupported PCD field type {exc}") from None
    need = npoints * dtype.itemsize
    if len(raw) - offset < need:
        raise BadShapeError(f"{path}: truncated: {len(raw) - offset} data bytes for {npoints} "
                            f"points of {dtype.itemsize} bytes")
    table = np.frombuffer(raw, dtype=dtype, count=npoints, offset=offset)
    points = np.stack([table[a].astype(np.float32) for a in "xyz"], axis=1)
    return _finite(points, path)


def write_pcd(path: Path, points: np.ndarray) -> None:
    """Write xyz float32 points as binary PCD v0.7 (the offline copy's format; for tests)."""
    points = np.asarray(points, dtype="<f4").reshape(-1, 3)
    n = len(points)
    header = (f"# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z\n"
              f"SIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH {n}\nHEIGHT 1\n"
              f"VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA binary\n")
    Path(path).write_bytes(header.encode("ascii") + points.tobytes())


def read_off(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) float64 and triangles (F, 3) int64 of an OFF mesh (polygons fanned).

    Accepts the ModelNet quirk where the counts share the first line (``OFF490 518 0``).
    """
    path = Path(path)
    tokens = path.read_text(errors="replace").split()
    if not tokens or not tokens[0].upper().startswith("OFF"):
        raise BadShapeError(f"{path}: not an OFF file (no OFF header)")
    rest = tokens[0][3:]
    tokens = ([rest] if rest else []) + tokens[1:]
    try:
        nv, nf = int(tokens[0]), int(tokens[1])
        values = tokens[3:]
        verts = np.asarray(values[:3 * nv], dtype=np.float64)
        if verts.size < 3 * nv:
            raise BadShapeError(f"{path}: truncated: {verts.size // 3} of {nv} vertices")
        verts = verts.reshape(nv, 3)
        faces: list[list[int]] = []
        pos = 3 * nv
        for _ in range(nf):
            k = int(values[pos])
            idx = [int(v) for v in values[pos + 1:pos + 1 + k]]
            if len(idx) < k:
                raise BadShapeError(f"{path}: truncated: face {len(faces)} of {nf} is cut off")
            faces.extend([idx[0], idx[j], idx[j + 1]] for j in range(1, k - 1))
            pos += 1 + k
    except (IndexError, ValueError) as exc:
        if isinstance(exc, BadShapeError):
            raise
        raise BadShapeError(f"{path}: malformed or truncated OFF ({exc!r})") from None
    tri = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    _finite(verts, path)
    if tri.size == 0:
        raise BadShapeError(f"{path}: the mesh has no faces to sample points from")
    if tri.min() < 0 or tri.max() >= nv:
        raise BadShapeError(f"{path}: a face names a vertex outside 0..{nv - 1}")
    return verts, tri


def sample_surface(verts: np.ndarray, faces: np.ndarray, count: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniformly on the mesh surface (triangles drawn by area, then uniform
    barycentric coordinates), float32 (count, 3)."""
    a, b, c = (verts[faces[:, i]] for i in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    total = area.sum()
    prob = area / total if total > 0 else np.full(len(area), 1.0 / len(area))
    pick = rng.choice(len(faces), size=count, p=prob)
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    points = a[pick] + u[:, None] * (b[pick] - a[pick]) + v[:, None] * (c[pick] - a[pick])
    return points.astype(np.float32)


def normalize_unit_sphere(points: torch.Tensor) -> torch.Tensor:
    """Centre every cloud (…, N, 3) at its centroid and scale it into the unit sphere."""
    centred = points - points.mean(dim=-2, keepdim=True)
    radius = centred.norm(dim=-1).amax(dim=-1, keepdim=True).clamp_min(1e-12)
    return centred / radius[..., None]


def fixed_count(points: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Exactly ``count`` points: a seeded subset without replacement, or (fewer points than
    asked) all of them plus a seeded draw with replacement for the rest."""
    n = len(points)
    if n == count:
        return points
    rng = np.random.default_rng(seed)
    if n > count:
        return points[np.sort(rng.choice(n, size=count, replace=False))]
    extra = rng.choice(n, size=count - n, replace=True)
    return np.concatenate([points, points[extra]], axis=0)


def read_h5_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``data`` (N, P, 3) float32 and ``label`` (N,) int64 of one HDF5 release file."""
    try:
        import h5py
    except ImportError as exc:   # optional extra
        raise ImportError("reading the HDF5 ModelNet release needs h5py: "
                          "pip install -e .[pointcloud]") from exc
    try:
        with h5py.File(path, "r") as handle:
            data = np.asarray(handle["data"][:], dtype=np.float32)
            label = np.asarray(handle["label"][:]).reshape(-1).astype(np.int64)
    except (OSError, KeyError) as exc:
        raise BadShapeError(f"{path}: unreadable or truncated HDF5 file ({exc})") from None
    if data.ndim != 3 or data.shape[-1] < 3 or len(data) != len(label):
        raise BadShapeError(f"{path}: expected data (N, P, 3) and label (N,), got "
                            f"{data.shape} and {label.shape}")
    return data[..., :3], label
