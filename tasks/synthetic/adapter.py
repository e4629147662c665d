"""The synthetic image-classification task adapter."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.adapter import Splits
from core.classification import ClassificationAdapter
from core.config import from_dict
from core.data import TensorData, balanced_split
from core.registry import DATASETS, TASKS
from core.seeding import make_generator

from .data import SyntheticDataConfig, generate

DATASETS.register("synthetic", SyntheticDataConfig, namespace="synthetic")


@TASKS.register("synthetic")
class SyntheticTask(ClassificationAdapter):
    name = "synthetic"
    default_preset = "smoke"   # run.py --task synthetic alone

    def load_splits(self, dataset: str, data_root: Path | None, options: dict[str, Any],
                    seed: int) -> Splits:
        config: SyntheticDataConfig = from_dict(DATASETS.get(dataset, namespace=self.name),
                                                options)
        train_x, train_y, test_x, test_y = generate(config)
        held, rest = balanced_split(train_y, config.clean_per_class, config.num_classes,
                                    make_generator(seed))
        self.num_classes = config.num_classes
        self.image_shape = tuple(train_x.shape[1:])
        return Splits(train=TensorData(train_x[rest], train_y[rest]),
                      test=TensorData(test_x, test_y),
                      clean=TensorData(train_x[held], train_y[held]),
                      num_classes=config.num_classes,
                      info={"clean_size": len(held), "train_size": len(rest),
                            "test_size": len(test_y), "image_shape": list(self.image_shape)})

    def model_kwargs(self, splits: Splits) -> dict[str, Any]:
        return {"in_channels": splits.train.inputs.shape[1]}

    def input_bounds(self) -> tuple[float, float]:
        return 0.0, 1.0          # images are generated in [0, 1]
