"""Decoding image files into uint8 tensors, the bad ones raised or skipped by one contract.

Images are always decoded to RGB (grayscale files get 3 equal planes). Decoding runs on a thread
pool (the decoders release the GIL): JPEGs through torchvision's libjpeg decoder when it is
available (same pixels as Pillow, ~3× faster on small images), everything else (and any JPEG it
refuses) through Pillow. ``decode_dataset`` decodes both splits of a file-based dataset into an
``ImageDataset`` (``image_dataset.py``).

Bad files follow the suite's one contract (``core/bad_data.py``): an image that cannot be
decoded (zero-byte, truncated, garbage, wrong header) or has another size than the others when
no ``image_size`` is given raises a one-line ``ImageDecodeError`` naming it
(``on_error="raise"``, default), or is left out and counted (``on_error="skip"``:
``ImageDataset.bad_files``, kept in the cache and the run record).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from core.bad_data import BadDataError, BadFiles, data_fingerprint

from .image_dataset import ImageDataset, labels_tensor

RESIZE_MODES = ("square", "center_crop")
PROGRESS_MIN_IMAGES = 5000    # show a progress bar when decoding at least this many images


class ImageDecodeError(BadDataError):
    """An image file that cannot be read; the message names the file."""


def _resize(img, size: int, mode: str, crop_fraction: float):
    from PIL import Image

    if mode == "square":
        return img if img.size == (size, size) else img.resize((size, size), Image.BILINEAR)
    # center_crop: shorter side to size / crop_fraction, then the central size × size
    width, height = img.size
    short = max(size, int(round(size / crop_fraction)))
    scale = short / min(width, height)
    new = (max(size, int(round(width * scale))), max(size, int(round(height * scale))))
    if new != img.size:
        img = img.resize(new, Image.BILINEAR)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return img.crop((left, top, left + size, top + size))


def decode_image(path: Path | str, size: int | None = None, resize: str = "square",
                 crop_fraction: float = 1.0) -> np.ndarray:
    """One image file -> uint8 (H, W, 3); resized to ``size`` × ``size`` when ``size`` is given.

    ``resize``: ``square`` stretches the whole image (GTSRB, Tiny-ImageNet); ``center_crop``
    scales the shorter side to ``size / crop_fraction`` and crops the centre (ImageNet).
    """
    from PIL import Image

    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    try:
        with Image.open(path) as img:
            if size is not None and resize == "center_crop" and img.format == "JPEG":
                # large photos (ImageNet): decode at a reduced DCT scale, never below the
                # shorter side we resize to
                img.draft("RGB", (int(size / crop_fraction), int(size / crop_fraction)))
            rgb = img.convert("RGB")
        if size is not None:
            rgb = _resize(rgb, size, resize, crop_fraction)
        return np.array(rgb, dtype=np.uint8)        # a writable copy (torch.from_numpy)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(path, f"cannot decode image ({type(exc).__name__}: "
                                     f"{exc})") from None


def _workers() -> int:
    return min(8, max(2, os.cpu_count() or 2))


_JPEG_SUFFIXES = (".jpg", ".jpeg")
_FAST_JPEG: list = []


def _fast_jpeg_decoder() -> Callable[[Path], torch.Tensor | None]:
    """torchvision's libjpeg decoder (~3× faster than Pillow on small JPEGs, same pixels), or a
    stub returning None when torchvision's image ops are unavailable."""
    if not _FAST_JPEG:
        try:
            from torchvision.io import ImageReadMode, decode_jpeg

            def decode(path: Path) -> torch.Tensor | None:
                try:
                    data = torch.frombuffer(bytearray(Path(path).read_bytes()), dtype=torch.uint8)
                    return decode_jpeg(data, mode=ImageReadMode.RGB)
                except (RuntimeError, OSError, ValueError):
                    return None          # Pillow decodes it or names the broken file

            import io

            from PIL import Image

            probe = io.BytesIO()
            Image.new("RGB", (8, 8), (200, 30, 30)).save(probe, format="JPEG")
            image = decode_jpeg(torch.frombuffer(bytearray(probe.getvalue()), dtype=torch.uint8),
                                mode=ImageReadMode.RGB)     # fails here if the C ops are missing
            _FAST_JPEG.append(decode if tuple(image.shape) == (3, 8, 8) else (lambda path: None))
        except Exception:  # noqa: BLE001 - any import/ops failure: Pillow only
            _FAST_JPEG.append(lambda path: None)
    return _FAST_JPEG[0]


def _decode_chw(path: Path, size: int | None, resize: str, crop_fraction: float) -> torch.Tensor:
    """uint8 (3, H, W): JPEGs through the fast decoder (then Pillow's resize), else Pillow."""
    if resize == "square" and str(path).lower().endswith(_JPEG_SUFFIXES):
        image = _fast_jpeg_decoder()(path)
        if image is not None:
            if size is None or tuple(image.shape[1:]) == (size, size):
                return image
            from PIL import Image

            pil = _resize(Image.fromarray(image.permute(1, 2, 0).numpy()), size, resize, 1.0)
            return torch.from_numpy(np.array(pil, dtype=np.uint8)).permute(2, 0, 1)
    return torch.from_numpy(decode_image(path, size, resize, crop_fraction)).permute(2, 0, 1)


