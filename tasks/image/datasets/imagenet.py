"""ImageNet (ILSVRC-2012) in image-folder layout, decoded to one in-memory uint8 tensor.

Looks in ``<data root>/imagenet/`` for ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` (the
validation images sorted into class folders, as the usual ``valprep.sh`` does); classes are the
sorted wnids. Each image is scaled so its shorter side is ``image_size · 256/224`` and the
central ``image_size`` × ``image_size`` is kept (the standard 256 → 224 evaluation transform;
default ``image_size`` 224).

Holding ImageNet as one tensor is only practical with ``max_per_class``: the full training set
at 224 px is ~193 GB of uint8 (and so is its cache file). E.g. ``max_per_class=10`` is ~1.5 GB
for 1,000 classes. A warning is issued above 16 GiB.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from core.bad_data import check_splits
from core.registry import DATASETS

from .cache import cached, listing_fingerprint
from .decoding import decode_dataset
from .folders import DatasetNotFoundError, dataset_dir, scan_class_folders
from .image_dataset import ImageDataset, check_options

NAME = "imagenet"
DEFAULT_SIZE = 224
CROP_FRACTION = 224 / 256
WARN_BYTES = 16 * 2**30
EXPECTED = "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG"


def _not_found(directory: Path, root: Path | None, detail: str = "") -> DatasetNotFoundError:
    detail = (detail + " ImageNet has no public download: prepare it from your copy with "
              "--from-folder (train/ and val/ in class folders) or --from-archive.").strip()
    return DatasetNotFoundError("ImageNet", directory, EXPECTED, "imagenet.py", root, None, detail)


def index(directory: Path, max_per_class: int | None = None, root: Path | None = None):
    for split in ("train", "val"):
        if not (directory / split).is_dir():
            raise _not_found(directory, root, f"{directory / split} is missing.")
    train_paths, train_labels, classes = scan_class_folders(directory / "train", None, max_per_class)
    val_paths, val_labels, _ = scan_class_folders(directory / "val", classes, max_per_class)
    return train_paths, train_labels, val_paths, val_labels, classes


def load(root: Path, image_size: int | None = None, max_per_class: int | None = None,
         on_error: str = "raise") -> ImageDataset:
    """ImageNet from ``root/imagenet/``: resize shorter side + centre crop to ``image_size``."""
    check_options(image_size, max_per_class)
    directory = dataset_dir(root, NAME, expected=EXPECTED, script="imagenet.py")
    size = image_size or DEFAULT_SIZE
    train_paths, train_labels, val_paths, val_labels, classes = index(directory, max_per_class,
                                                                      Path(root))
    total = (len(train_paths) + len(val_paths)) * 3 * size * size
    if total > WARN_BYTES:
        warnings.warn(f"ImageNet at {size}px with max_per_class={max_per_class} needs "
                      f"{total / 2**30:.0f} GiB in memory (and as much for its cache); pass "
                      f"max_per_class to load a subset")
    key = listing_fingerprint(directory, list(classes), train_paths, train_labels, val_paths,
                              val_labels)

    def build() -> ImageDataset:
        return decode_dataset(directory, (train_paths, train_labels), (val_paths, val_labels),
                              classes, size, "ImageNet", on_error, resize="center_crop",
                              crop_fraction=CROP_FRACTION)

    return cached(directory, NAME, size, max_per_class, key, build, on_error)


def describe(directory: Path) -> str:
    train, _, val, _, classes = index(directory)
    check_splits(directory, {"train": len(train), "val": len(val)})
    return f"{len(classes)} classes, {len(train)} train / {len(val)} val images"


DATASETS.register(NAME, load, namespace="image")
