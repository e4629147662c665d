"""The image-classification task adapter (CIFAR-10, GTSRB, Tiny-ImageNet, ImageNet, folders).

Splits (docs/design.md §5b): the defender's clean set is class-balanced and held out from the attacker's
training data before anything else is chosen; its default size is the paper's for the dataset
(1 % CIFAR-10, 3 % GTSRB, 5 % Tiny-ImageNet, 3 % ImageNet; 1 % otherwise); ``clean_per_class=1``
is the one-shot setting. ``train_per_class`` / ``test_per_class`` take seeded class-balanced
subsets for CPU presets. Images become float32 in [0, 1].
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from torch import nn

from core.adapter import Splits
from core.augment import Augmentation
from core.classification import ClassificationAdapter
from core.bad_data import check_on_error
from core.config import from_dict
from core.data import TensorData, class_balanced_splits
from core.registry import AUGMENTATIONS, DATASETS, TASKS
from core.seeding import make_generator

from .jpeg import reencode_jpeg

PAPER_CLEAN_FRACTION = {"cifar10": 0.01, "gtsrb": 0.03, "tiny_imagenet": 0.05, "imagenet": 0.03}
NO_FLIP = {"gtsrb"}   # traffic signs change meaning when mirrored
DEFAULT_DATA_ROOT = "data"
WHITENING_IMAGES = 5000
PADDING_MODES = ("zeros", "reflect", "replicate")


@dataclass(frozen=True)
class ImageDataOptions:
    image_size: int | None = None        # loader default: 32 (CIFAR-10, GTSRB), 64 (Tiny), 224
    clean_fraction: float | None = None  # of the training set; None → the paper's size
    clean_per_class: int | None = None   # overrides clean_fraction (1 = one-shot)
    train_per_class: int | None = None   # attacker's subset (None = all that remain)
    test_per_class: int | None = None    # test subset (None = all)
    max_per_class: int | None = None     # images the loader reads per class (None = all)
    flip: bool | None = None             # horizontal flip in training; None → dataset default
    crop_padding: int = 4
    on_error: Literal["raise", "skip"] = "raise"   # bad image files (core/bad_data.py)
    crop_padding_mode: str = "zeros"     # zeros (torchvision's default), reflect (airbench94)
    jpeg_quality: int | None = None      # re-encode every image once at load (tasks/image/jpeg.py)

    def __post_init__(self) -> None:
        check_on_error(self.on_error)
        if self.clean_fraction is not None and not 0.0 < self.clean_fraction < 1.0:
            raise ValueError(f"clean_fraction must lie in (0, 1), got {self.clean_fraction}")
        for name in ("clean_per_class", "train_per_class", "test_per_class", "max_per_class",
                     "image_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")
        if self.crop_padding < 0:
            raise ValueError("crop_padding must be ≥ 0")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must lie in 1..100, got {self.jpeg_quality}")
        if self.crop_padding_mode not in PADDING_MODES:
            raise ValueError(f"crop_padding_mode must be one of {', '.join(PADDING_MODES)}, "
                             f"got {self.crop_padding_mode!r}")





@TASKS.register("image")
class ImageTask(ClassificationAdapter):
    name = "image"
    input_noun = "images"
    probe_model = True
    default_preset = "quick"   # run.py --task image alone

    def __init__(self) -> None:
        super().__init__()
        self.options = ImageDataOptions()
        self.dataset = ""

    def load_splits(self, dataset: str, data_root: Path | None, options: dict[str, Any],
                    seed: int) -> Splits:
        opts = from_dict(ImageDataOptions, options)
        loader = DATASETS.get(dataset, namespace=self.name)
        root = Path(data_root or os.environ.get("NFT_DATA_ROOT", DEFAULT_DATA_ROOT))
        raw = loader(root, image_size=opts.image_size, max_per_class=opts.max_per_class,
                     on_error=opts.on_error)
        num_classes = len(raw.classes)
        train_x, test_x = raw.train_x, raw.test_x
        if opts.jpeg_quality is not None:      # every split alike: held-out clean images too
            train_x = reencode_jpeg(train_x, opts.jpeg_quality)
            test_x = reencode_jpeg(test_x, opts.jpeg_quality)
        parts = class_balanced_splits(
            raw.train_y, raw.test_y, num_classes, make_generator(seed),
            clean_per_class=opts.clean_per_class,
            clean_fraction=opts.clean_fraction or PAPER_CLEAN_FRACTION.get(dataset, 0.01),
            train_per_class=opts.train_per_class, test_per_class=opts.test_per_class)
        held, train_index, test_index = parts.clean, parts.train, parts.test
        as_float = lambda x: x.float().div_(255.0)   # noqa: E731
        self.num_classes = num_classes
        self.options, self.dataset = opts, dataset
        return Splits(
            train=TensorData(as_float(train_x[train_index]), raw.train_y[train_index]),
            test=TensorData(as_float(test_x[test_index]), raw.test_y[test_index]),
            clean=TensorData(as_float(train_x[held]), raw.train_y[held]),
            num_classes=num_classes,
            info={"classes": list(raw.classes), "image_shape": list(raw.train_x.shape[1:]),
                  **parts.info(), "on_error": opts.on_error,
                  "bad_files": len(raw.bad_files), "bad_file_list": list(raw.bad_files),
                  "fingerprint": raw.fingerprint})

    def model_kwargs(self, splits: Splits) -> dict[str, Any]:
        shape = splits.train.inputs.shape
        return {"in_channels": shape[1], "image_size": shape[-1]}

    def build_model(self, name: str, splits: Splits) -> nn.Module:
        """Build ``name`` for these images, checked to take them (``TaskAdapter.build_model``)."""
        model = super().build_model(name, splits)
        if hasattr(model, "init_whitening"):
            # airbench's data-dependent first layer: patch statistics of (up to) 5,000 of the
            # attacker's images before poisoning; a cached model's weights replace it anyway
            model.init_whitening(splits.train.inputs[:WHITENING_IMAGES])
        return model.train()

    def train_augmentation(self) -> Augmentation:
        flip = self.options.flip if self.options.flip is not None else self.dataset not in NO_FLIP
        return AUGMENTATIONS.get("crop_flip", namespace=self.name)(
            self, padding=self.options.crop_padding, flip=flip,
            padding_mode=self.options.crop_padding_mode)

    def input_bounds(self) -> tuple[float, float]:
        return 0.0, 1.0          # float32 images in [0, 1]; any normalisation is in the model

    def feature_layers(self, model: nn.Module, example_input: Any) -> list[str]:
        """ResNet-style models (``layer1``..``layer4`` stages, as PreActResNet and timm's ResNets
        name them): the stage outputs, as NAD and BackdoorBench use them; others: the default."""
        stages = [f"layer{i}" for i in range(1, 5)]
        children = dict(model.named_children())
        if all(isinstance(children.get(name), nn.Module) for name in stages):
            return stages
        return super().feature_layers(model, example_input)
