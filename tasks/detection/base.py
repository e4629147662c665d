"""What the two detection tasks share: the data options, the in-memory ``synthetic`` set and the
splits of a detection dataset.

Both tasks (``detection``, multi-label classification, ``adapter.py``; ``detection_boxes``,
object detection, ``box_adapter.py``) read the same datasets through the same loaders
(``datasets/``) and split them the same way: the defender's clean set is a seeded
``clean_fraction`` (or ``clean_size``) of the training images, held out before anything else (no
class balancing: an image holds several categories); ``train_size`` / ``test_size`` cut CPU
presets (seeded / leading subsets). Images are float32 in [0, 1], resized to ``image_size``².
Each task turns the images' annotations into its own targets (``split_targets``).
"""
from __future__ import annotations

import os
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from core.adapter import Splits, TaskAdapter
from core.bad_data import check_on_error
from core.config import from_dict
from core.data import TensorData
from core.registry import DATASETS
from core.seeding import make_generator

from .compose import DEFAULT_SCENES, compose, noise_backgrounds, scene_categories, shape_objects
from .datasets import DetectionDataset, DetectionSet
from .datasets.detection_set import source_summary

DEFAULT_DATA_ROOT = "data"


@dataclass(frozen=True)
class DetectionDataOptions:
    """The data options of both detection tasks (each task's options add their own)."""

    image_size: int = 64
    clean_fraction: float = 0.05        # of the training images (paper's image default: 1-5 %)
    clean_size: int | None = None       # overrides clean_fraction
    train_size: int | None = None       # attacker's subset after the clean split (None = all)
    test_size: int | None = None        # the first N test images (None = all)
    padding: int = 4                    # training shift augmentation (pixels)
    flip: bool = False
    synthetic_train: int = 600          # sizes of the in-memory ``synthetic`` set
    synthetic_test: int = 200
    on_error: Literal["raise", "skip"] = "raise"   # bad image/annotation files (core/bad_data)

    def __post_init__(self) -> None:
        check_on_error(self.on_error)
        if not 0.0 < self.clean_fraction < 1.0:
            raise ValueError(f"clean_fraction must lie in (0, 1), got {self.clean_fraction}")
        for name in ("clean_size", "train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")
        if self.image_size < 16 or self.padding < 0:
            raise ValueError("image_size must be ≥ 16 and padding ≥ 0")


def synthetic_sets(opts: DetectionDataOptions) -> tuple[DetectionSet, DetectionSet]:
    """Coloured shapes on smooth noise, composed with the default scene statistics."""
    categories = scene_categories(DEFAULT_SCENES)
    out = []
    for split, (count, seed) in enumerate(((opts.synthetic_train, 11), (opts.synthetic_test, 12))):
        objects = shape_objects(categories, 4, seed=0)   # same looks in both splits
        backgrounds = noise_backgrounds(32, opts.image_size, seed)
        images, annotations, _ = compose(objects, backgrounds, count, opts.image_size, seed,
                                         object_size=(opts.image_size // 4, opts.image_size // 2))
        out.append(DetectionSet(images, annotations, categories))
    return out[0], out[1]


def _cooccurrence(targets: torch.Tensor, categories: list[str], top: int = 8) -> list[list]:
    """The most frequent category pairs of the training labels (for choosing triggers)."""
    labels = (targets > 0.5).float()
    counts = labels.T @ labels
    pairs = [(int(counts[i, j]), categories[i], categories[j])
             for i in range(len(categories)) for j in range(i + 1, len(categories))]
    pairs.sort(key=lambda p: -p[0])
    return [[a, b, n] for n, a, b in pairs[:top]]


class DetectionTaskBase(TaskAdapter):
    """The splits and bounds both detection tasks share; a task gives its ``DataOptions``, its
    ``kind`` and ``map_protocol`` (recorded), and its targets (``split_targets``)."""

    DataOptions: ClassVar[type[DetectionDataOptions]] = DetectionDataOptions
    kind: ClassVar[str]
    map_protocol: ClassVar[str]
    primary_metric: ClassVar[str] = "map"
    input_noun: ClassVar[str] = "images"

    def __init__(self) -> None:
        super().__init__()
        self.options = self.DataOptions()
        self.categories: list[str] = []
        self.train_targets: torch.Tensor | None = None   # multi-hot rows (co-occurrence counts)
        self.test_annotations: list[dict] = []   # boxes/labels of the test images (figures)

    @abstractmethod
    def split_targets(self, train: DetectionSet, test: DetectionSet,
                      index: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
                      ) -> tuple[list[Any], dict[str, Any]]:
        """The (train, test, clean) targets of the images at ``index`` (train, test and clean
        positions) and what the record keeps about them beyond the shared split info."""

    @abstractmethod
    def loss_name(self) -> str:
        """The training loss as the record names it."""

    # -- data ---------------------------------------------------------------------------------
    def load_splits(self, dataset: str, data_root: Path | None, options: dict[str, Any],
                    seed: int) -> Splits:
        opts = from_dict(self.DataOptions, options)
        spec: DetectionDataset = DATASETS.get(dataset, namespace=self.name)
        if spec.name == "synthetic":
            train_set, test_set = synthetic_sets(opts)
        else:
            root = Path(data_root or os.environ.get("NFT_DATA_ROOT", DEFAULT_DATA_ROOT))
            train_set, test_set = spec.load(root, opts.image_size, opts.on_error)
        n = len(train_set)
        generator = make_generator(seed)
        order = torch.randperm(n, generator=generator)
        n_clean = opts.clean_size or max(1, round(opts.clean_fraction * n))
        if n_clean >= n:
            raise ValueError(f"a clean split of {n_clean} leaves no training images (of {n})")
        clean_idx = order[:n_clean].sort().values
        pool = order[n_clean:]
        train_idx = (pool[:opts.train_size] if opts.train_size else pool).sort().values
        test_idx = torch.arange(min(len(test_set), opts.test_size or len(test_set)))
        train_y = train_set.multi_hot()
        as_float = lambda x: x.float().div_(255.0)   # noqa: E731
        self.options, self.categories = opts, list(train_set.categories)
        self.num_classes = len(self.categories)
        self.train_targets = train_y[train_idx]
        self.test_annotations = [test_set.annotations[i] for i in test_idx.tolist()]
        info = {"kind": self.kind, "categories": self.categories,
                "train_size": len(train_idx), "clean_size": len(clean_idx),
                "test_size": len(test_idx), "image_size": opts.image_size,
                "labels_per_image": float(train_y.sum(1).mean()),
                "top_pairs_train": _cooccurrence(self.train_targets, self.categories),
                "map_protocol": self.map_protocol, "loss": self.loss_name(),
                "train_source": train_set.info, "test_source": test_set.info,
                **source_summary(train_set, test_set, test_idx)}
        targets, described = self.split_targets(train_set, test_set,
                                                (train_idx, test_idx, clean_idx))
        info.update(described)
        return Splits(train=TensorData(as_float(train_set.images[train_idx]), targets[0]),
                      test=TensorData(as_float(test_set.images[test_idx]), targets[1]),
                      clean=TensorData(as_float(train_set.images[clean_idx]), targets[2]),
                      num_classes=self.num_classes, info=info)

    def input_bounds(self) -> tuple[float, float]:
        return 0.0, 1.0
