"""What every image loader returns (``ImageDataset``: uint8 images, int64 labels, per split) and
the options every loader takes (``check_options``).

Images are uint8 tensors (N, 3, H, W), always RGB (grayscale files get 3 equal planes); the
adapter converts to float. Under ``on_error="skip"`` the skipped files are kept in
``ImageDataset.bad_files`` (and in the cache and the run record).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import torch


@dataclass
class ImageDataset:
    """Train and test splits as uint8 (N, C, H, W) images and int64 (N,) labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    bad_files: list[str] = field(default_factory=list)   # skipped (on_error="skip"): messages
    fingerprint: dict | None = None                      # core.bad_data.data_fingerprint

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != torch.uint8 or x.ndim != 4:
                raise ValueError(f"{split}_x must be uint8 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
            if y.dtype != torch.int64 or tuple(y.shape) != (x.shape[0],):
                raise ValueError(f"{split}_y must be int64 ({x.shape[0]},), got {y.dtype} {tuple(y.shape)}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(self.classes)):
                raise ValueError(f"{split}_y holds labels outside 0..{len(self.classes) - 1}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


def check_options(image_size: int | None, max_per_class: int | None) -> None:
    for name, value in (("image_size", image_size), ("max_per_class", max_per_class)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")


def labels_tensor(labels: Iterable[int]) -> torch.Tensor:
    return torch.tensor(list(labels), dtype=torch.int64)
