"""Lossy re-encoding of a whole image set, to measure what JPEG storage costs a victim.

The offline CIFAR-10 copy is JPEG quality 75 with 4:2:0 chroma subsampling (colour at 16×16),
and no uncompressed copy is available here; GTSRB's PPM files are lossless. ``data.jpeg_quality``
re-encodes every image of a dataset (training, clean and test split alike) once at load, so the
same recipe can be trained on the lossless images and on their JPEG copy (GTSRB), or on the
JPEG copy and a second, lossier generation (CIFAR-10). PIL's encoder (libjpeg) with 4:2:0 chroma
subsampling, the layout of the offline CIFAR-10 files.
"""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image


def reencode_jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """``images`` (N, C, H, W) uint8, C = 1 or 3, each encoded as JPEG at ``quality`` (1-100,
    4:2:0 chroma subsampling) and decoded back; same shape and dtype. Runs once at
    load (a per-image loop: PIL encodes one image at a time)."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"reencode_jpeg needs (N, 1|3, H, W) uint8 images, got "
                         f"{tuple(images.shape)} {images.dtype}")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"jpeg quality must lie in 1..100, got {quality}")
    mode = "RGB" if images.shape[1] == 3 else "L"
    array = images.permute(0, 2, 3, 1).contiguous().numpy()
    out = np.empty_like(array)
    for i, image in enumerate(array):
        buffer = io.BytesIO()
        Image.fromarray(image if mode == "RGB" else image[..., 0], mode).save(
            buffer, format="JPEG", quality=int(quality), subsampling=2)   # 2 = 4:2:0
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert(mode))
        out[i] = decoded if mode == "RGB" else decoded[..., None]
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
