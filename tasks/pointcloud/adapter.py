"""The point-cloud classification task adapter (ModelNet10/40, synthetic primitives).

Inputs are float32 clouds (N, P, 3) in the unit sphere, a fixed P per dataset; targets class ids.
Splits: the defender's clean set is class-balanced and held out from the attacker's training
data first. The paper does not state its clean-set size for point clouds; the default here is
5 % of the training set (ModelNet10: 200 shapes, 20 per class; 1 % would be 4 per class, under
one NFT batch). ``train_per_class`` / ``test_per_class`` take seeded class-balanced subsets.

Baselines that search one universal additive perturbation of the input tensor (I-BAU, AWM)
are refused, through the declared capability ``continuous_inputs = False``. The coordinates are
continuous, but such a δ is indexed by point *slot*, and a point cloud is an unordered set: slot i
holds an unrelated point in every shape (and after every resampling), so a "universal" δ is noise
on random points rather than a trigger estimate. ``capability_reason`` gives the refusal that
reason (point order) instead of core's generic "inputs are not continuous". A
permutation-invariant version (a perturbation field δ(x) over space) is possible but would be a
new defense, not I-BAU or AWM. Every other baseline
works on point clouds unchanged (FT, FP, ANP, RNP, NAD, FT-SAM, MCR, ABL, CBD): they touch
weights, masks or features only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.adapter import Splits
from core.augment import Augmentation
from core.classification import ClassificationAdapter
from core.bad_data import check_on_error, data_fingerprint
from core.config import from_dict
from core.data import TensorData, class_balanced_splits
from core.registry import DATASETS, TASKS
from core.seeding import make_generator

from . import datasets as modelnet
from .augmentations import ScaleTranslateJitter
from .synthetic import SyntheticPointsConfig, generate

DEFAULT_DATA_ROOT = "data"
DEFAULT_CLEAN_FRACTION = 0.05


@dataclass(frozen=True)
class PointDataOptions:
    num_points: int = 1024                # points per shape (the PCD copy holds 1,024)
    clean_fraction: float | None = None   # of the training set; None → 5 %
    clean_per_class: int | None = None    # overrides clean_fraction
    train_per_class: int | None = None    # attacker's subset (None = all that remain)
    test_per_class: int | None = None     # test subset (None = all)
    max_per_class: int | None = None      # shapes the loader reads per class (None = all)
    on_error: Literal["raise", "skip"] = "raise"   # bad shape files (core/bad_data.py)

    def __post_init__(self) -> None:
        check_on_error(self.on_error)
        if self.clean_fraction is not None and not 0.0 < self.clean_fraction < 1.0:
            raise ValueError(f"clean_fraction must lie in (0, 1), got {self.clean_fraction}")
        if self.num_points < 16:
            raise ValueError(f"num_points must be ≥ 16, got {self.num_points}")
        for name in ("clean_per_class", "train_per_class", "test_per_class", "max_per_class"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")


def _load_modelnet(name: str):
    def load(root: Path, options: PointDataOptions) -> modelnet.PointDataset:
        return modelnet.load(root, name, options.num_points, options.max_per_class,
                             options.on_error)
    load.__name__ = f"load_{name}"
    return load


DATASETS.register("modelnet10", _load_modelnet("modelnet10"), namespace="pointcloud")
DATASETS.register("modelnet40", _load_modelnet("modelnet40"), namespace="pointcloud")
DATASETS.register("synthetic", SyntheticPointsConfig, namespace="pointcloud")





@TASKS.register("pointcloud")
class PointCloudTask(ClassificationAdapter):
    name = "pointcloud"
    input_noun = "clouds"
    probe_model = True
    default_preset = "pointcloud_smoke"   # run.py --task pointcloud alone
    default_nft_augmentation = "point_mix"
    #: an additive δ over point slots means nothing for unordered point sets (module docstring):
    #: I-BAU and AWM refuse point clouds
    continuous_inputs = False

    def __init__(self) -> None:
        super().__init__()
        self.up_axis = 2

    def capability_reason(self, capability: str) -> str | None:
        if capability == "continuous_inputs":
            return ("a point cloud is an unordered set of points: one perturbation δ indexed by "
                    "point slot moves an unrelated point of every shape (slot i is a different "
                    "surface point in each cloud and after each resampling), so it cannot "
                    "estimate a trigger (the coordinates are continuous; the point order is "
                    "meaningless)")
        return None

    def load_splits(self, dataset: str, data_root: Path | None, options: dict[str, Any],
                    seed: int) -> Splits:
        entry = DATASETS.get(dataset, namespace=self.name)
        generator = make_generator(seed)
        if entry is SyntheticPointsConfig:
            config: SyntheticPointsConfig = from_dict(SyntheticPointsConfig, options)
            train_x, train_y, test_x, test_y = generate(config)
            classes = [f"primitive{c}" for c in range(config.num_classes)]
            parts = class_balanced_splits(train_y, test_y, config.num_classes, generator,
                                          clean_per_class=config.clean_per_class)
            info = {"layout": "synthetic", "skipped_files": 0}
            self.up_axis = 2
        else:
            opts: PointDataOptions = from_dict(PointDataOptions, options)
            root = Path(data_root or os.environ.get("NFT_DATA_ROOT", DEFAULT_DATA_ROOT))
            raw = entry(root, opts)
            train_x, train_y, test_x, test_y = raw.train_x, raw.train_y, raw.test_x, raw.test_y
            classes = raw.classes
            parts = class_balanced_splits(
                train_y, test_y, len(classes), generator, clean_per_class=opts.clean_per_class,
                clean_fraction=opts.clean_fraction or DEFAULT_CLEAN_FRACTION,
                train_per_class=opts.train_per_class, test_per_class=opts.test_per_class)
            info = {"layout": raw.layout, "skipped_files": len(raw.skipped),
                    "on_error": opts.on_error, "bad_files": len(raw.skipped),
                    "bad_file_list": list(raw.skipped),
                    "fingerprint": data_fingerprint(raw.files) if raw.files else None}
            self.up_axis = raw.up_axis
        self.num_classes = len(classes)
        info.update({"classes": list(classes), "num_points": int(train_x.shape[1]),
                     "up_axis": "xyz"[self.up_axis], **parts.info()})
        held, train_index, test_index = parts.clean, parts.train, parts.test
        return Splits(train=TensorData(train_x[train_index], train_y[train_index]),
                      test=TensorData(test_x[test_index], test_y[test_index]),
                      clean=TensorData(train_x[held], train_y[held]),
                      num_classes=len(classes), info=info)

    def train_augmentation(self) -> Augmentation:
        return ScaleTranslateJitter()

