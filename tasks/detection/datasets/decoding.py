"""Decoding a detection split's image files, the bad files skipped by one contract.

Bad files (``core/bad_data.py``, the same for every loader): an image that cannot be decoded, is
truncated or has another size than its annotation says, an annotation file that does not parse,
a box coordinate that is not a number, a split line naming a missing file or an id listed twice
raise a one-line ``BadDataError`` naming the file (and line), or with ``on_error="skip"`` are
left out and counted (``info["bad_files"]``, the full list in ``info["bad_file_list"]``).
``decoded_set`` is the end of every loader: decode the listed images, keep what decoded, fail
when nothing did.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from core.bad_data import BadDataError, BadFiles

from .detection_set import DetectionSet


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


def decoded_set(annotations: list[dict], paths: list[Path], sizes: list[tuple[int, int]],
                names: list[str], categories: list[str], size: int, desc: str, bad: BadFiles,
                where: Path, what: str, info: dict) -> DetectionSet:
    """The split of the listed images that decode (``decode_all``): the others are raised or
    skipped and counted in ``bad``; none left is a ``BadDataError`` naming ``where`` (``no
    usable WHAT``). ``info`` gets the bad-file counts (``BadFiles.info``) behind it."""
    pixels, kept = decode_all(paths, size, desc, bad, sizes)
    bad.require_any(len(kept), where, what)
    return DetectionSet(pixels, [annotations[i] for i in kept], list(categories),
                        [names[i] for i in kept], {**info, **bad.info()})
