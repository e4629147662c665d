"""GTSRB (German Traffic Sign Recognition Benchmark): 43 classes, resized to 32×32 by default.

Looks in ``<data root>/gtsrb/`` for the official layout (what the official zips unpack to):

* training: ``GTSRB/Final_Training/Images/000NN/*.ppm`` with ``GT-000NN.csv`` (``;``-separated:
  Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId); a class folder without its CSV
  takes the folder number as the label;
* test: ``GTSRB/Final_Test/Images/*.ppm`` labelled by ``GT-final_test.csv`` (column ClassId, from
  the separate ``GTSRB_Final_Test_GT.zip``), found in ``GTSRB/Final_Test/``,
  ``GTSRB/Final_Test/Images/`` or ``GTSRB/``.

The images vary in size (15–250 px); as in the paper the whole image is resized to a square
(``image_size``, default 32; bilinear, antialiased). The ROI columns are read but not used for
cropping. ``max_per_class`` keeps the first k images of each class in sorted file-name order.
"""
from __future__ import annotations

import csv
from pathlib import Path

from core.bad_data import BadDataError, check_splits
from core.registry import DATASETS

from .cache import cached, listing_fingerprint
from .decoding import decode_dataset
from .folders import (DatasetNotFoundError, dataset_dir, first_per_class, is_image_name,
                      list_images, list_subdirs)
from .image_dataset import ImageDataset, check_options

NAME = "gtsrb"
DEFAULT_SIZE = 32
NUM_CLASSES = 43
OFFLINE_ARCHIVE = "../shared/datasets/gtsrb-subset.tar.gz"
EXPECTED = ("GTSRB/Final_Training/Images/000NN/ and GTSRB/Final_Test/Images/ with "
            "GT-final_test.csv")
TEST_CSV = "GT-final_test.csv"

CLASSES = [
    "speed limit 20", "speed limit 30", "speed limit 50", "speed limit 60", "speed limit 70",
    "speed limit 80", "end of speed limit 80", "speed limit 100", "speed limit 120", "no passing",
    "no passing for vehicles over 3.5 t", "right-of-way at the next intersection", "priority road",
    "yield", "stop", "no vehicles", "vehicles over 3.5 t prohibited", "no entry", "general caution",
    "dangerous curve to the left", "dangerous curve to the right", "double curve", "bumpy road",
    "slippery road", "road narrows on the right", "road work", "traffic signals", "pedestrians",
    "children crossing", "bicycles crossing", "beware of ice/snow", "wild animals crossing",
    "end of all speed and passing limits", "turn right ahead", "turn left ahead", "ahead only",
    "go straight or right", "go straight or left", "keep right", "keep left",
    "roundabout mandatory", "end of no passing", "end of no passing by vehicles over 3.5 t",
]
assert len(CLASSES) == NUM_CLASSES


def _read_csv(path: Path) -> list[tuple[str, int]]:
    """(Filename, ClassId) rows of a GTSRB annotation file."""
    try:
        return _read_csv_rows(path)
    except UnicodeDecodeError as exc:
        raise BadDataError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise BadDataError(path, f"malformed CSV ({exc})") from None


def _read_csv_rows(path: Path) -> list[tuple[str, int]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=";")
        fields = [f.strip() for f in reader.fieldnames or []]
        if "Filename" not in fields or "ClassId" not in fields:
            raise BadDataError(path, f"no Filename/ClassId columns (found {fields})")
        rows = []
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            if not row.get("Filename"):
                continue
            try:
                label = int(row["ClassId"])
            except ValueError:
                raise BadDataError(path, f"ClassId {row['ClassId']!r} is not an integer",
                                   line) from None
            if not 0 <= label < NUM_CLASSES:
                raise BadDataError(path, f"ClassId {label} outside 0..{NUM_CLASSES - 1}", line)
            rows.append((row["Filename"], label))
    return rows


def base_dir(directory: Path) -> Path:
    """The folder holding Final_Training/ and Final_Test/ (``GTSRB/`` in the official zips)."""
    return directory / "GTSRB" if (directory / "GTSRB").is_dir() else directory


def test_csv(base: Path) -> Path | None:
    for candidate in (base / "Final_Test" / TEST_CSV, base / "Final_Test" / "Images" / TEST_CSV,
                      base / TEST_CSV, base.parent / TEST_CSV):
        if candidate.is_file():
            return candidate
    return None


def _select(items: list[tuple[Path, int]], max_per_class: int | None) -> tuple[list[Path], list[int]]:
    items = sorted(items, key=lambda item: (item[1], str(item[0])))
    keep = first_per_class([label for _, label in items], max_per_class)
    return [items[i][0] for i in keep], [items[i][1] for i in keep]


def index(directory: Path, max_per_class: int | None = None,
          root: Path | None = None) -> tuple[list[Path], list[int], list[Path], list[int]]:
    """Train and test (paths, labels) of a prepared ``gtsrb`` folder, without decoding."""
    base = base_dir(directory)
    train_dir, test_dir = base / "Final_Training" / "Images", base / "Final_Test" / "Images"
    for folder in (train_dir, test_dir):
        if not folder.is_dir():
            raise _not_found(directory, root, f"{folder} is missing.")
    gt = test_csv(base)
    if gt is None:
        detail = (f"The test labels {TEST_CSV} are missing (they come in GTSRB_Final_Test_GT.zip; "
                  f"GT-final_test.test.csv has no ClassId).")
        raise _not_found(directory, root, detail)
    train: list[tuple[Path, int]] = []
    for name in list_subdirs(train_dir):
        folder = train_dir / name
        annotations = folder / f"GT-{name}.csv"
        if annotations.is_file():
            train += [(folder / f, label) for f, label in _read_csv(annotations)]
        elif name.isdigit() and int(name) < NUM_CLASSES:
            train += [(folder / f, int(name)) for f in list_images(folder)]
        else:
            raise ValueError(f"{folder}: neither GT-{name}.csv nor a class number as folder name")
    test = [(test_dir / f, label) for f, label in _read_csv(gt) if is_image_name(f)]
    return (*_select(train, max_per_class), *_select(test, max_per_class))


def _not_found(directory: Path, root: Path | None, detail: str = "") -> DatasetNotFoundError:
    return DatasetNotFoundError("GTSRB", directory, EXPECTED, "gtsrb.py", root, OFFLINE_ARCHIVE,
                                detail)


def load(root: Path, image_size: int | None = None, max_per_class: int | None = None,
         on_error: str = "raise") -> ImageDataset:
    """GTSRB from ``root/gtsrb/`` resized to ``image_size`` (default 32)."""
    check_options(image_size, max_per_class)
    directory = dataset_dir(root, NAME, expected=EXPECTED, script="gtsrb.py",
                            offline_archive=OFFLINE_ARCHIVE)
    size = image_size or DEFAULT_SIZE
    train_paths, train_labels, test_paths, test_labels = index(directory, max_per_class, Path(root))
    key = listing_fingerprint(directory, [], train_paths, train_labels, test_paths, test_labels)

    def build() -> ImageDataset:
        return decode_dataset(directory, (train_paths, train_labels), (test_paths, test_labels),
                              list(CLASSES), size, "GTSRB", on_error)

    return cached(directory, NAME, size, max_per_class, key, build, on_error)


def describe(directory: Path) -> str:
    train, train_labels, test, _ = index(directory)
    check_splits(directory, {"train": len(train), "test": len(test)})
    return (f"{len(train)} train images in {len(set(train_labels))} classes, "
            f"{len(test)} test images")


DATASETS.register(NAME, load, namespace="image")
