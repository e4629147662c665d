"""What the detection loaders share: the result type, box sanitising, decoding and caching.

Every loader returns a ``DetectionSet`` per split: uint8 images (N, 3, S, S) resized to a square
(the aspect ratio is not kept, as the multi-label training code of Chen et al. / ML-Decoder
resizes), and one annotation per image: ``boxes`` (k, 4) float32 ``x1, y1, x2, y2`` in pixels of
the *resized* image and ``labels`` (k,) int64 category indices (0-based, in the dataset's
category order). ``multi_hot`` turns the annotations into (N, C) float32 multi-label targets.

Bad boxes (policy, the same for every loader): a box that reaches outside its image is clipped
to the image and counted (``boxes_clipped``); a box with no area after clipping (width or height
< 1 pixel of the original image) is dropped and counted (``boxes_dropped``), with the first few
file names kept in ``info["dropped_examples"]``. Nothing is silently lost: the counts go into
the run record.

Bad files (one contract for every loader, ``core/bad_data.py``): an image that cannot be
decoded, is truncated or has another size than its annotation says, an annotation file that does
not parse, a box coordinate that is not a number, a split line naming a missing file or an id
listed twice raise a one-line ``BadDataError`` naming the file (and line), or with
``on_error="skip"`` are left out and counted (``info["bad_files"]``, the full list in
``info["bad_file_list"]``).

Decoded splits are cached as safetensors under ``<dataset dir>/.cache/`` keyed by the split,
the size and a fingerprint of the annotation file; delete the folder after editing images.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from core.bad_data import BadDataError, BadFiles

CACHE_FORMAT = "2"   # 2: per-object "difficult" flags, bad-file info


class DatasetMissingError(FileNotFoundError):
    """A dataset folder or file is missing; the message names the path and the script."""


def missing(path: Path, what: str, command: str) -> DatasetMissingError:
    return DatasetMissingError(f"{what} not found at {path}; prepare it with: {command}")


@dataclass
class DetectionSet:
    """One split: images, per-image annotations and the category names."""

    images: torch.Tensor                 # uint8 (N, 3, S, S)
    annotations: list[dict]              # {"boxes": (k, 4) float32, "labels": (k,) int64}
    categories: list[str]
    file_names: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, 3, S, S), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if len(self.annotations) != self.images.shape[0]:
            raise ValueError(f"{self.images.shape[0]} images but {len(self.annotations)} "
                             f"annotations")
        for ann in self.annotations:
            labels = ann["labels"]
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(self.categories)):
                raise ValueError(f"a label lies outside 0..{len(self.categories) - 1}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def multi_hot(self) -> torch.Tensor:
        """(N, C) float32: 1 where the image holds at least one object of the category, difficult
        objects included: the convention of Chen et al.'s VOC loader (clean-image backdoor,
        ICLR 2023; ``src_files/helper_functions/voc_dataloader.py`` of
        github.com/kangjie-chen/clean-image_backdoor sets 1 for every annotated object and has
        no "ignore" state), not the VOC devkit's 0 ("ignore") for a class whose only objects in
        the image are difficult."""
        out = torch.zeros(len(self), len(self.categories))
        for i, ann in enumerate(self.annotations):
            out[i, ann["labels"]] = 1.0
        return out


def difficult_mask(annotation: dict) -> torch.Tensor:
    """(k,) bool: the objects marked ``difficult`` (VOC); all False where the loader has none."""
    flags = annotation.get("difficult")
    if flags is None:
        return torch.zeros(len(annotation["labels"]), dtype=torch.bool)
    return flags.bool()


class BoxCounter:
    """Clips and drops boxes by the module's policy, counting what it did."""

    def __init__(self) -> None:
        self.clipped = 0
        self.dropped = 0
        self.examples: list[str] = []

    def clean(self, boxes: np.ndarray, width: float, height: float, name: str) -> np.ndarray:
        """``boxes`` (k, 4) x1 y1 x2 y2 in original pixels -> a boolean keep mask; clips in place."""
        if boxes.size == 0:
            return np.zeros(0, dtype=bool)
        before = boxes.copy()
        np.clip(boxes[:, 0::2], 0.0, width, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0.0, height, out=boxes[:, 1::2])
        keep = ((boxes[:, 2] - boxes[:, 0]) >= 1.0) & ((boxes[:, 3] - boxes[:, 1]) >= 1.0)
        changed = np.any(np.abs(before - boxes) > 1e-6, axis=1) & keep
        self.clipped += int(changed.sum())
        dropped = int((~keep).sum())
        if dropped:
            self.dropped += dropped
            if len(self.examples) < 5:
                self.examples.append(name)
        return keep

    def info(self) -> dict:
        return {"boxes_clipped": self.clipped, "boxes_dropped": self.dropped,
                "dropped_examples": list(self.examples)}


