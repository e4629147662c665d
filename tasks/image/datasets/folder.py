"""``image_folder``: any classification dataset laid out as ``train/<class>/*`` + ``test/<class>/*``.

Where it looks: ``<data root>/image_folder/`` (``python data_scripts/image_folder.py --data-root
DIR --from-folder PATH`` puts a copy there), or an explicit ``folder=PATH`` (keyword argument of
``load``; relative paths are taken from the data root) that is used in place, e.g.
``load(root, folder="my_signs")`` reads ``<data root>/my_signs/``. The cache then lives in that
folder's ``.cache/``.

Classes are the sorted folder names of ``train/``; every ``test/`` folder must be one of them.
Without ``image_size`` all images must share one size; with it every image is resized to
``image_size`` × ``image_size`` (``resize="square"``: whole image stretched, the default) or
scaled and centre-cropped (``resize="center_crop"``).
"""
from __future__ import annotations

from pathlib import Path

from core.bad_data import check_splits
from core.registry import DATASETS

from .cache import cached, listing_fingerprint
from .decoding import RESIZE_MODES, decode_dataset
from .folders import DatasetNotFoundError, dataset_dir, scan_class_folders
from .image_dataset import ImageDataset, check_options

NAME = "image_folder"
EXPECTED = "train/<class>/* and test/<class>/*"


def index(directory: Path, max_per_class: int | None = None, root: Path | None = None):
    for split in ("train", "test"):
        if not (directory / split).is_dir():
            raise DatasetNotFoundError("image folder dataset", directory, EXPECTED,
                                       "image_folder.py --from-folder PATH", root,
                                       detail=f"{directory / split} is missing.")
    train_paths, train_labels, classes = scan_class_folders(directory / "train", None, max_per_class)
    test_paths, test_labels, _ = scan_class_folders(directory / "test", classes, max_per_class)
    return train_paths, train_labels, test_paths, test_labels, classes


def load(root: Path, image_size: int | None = None, max_per_class: int | None = None, *,
         folder: Path | str | None = None, resize: str = "square",
         on_error: str = "raise") -> ImageDataset:
    """The dataset in ``root/image_folder/`` (or ``folder``); see the module docstring."""
    check_options(image_size, max_per_class)
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if folder is not None:
        directory = Path(folder).expanduser()
        if not directory.is_absolute() and root is not None:
            directory = Path(root).expanduser() / directory
    else:
        directory = dataset_dir(root, NAME, expected=EXPECTED,
                                script="image_folder.py --from-folder PATH")
    train_paths, train_labels, test_paths, test_labels, classes = index(
        directory, max_per_class, Path(root) if root is not None else None)
    key = listing_fingerprint(directory, [*classes, resize], train_paths, train_labels,
                              test_paths, test_labels)
    size_label = "native" if image_size is None else (
        str(image_size) if resize == "square" else f"{image_size}crop")

    def build() -> ImageDataset:
        return decode_dataset(directory, (train_paths, train_labels), (test_paths, test_labels),
                              classes, image_size, "image folder", on_error, resize=resize)

    return cached(directory, NAME, size_label, max_per_class, key, build, on_error)


def describe(directory: Path) -> str:
    train, _, test, _, classes = index(directory)
    check_splits(directory, {"train": len(train), "test": len(test)})
    return f"{len(classes)} classes, {len(train)} train / {len(test)} test images"


DATASETS.register(NAME, load, namespace="image")
