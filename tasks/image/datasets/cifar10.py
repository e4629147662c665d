"""CIFAR-10 (10 classes, 32×32): the official python pickles or an image-folder copy.

Looks in ``<data root>/cifar10/`` for either layout:

* ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` — the official release
  (``python data_scripts/cifar10.py --data-root DIR`` downloads it); every ``data_batch_N``
  present is read, in order of N. The pickles are read with a restricted unpickler that only
  rebuilds numpy arrays: anything else in the file is refused.
* ``train/<class>/*`` and ``test/<class>/*`` — e.g. the offline JPEG copy
  (``--from-archive ../shared/datasets/cifar10-jpg.tar.gz``); the sorted class folder names are
  the label order (alphabetical = the official order, airplane=0 … truck=9).

``max_per_class`` keeps the first k images of every class of each split (pickle order, or sorted
file names). ``image_size`` other than 32 resizes (bilinear, antialiased).
"""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import torch

from core.bad_data import BadDataError, check_splits, data_fingerprint
from core.registry import DATASETS

from .cache import cached, fingerprint, listing_fingerprint
from .decoding import decode_dataset, resize_tensor
from .folders import DatasetNotFoundError, dataset_dir, first_per_class, scan_class_folders
from .image_dataset import ImageDataset, check_options, labels_tensor

NAME = "cifar10"
NATIVE_SIZE = 32
PICKLE_DIR = "cifar-10-batches-py"
TEST_BATCH = "test_batch"
META = "batches.meta"
OFFLINE_ARCHIVE = "../shared/datasets/cifar10-jpg.tar.gz"
EXPECTED = f"{PICKLE_DIR}/ (official pickles) or train/<class>/ + test/<class>/ image folders"