def scale_boxes(boxes: np.ndarray, width: float, height: float, size: int) -> torch.Tensor:
    scale = np.array([size / width, size / height, size / width, size / height], dtype=np.float32)
    return torch.from_numpy((boxes * scale).astype(np.float32)).reshape(-1, 4)


def decode_resized(path: Path, size: int, expected: tuple[int, int] | None = None
                   ) -> torch.Tensor:
    """One image file -> uint8 (3, size, size), RGB, bilinear with antialiasing. ``expected``
    (width, height) is the size the annotation gives: another size is a bad file (its boxes would
    land in the wrong place)."""
    from PIL import Image

    with Image.open(path) as img:
        if expected is not None and tuple(img.size) != tuple(expected):
            raise BadDataError(path, f"the image is {img.size[0]}×{img.size[1]} but its "
                                     f"annotation says {expected[0]}×{expected[1]}")
        img = img.convert("RGB")
        array = np.asarray(img, dtype=np.uint8).copy()
    image = torch.from_numpy(array).permute(2, 0, 1)
    if image.shape[1:] != (size, size):
        image = F.interpolate(image[None].float(), size=(size, size), mode="bilinear",
                              antialias=True, align_corners=False)[0]
        image = image.round().clamp(0, 255).to(torch.uint8)
    return image


def decode_all(paths: Sequence[Path], size: int, desc: str, bad: BadFiles | None = None,
               expected: Sequence[tuple[int, int] | None] | None = None
               ) -> tuple[torch.Tensor, list[int]]:
    """(uint8 (K, 3, size, size), the K decoded positions in ``paths``): a file that cannot be
    decoded is raised as a ``BadDataError`` naming it, or skipped and counted in ``bad``."""
    from tqdm.auto import tqdm

    bad = bad if bad is not None else BadFiles("raise")
    sizes = list(expected) if expected is not None else [None] * len(paths)

    def read(i: int) -> tuple[int, torch.Tensor | BadDataError]:
        try:
            return i, decode_resized(paths[i], size, sizes[i])
        except Exception as exc:  # noqa: BLE001 - any decoder failure names the file
            return i, BadDataError.wrap(paths[i], exc)

    out = torch.empty((len(paths), 3, size, size), dtype=torch.uint8)
    kept: list[int] = []
    workers = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        for i, image in tqdm(pool.map(read, range(len(paths))), total=len(paths), desc=desc,
                             unit="img", leave=False, disable=len(paths) < 500):
            if isinstance(image, BadDataError):
                bad.handle(image)
                continue
            out[len(kept)] = image
            kept.append(i)
    return out[:len(kept)], kept


def source_summary(train: DetectionSet, test: DetectionSet, test_index: torch.Tensor) -> dict:
    """What the record keeps of the files behind a run: the bad files of both splits (count and
    full list), the data fingerprint, and the categories without a positive among the evaluated
    test images (left out of the mAP mean)."""
    from core.bad_data import data_fingerprint

    listed = list(train.info.get("bad_file_list", [])) + list(test.info.get("bad_file_list", []))
    positives = test.multi_hot()[test_index].sum(0) if len(test) else torch.zeros(0)
    return {"bad_files": len(listed), "bad_file_list": listed,
            "fingerprint": data_fingerprint({"train": train.file_names,
                                             "test": test.file_names}),
            "map_classes_left_out": [c for c, n in zip(test.categories, positives.tolist())
                                     if n == 0]}


# -- cache --------------------------------------------------------------------------------------
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