def decode_images(paths: Sequence[Path], size: int | None = None, resize: str = "square",
                  crop_fraction: float = 1.0, desc: str = "decoding") -> torch.Tensor:
    """Decode ``paths`` on a thread pool into one uint8 (N, 3, H, W) tensor; a bad file raises
    an ``ImageDecodeError`` naming it.

    Without ``size`` every image must have the size of the first one (else the odd file is a
    bad file and the message suggests ``image_size``).
    """
    return decode_kept(paths, size, resize, crop_fraction, desc)[0]


def decode_kept(paths: Sequence[Path], size: int | None = None, resize: str = "square",
                crop_fraction: float = 1.0, desc: str = "decoding", bad: BadFiles | None = None
                ) -> tuple[torch.Tensor, list[int]]:
    """(uint8 (K, 3, H, W), the K decoded positions of ``paths``): bad files are raised or,
    with ``bad.on_error == "skip"``, left out and counted in ``bad``."""
    bad = bad if bad is not None else BadFiles("raise")
    n = len(paths)
    first, start = None, 0
    while first is None and start < n:
        try:
            first = _decode_chw(paths[start], size, resize, crop_fraction)
        except BadDataError as exc:
            bad.handle(exc)
        start += 1
    if first is None:
        return torch.empty((0, 3, size or 0, size or 0), dtype=torch.uint8), []
    out = torch.empty((n, *first.shape), dtype=torch.uint8)
    out[start - 1] = first
    ok = torch.zeros(n, dtype=torch.bool)
    ok[start - 1] = True
    failed: dict[int, BadDataError] = {}

    def work(chunk: range) -> int:
        for i in chunk:
            try:
                image = _decode_chw(paths[i], size, resize, crop_fraction)
                if image.shape != first.shape:
                    raise ImageDecodeError(paths[i], f"is {image.shape[2]}×{image.shape[1]} but "
                                           f"{paths[start - 1].name} is {first.shape[2]}×"
                                           f"{first.shape[1]}; pass image_size to resize every "
                                           f"image to one square size")
            except BadDataError as exc:
                failed[i] = exc
                continue
            out[i] = image
            ok[i] = True
        return len(chunk)

    step = 256
    chunks = [range(s, min(s + step, n)) for s in range(start, n, step)]
    bar = _progress(n, desc) if n >= PROGRESS_MIN_IMAGES else None
    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        for done in pool.map(work, chunks):
            if bar is not None:
                bar.update(done)
    if bar is not None:
        bar.close()
    for i in sorted(failed):
        bad.handle(failed[i])
    kept = torch.nonzero(ok).flatten()
    return (out if len(kept) == n else out[kept]), kept.tolist()


def decode_dataset(directory: Path, train: tuple[list[Path], list[int]],
                   test: tuple[list[Path], list[int]], classes: list[str], size: int | None,
                   name: str, on_error: str = "raise", **options) -> ImageDataset:
    """Decode both splits of a file-based dataset into an ``ImageDataset`` with its bad files
    (``on_error``) and its data fingerprint (relative names of the decoded files)."""
    bad = BadFiles(on_error)
    parts, names = [], {}
    for split, (paths, labels) in (("train", train), ("test", test)):
        x, kept = decode_kept(paths, size, desc=f"{name} {split}", bad=bad, **options)
        parts += [x, labels_tensor(labels[i] for i in kept)]
        names[split] = [_relative(paths[i], directory) for i in kept]
    if len(train[0]) and len(test[0]) and parts[0].shape[1:] != parts[2].shape[1:] \
            and len(parts[0]) and len(parts[2]):
        raise BadDataError(directory, f"train images are {tuple(parts[0].shape[1:])} but test "
                                      f"images {tuple(parts[2].shape[1:])}; pass image_size to "
                                      f"resize both")
    return ImageDataset(*parts, classes, [str(e) for e in bad.errors], data_fingerprint(names))


def _relative(path: Path, directory: Path) -> str:
    try:
        return str(Path(path).relative_to(directory))
    except ValueError:
        return str(path)


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", initial=1, leave=False, mininterval=0.5,
                disable=None)                     # shown on a terminal only


def resize_tensor(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, size, size), bilinear with antialiasing, batched."""
    if x.shape[-2:] == (size, size):
        return x
    out = []
    for batch in x.split(4096):
        y = F.interpolate(batch.float(), size=(size, size), mode="bilinear",
                          align_corners=False, antialias=True)
        out.append(y.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out) if out else x.new_empty((0, x.shape[1], size, size))
