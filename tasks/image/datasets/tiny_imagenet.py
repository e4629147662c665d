"""Tiny-ImageNet-200: 200 classes, 64×64, 500 train and 50 val images per class.

Looks in ``<data root>/tiny_imagenet/`` for the official ``tiny-imagenet-200/`` folder (or its
contents directly): ``wnids.txt``, ``train/<wnid>/images/*.JPEG`` and ``val/images/*.JPEG``
labelled by ``val/val_annotations.txt`` (tab-separated: file, wnid, box). The official test
split has no labels, so **val is the test split** here. Classes are the wnids in sorted order
(the order of an image-folder reader over ``train/``, which other suites use). ``image_size``
other than 64 resizes the whole image (bilinear, antialiased).
"""
from __future__ import annotations

from pathlib import Path

from core.bad_data import BadDataError, check_splits, text_lines
from core.registry import DATASETS

from .cache import cached, listing_fingerprint
from .decoding import decode_dataset
from .folders import (DatasetNotFoundError, dataset_dir, first_per_class, is_image_name,
                      scan_class_folders)
from .image_dataset import ImageDataset, check_options

NAME = "tiny_imagenet"
FOLDER = "tiny-imagenet-200"
NATIVE_SIZE = 64
EXPECTED = (f"{FOLDER}/ with wnids.txt, train/<wnid>/images/ and val/images/ + "
            f"val/val_annotations.txt")


def base_dir(directory: Path) -> Path:
    return directory / FOLDER if (directory / FOLDER).is_dir() else directory


def _not_found(directory: Path, root: Path | None, detail: str = "") -> DatasetNotFoundError:
    return DatasetNotFoundError("Tiny-ImageNet", directory, EXPECTED, "tiny_imagenet.py", root,
                                None, detail)


def read_wnids(path: Path) -> list[str]:
    seen: dict[str, int] = {}
    for number, line in text_lines(path):
        wnid = line.strip()
        if wnid and wnid in seen:
            raise BadDataError(path, f"wnid {wnid} is listed twice (first on line {seen[wnid]})",
                               number)
        if wnid:
            seen[wnid] = number
    return sorted(seen)


def index(directory: Path, max_per_class: int | None = None, root: Path | None = None):
    """(train paths, train labels, val paths, val labels, classes), without decoding."""
    base = base_dir(directory)
    wnids_file, annotations = base / "wnids.txt", base / "val" / "val_annotations.txt"
    for needed in (wnids_file, base / "train", base / "val" / "images", annotations):
        if not needed.exists():
            raise _not_found(directory, root, f"{needed} is missing.")
    classes = read_wnids(wnids_file)
    train_paths, train_labels, _ = scan_class_folders(base / "train", classes, max_per_class,
                                                      subfolder="images")
    label_of = {wnid: i for i, wnid in enumerate(classes)}
    items, seen = [], {}
    for line_no, line in text_lines(annotations):
        fields = line.split("\t")
        if not line.strip():
            continue
        if len(fields) < 2 or fields[1] not in label_of:
            raise BadDataError(annotations, f"expected 'file<TAB>wnid…' with a wnid from "
                                            f"wnids.txt, got {line!r}", line_no)
        if fields[0] in seen:
            raise BadDataError(annotations, f"{fields[0]} is listed twice (first on line "
                                            f"{seen[fields[0]]})", line_no)
        seen[fields[0]] = line_no
        if is_image_name(fields[0]):
            items.append((fields[0], label_of[fields[1]]))
    items.sort(key=lambda item: (item[1], item[0]))
    keep = first_per_class([label for _, label in items], max_per_class)
    val_paths = [base / "val" / "images" / items[i][0] for i in keep]
    val_labels = [items[i][1] for i in keep]
    return train_paths, train_labels, val_paths, val_labels, classes


def load(root: Path, image_size: int | None = None, max_per_class: int | None = None,
         on_error: str = "raise") -> ImageDataset:
    """Tiny-ImageNet from ``root/tiny_imagenet/``; the labelled val split is the test split."""
    check_options(image_size, max_per_class)
    directory = dataset_dir(root, NAME, expected=EXPECTED, script="tiny_imagenet.py")
    size = image_size or NATIVE_SIZE
    train_paths, train_labels, val_paths, val_labels, classes = index(directory, max_per_class,
                                                                      Path(root))
    key = listing_fingerprint(directory, list(classes), train_paths, train_labels, val_paths,
                              val_labels)

    def build() -> ImageDataset:
        return decode_dataset(directory, (train_paths, train_labels), (val_paths, val_labels),
                              classes, size, "Tiny-ImageNet", on_error)

    return cached(directory, NAME, size, max_per_class, key, build, on_error)


def describe(directory: Path) -> str:
    train, _, val, _, classes = index(directory)
    check_splits(directory, {"train": len(train), "val": len(val)})
    return f"{len(classes)} classes, {len(train)} train / {len(val)} val images"


DATASETS.register(NAME, load, namespace="image")