def _numpy_reconstructors() -> dict[tuple[str, str], object]:
    try:                                  # numpy >= 2 moved the internals to numpy._core
        from numpy._core import multiarray, numeric
    except ImportError:                   # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray,
                                              ("numpy", "dtype"): np.dtype}
    for prefix in ("numpy.core", "numpy._core"):   # pickles name whichever numpy wrote them
        allowed[(f"{prefix}.multiarray", "_reconstruct")] = multiarray._reconstruct
        if hasattr(numeric, "_frombuffer"):
            allowed[(f"{prefix}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, numbers and numpy arrays; refuses every other global.

    The CIFAR batches hold nothing else, so a file that names another callable (``os.system``,
    ``builtins.eval``, …) is not a CIFAR batch and is refused before anything is called.
    """

    allowed = _numpy_reconstructors()

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name}: CIFAR batches only hold numpy arrays "
                f"and plain containers") from None


def read_pickle(path: Path) -> object:
    """A CIFAR batch file, read with ``RestrictedUnpickler`` (Python 2 strings become bytes)."""
    try:
        with open(path, "rb") as handle:
            return RestrictedUnpickler(handle, encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise BadDataError(path, exc) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise BadDataError(path, f"not a readable CIFAR batch ({type(exc).__name__}: {exc})"
                           ) from None


def _get(batch: object, key: str, path: Path):
    if not isinstance(batch, dict):
        raise BadDataError(path, "does not hold a dict")
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise BadDataError(path, f"has no {key!r} entry")


def _read_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    batch = read_pickle(path)
    data = _get(batch, "data", path)
    labels = _get(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * NATIVE_SIZE * NATIVE_SIZE:
        raise BadDataError(path, "'data' must be a uint8 (N, 3072) array")
    try:
        labels = [int(v) for v in labels]
    except (TypeError, ValueError) as exc:
        raise BadDataError(path, f"a label is not an integer ({exc})") from None
    if len(labels) != data.shape[0]:
        raise BadDataError(path, f"{len(labels)} labels for {data.shape[0]} images")
    return data, labels


def _class_names(meta_path: Path) -> list[str]:
    names = _get(read_pickle(meta_path), "label_names", meta_path)
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _split(paths: list[Path], max_per_class: int | None, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [_read_batch(p) for p in paths]
    data = np.concatenate([d for d, _ in parts])
    labels = [label for _, ls in parts for label in ls]
    keep = first_per_class(labels, max_per_class)
    x = torch.from_numpy(data[keep].reshape(-1, 3, NATIVE_SIZE, NATIVE_SIZE).copy())
    return resize_tensor(x, size), labels_tensor(labels[i] for i in keep)


def layout(directory: Path) -> str | None:
    """``"pickle"``, ``"folder"`` or None (nothing CIFAR-shaped in ``directory``)."""
    if (directory / PICKLE_DIR).is_dir():
        return "pickle"
    if (directory / "train").is_dir() and (directory / "test").is_dir():
        return "folder"
    return None


def _not_found(directory: Path, root: Path | None, detail: str = "") -> DatasetNotFoundError:
    return DatasetNotFoundError("CIFAR-10", directory, EXPECTED, "cifar10.py", root,
                                OFFLINE_ARCHIVE, detail)


def train_batches(folder: Path) -> list[Path]:
    """``data_batch_N`` files of ``folder`` in order of N (the official release has 1..5)."""
    found = [p for p in folder.glob("data_batch_*") if p.name[len("data_batch_"):].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len("data_batch_"):]))


def _load_pickles(directory: Path, root: Path, size: int, max_per_class: int | None) -> ImageDataset:
    folder = directory / PICKLE_DIR
    batches = train_batches(folder)
    missing = [n for n in (TEST_BATCH, META) if not (folder / n).is_file()]
    if not batches or missing:
        raise _not_found(directory, root, f"{folder} lacks {', '.join(missing or ['data_batch_1'])}.")
    files = [*batches, folder / TEST_BATCH, folder / META]
    stats = [f"{f.name} {f.stat().st_size} {f.stat().st_mtime_ns}" for f in files]
    key = fingerprint(["pickle", *stats])

    def build() -> ImageDataset:
        train_x, train_y = _split(batches, max_per_class, size)
        test_x, test_y = _split([folder / TEST_BATCH], max_per_class, size)
        digest = lambda p: f"{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()[:16]}"  # noqa: E731
        return ImageDataset(train_x, train_y, test_x, test_y, _class_names(folder / META),
                            fingerprint=data_fingerprint({"train": [digest(p) for p in batches],
                                                          "test": [digest(folder / TEST_BATCH)]}))

    return cached(directory, NAME, size, max_per_class, key, build)


def _load_folders(directory: Path, size: int, max_per_class: int | None,
                  on_error: str = "raise") -> ImageDataset:
    train_paths, train_labels, classes = scan_class_folders(directory / "train", None, max_per_class)
    test_paths, test_labels, _ = scan_class_folders(directory / "test", classes, max_per_class)
    key = listing_fingerprint(directory, ["folder", *classes], train_paths, train_labels,
                              test_paths, test_labels)

    def build() -> ImageDataset:
        return decode_dataset(directory, (train_paths, train_labels), (test_paths, test_labels),
                              classes, size, "CIFAR-10", on_error)

    return cached(directory, NAME, size, max_per_class, key, build, on_error)


def load(root: Path, image_size: int | None = None, max_per_class: int | None = None,
         on_error: str = "raise") -> ImageDataset:
    """CIFAR-10 from ``root/cifar10/`` (see the module docstring for the layouts)."""
    check_options(image_size, max_per_class)
    directory = dataset_dir(root, NAME, expected=EXPECTED, script="cifar10.py",
                            offline_archive=OFFLINE_ARCHIVE)
    found = layout(directory)
    if found is None:
        raise _not_found(directory, Path(root))
    size = image_size or NATIVE_SIZE
    if found == "pickle":
        return _load_pickles(directory, Path(root), size, max_per_class)
    return _load_folders(directory, size, max_per_class, on_error)


def describe(directory: Path) -> str:
    """A one-line summary of a prepared ``cifar10`` folder, without decoding (for data_scripts)."""
    found = layout(directory)
    if found == "pickle":
        folder = directory / PICKLE_DIR
        batches = train_batches(folder)
        if not batches or not (folder / TEST_BATCH).is_file():
            raise ValueError(f"{folder} lacks data_batch_N or {TEST_BATCH}")
        classes = _class_names(folder / META)
        return (f"official pickles, {len(batches)} training batches + {TEST_BATCH}, "
                f"{len(classes)} classes ({', '.join(classes)})")
    if found == "folder":
        train, _, classes = scan_class_folders(directory / "train", None, None)
        test, _, _ = scan_class_folders(directory / "test", classes, None)
        check_splits(directory, {"train": len(train), "test": len(test)})
        return f"image folders, {len(classes)} classes, {len(train)} train / {len(test)} test images"
    raise ValueError(f"{directory} holds neither {EXPECTED}")


DATASETS.register(NAME, load, namespace="image")
