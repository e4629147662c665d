"""The decoded-dataset cache of the image loaders.

The decoded tensors are cached as safetensors under
``<dataset dir>/.cache/<name>-<size>-<limit>.safetensors`` (``limit`` is ``max_per_class`` or
``all``), written atomically. The cache stores a fingerprint of the file list it was built from
and is rebuilt when that list changes; after editing images in place (same names), delete the
``.cache`` folder. A read-only dataset folder only costs a warning: the data are decoded again
on every load.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Callable, Iterable

from .image_dataset import ImageDataset

CACHE_FORMAT = "1"            # bump when the decoding changes, so old caches are rebuilt


def fingerprint(lines: Iterable[str]) -> str:
    digest = hashlib.sha256(f"format {CACHE_FORMAT}\n".encode())
    for line in lines:
        digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()


def listing_fingerprint(directory: Path, header: list[str], train_paths: list[Path],
                        train_labels: list[int], test_paths: list[Path],
                        test_labels: list[int]) -> str:
    """Cache key of a file-based split: ``header`` lines, then every relative path and label."""
    return fingerprint([*header, f"split {len(train_paths)}",
                        *(f"{p.relative_to(directory)}\t{y}" for p, y in
                          zip(train_paths + test_paths, train_labels + test_labels))])


def cache_path(directory: Path, name: str, size: int | str, max_per_class: int | None) -> Path:
    limit = "all" if max_per_class is None else str(max_per_class)
    return directory / ".cache" / f"{name}-{size}-{limit}.safetensors"


def _read_cache(path: Path, expected: str) -> ImageDataset | None:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = dict(handle.metadata() or {})
        if meta.get("fingerprint") != expected:
            return None
        tensors = load_file(str(path))
        return ImageDataset(tensors["train_x"], tensors["train_y"], tensors["test_x"],
                            tensors["test_y"], list(json.loads(meta["classes"])),
                            list(json.loads(meta.get("bad_files", "[]"))),
                            json.loads(meta.get("data_fingerprint", "null")))
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        warnings.warn(f"ignoring the unreadable dataset cache {path} ({exc}); decoding again")
        return None


def cached(directory: Path, name: str, size: int | str, max_per_class: int | None,
           key: str, build: Callable[[], ImageDataset], on_error: str = "raise") -> ImageDataset:
    """The cached dataset for ``key`` (a ``fingerprint``), else ``build()`` and cache it."""
    from core.checkpoint import save_state_dict

    key = key if on_error == "raise" else fingerprint([key, f"on_error {on_error}"])
    path = cache_path(directory, name, size, max_per_class)
    dataset = _read_cache(path, key)
    if dataset is not None:
        return dataset
    dataset = build()
    tensors = {"train_x": dataset.train_x, "train_y": dataset.train_y,
               "test_x": dataset.test_x, "test_y": dataset.test_y}
    try:
        save_state_dict(tensors, path, {"fingerprint": key, "classes": json.dumps(dataset.classes),
                                        "dataset": name, "bad_files": json.dumps(dataset.bad_files),
                                        "data_fingerprint": json.dumps(dataset.fingerprint)})
    except OSError as exc:
        warnings.warn(f"could not write the dataset cache {path} ({exc}); the next load decodes "
                      f"the images again")
    return dataset
