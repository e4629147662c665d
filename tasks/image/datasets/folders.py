"""Finding an image dataset's files: its folder under the data root (or the error that says how
to prepare it), image files by extension, class folders, the first images of every class."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pnm", ".bmp", ".gif",
                              ".tif", ".tiff", ".webp"})


class DatasetNotFoundError(FileNotFoundError):
    """A dataset that is missing or incomplete; the message says where and how to prepare it."""

    def __init__(self, dataset: str, looked_in: Path | None, expected: str, script: str,
                 data_root: Path | None = None, offline_archive: str | None = None,
                 detail: str = "") -> None:
        root = str(data_root) if data_root is not None else "DIR"
        commands = [f"python data_scripts/{script} --data-root {root}"]
        if offline_archive:
            commands.append(f"python data_scripts/{script} --data-root {root} "
                            f"--from-archive {offline_archive}")
        where = f"looked in {looked_in}" if looked_in is not None else "no --data-root was given"
        message = (f"{dataset} not found: {where} for {expected}."
                   + (f" {detail}" if detail else "")
                   + "\nPrepare it with one of:\n  " + "\n  ".join(commands))
        super().__init__(message)
        self.path = looked_in


def dataset_dir(root: Path | str | None, name: str, **not_found: str) -> Path:
    """``root/<name>``; raises ``DatasetNotFoundError`` (with ``not_found``'s hints) when absent."""
    if root is None:
        raise DatasetNotFoundError(name, None, not_found.get("expected", "the dataset"),
                                   not_found.get("script", f"{name}.py"), None,
                                   not_found.get("offline_archive"))
    return Path(root).expanduser() / name


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder: Path) -> list[str]:
    """Sorted names of the image files directly inside ``folder``."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if is_image_name(e.name) and e.is_file())


def list_subdirs(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def first_per_class(labels: Sequence[int], k: int | None) -> list[int]:
    """Indices of the first ``k`` items of every label, in their original order."""
    if k is None:
        return list(range(len(labels)))
    seen: dict[int, int] = {}
    keep = []
    for i, label in enumerate(labels):
        if seen.get(label, 0) < k:
            seen[label] = seen.get(label, 0) + 1
            keep.append(i)
    return keep


def scan_class_folders(split_dir: Path, classes: list[str] | None, max_per_class: int | None,
                       subfolder: str = "") -> tuple[list[Path], list[int], list[str]]:
    """``split_dir/<class>/[subfolder/]*`` -> (paths, labels, classes).

    Without ``classes`` the sorted folder names define them (the label order); with ``classes``
    (the test split) every folder must be one of them. Files are taken in sorted name order,
    the first ``max_per_class`` of each class.
    """
    found = list_subdirs(split_dir)
    if classes is None:
        classes = found
        if not classes:
            raise ValueError(f"{split_dir} has no class folders")
    else:
        unknown = sorted(set(found) - set(classes))
        if unknown:
            raise ValueError(f"{split_dir} has class folders missing from the training split: "
                             f"{', '.join(unknown[:5])}")
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        folder = split_dir / name / subfolder if subfolder else split_dir / name
        if not folder.is_dir():
            continue
        names = list_images(folder)[:max_per_class]
        paths += [folder / n for n in names]
        labels += [label] * len(names)
    return paths, labels, classes
