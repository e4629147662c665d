"""The detection task adapter, task kind ``multilabel`` (the paper's Table 2).

Images from detection datasets (VOC07, VOC12, COCO, the composed set) are classified
multi-label: the target of an image is the multi-hot row of the categories of its objects.
Splits: the defender's clean set is a seeded ``clean_fraction`` (or ``clean_size``) of the
training images, held out before anything else (no class balancing: an image holds several
categories); ``train_size`` / ``test_size`` cut CPU presets (seeded / leading subsets). Images
are float32 in [0, 1], resized to ``image_size``².

Metrics (percent): ``map`` (non-interpolated AP per category, averaged; protocol in
``tasks/detection/metrics.py``), ``map_voc07`` (11-point), and for the clean-image attack
``asr`` (Chen et al.'s rule: top-K and score > threshold, see the attack), ``asr_control`` (the
same rule where the trigger is incomplete), ``asr_images`` (how many test images count).
Task kind ``boxes`` (``data.kind: boxes``): object detection with BadDet's backdoors on the same
datasets; its parts live in ``boxes.py`` (this class delegates to it) and its metrics are
``map`` (mAP@0.5), ``map_coco``, ``asr`` (ASR@0.5) and ``asr_clean``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from core.adapter import Splits, TaskAdapter
from core.attack import Attack
from core.augment import Augmentation
from core.bad_data import check_on_error
from core.config import from_dict
from core.data import TensorData
from core.registry import ATTACKS, DATASETS, MODELS, TASKS
from core.seeding import make_generator

from . import boxes as box_kind
from .compose import DEFAULT_SCENES, compose, noise_backgrounds, scene_categories, shape_objects
from .datasets import DetectionDataset, DetectionSet
from .datasets.common import source_summary
from .metrics import asymmetric_loss, bce_loss, mean_average_precision, predicted_labels

DEFAULT_DATA_ROOT = "data"
MAP_PROTOCOL = ("non-interpolated AP per category over all test images (ASL/ML-Decoder, "
                "sklearn average_precision_score), mean over categories with a positive")


@dataclass(frozen=True)
class DetectionDataOptions:
    kind: Literal["multilabel", "boxes"] = "multilabel"
    image_size: int = 64
    clean_fraction: float = 0.05        # of the training images (paper's image default: 1-5 %)
    clean_size: int | None = None       # overrides clean_fraction
    train_size: int | None = None       # attacker's subset after the clean split (None = all)
    test_size: int | None = None        # the first N test images (None = all)
    loss: Literal["bce", "asl"] = "bce"
    padding: int = 4                    # training shift augmentation (pixels)
    flip: bool = False
    synthetic_train: int = 600          # sizes of the in-memory ``synthetic`` set
    synthetic_test: int = 200
    on_error: Literal["raise", "skip"] = "raise"   # bad image/annotation files (core/bad_data)

    def __post_init__(self) -> None:
        check_on_error(self.on_error)
        if self.kind not in ("multilabel", "boxes"):
            raise ValueError(f"detection kind must be 'multilabel' or 'boxes', got {self.kind!r}")
        if not 0.0 < self.clean_fraction < 1.0:
            raise ValueError(f"clean_fraction must lie in (0, 1), got {self.clean_fraction}")
        for name in ("clean_size", "train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")
        if self.image_size < 16 or self.padding < 0:
            raise ValueError("image_size must be ≥ 16 and padding ≥ 0")
        if self.loss not in ("bce", "asl"):
            raise ValueError(f"loss must be 'bce' or 'asl', got {self.loss!r}")


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


@TASKS.register("detection")
class DetectionTask(TaskAdapter):
    name = "detection"
    default_preset = "detection_smoke"   # run.py --task detection alone
    DataOptions = DetectionDataOptions
    higher_is_better: ClassVar[dict[str, bool]] = {"map": True, "map_voc07": True, "asr": False,
                                                   "asr_control": False, "map_coco": True,
                                                   "asr_clean": False}
    default_nft_augmentation: ClassVar[str] = "mixup"
    primary_metric: ClassVar[str] = "map"

    def __init__(self) -> None:
        super().__init__()
        self.options = DetectionDataOptions()
        self.categories: list[str] = []
        self.train_targets: torch.Tensor | None = None
        self.test_annotations: list[dict] = []   # boxes/labels of the test images (figures)

    # -- data ---------------------------------------------------------------------------------
    def load_splits(self, dataset: str, data_root: Path | None, options: dict[str, Any],
                    seed: int) -> Splits:
        opts = from_dict(DetectionDataOptions, options)
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
        train_y, test_y = train_set.multi_hot(), test_set.multi_hot()
        as_float = lambda x: x.float().div_(255.0)   # noqa: E731
        self.options, self.categories = opts, list(train_set.categories)
        self.num_classes = len(self.categories)
        self.train_targets = train_y[train_idx]
        self.test_annotations = [test_set.annotations[i] for i in test_idx.tolist()]
        info = {"kind": opts.kind, "categories": self.categories,
                "train_size": len(train_idx), "clean_size": len(clean_idx),
                "test_size": len(test_idx), "image_size": opts.image_size,
                "labels_per_image": float(train_y.sum(1).mean()),
                "top_pairs_train": _cooccurrence(self.train_targets, self.categories),
                "map_protocol": MAP_PROTOCOL, "loss": opts.loss,
                "train_source": train_set.info, "test_source": test_set.info,
                **source_summary(train_set, test_set, test_idx)}
        if opts.kind == "boxes":
            self.default_nft_augmentation = "box_mixup"
            targets = [box_kind.box_targets(s.annotations, i, difficult) for s, i, difficult in
                       ((train_set, train_idx, False), (test_set, test_idx, True),
                        (train_set, clean_idx, False))]
            info.update({"map_protocol": box_kind.MAP_PROTOCOL, "loss": "fcos (torchvision)",
                         "objects_train": box_kind.describe_targets(targets[0])})
        else:
            targets = [self.train_targets, test_y[test_idx], train_y[clean_idx]]
        return Splits(train=TensorData(as_float(train_set.images[train_idx]), targets[0]),
                      test=TensorData(as_float(test_set.images[test_idx]), targets[1]),
                      clean=TensorData(as_float(train_set.images[clean_idx]), targets[2]),
                      num_classes=self.num_classes, info=info)

    def configure(self, data_options: dict[str, Any]) -> None:
        """The kind (``multilabel`` or ``boxes``) decides which defenses can serve the run; read
        it before the runner asks them (``load_splits`` reads the same options again)."""
        self.options = from_dict(DetectionDataOptions, data_options)
        if self.options.kind == "boxes":
            self.default_nft_augmentation = "box_mixup"

    @property
    def boxes(self) -> bool:
        return self.options.kind == "boxes"

    # -- models and attacks -------------------------------------------------------------------
    def build_model(self, name: str, splits: Splits) -> nn.Module:
        box_kind.check_model_name(name, self.options.kind)
        if self.boxes:
            return MODELS.get(name, namespace=self.name)(
                num_classes=splits.num_classes, image_size=self.options.image_size).train()
        model = MODELS.get(name, namespace=self.name)(num_classes=splits.num_classes)
        shape = tuple(splits.train.inputs.shape[1:])
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros((2, *shape)))
        if tuple(out.shape) != (2, splits.num_classes):
            raise ValueError(f"model {name!r} returns {tuple(out.shape)} for a batch of 2, "
                             f"expected (2, {splits.num_classes})")
        return model.train()

    def build_attack(self, name: str, options: dict[str, Any] | None, splits: Splits) -> Attack:
        attack = ATTACKS.get(name, namespace=self.name).from_options(options, splits.num_classes)
        box_kind.check_attack(attack, self.options.kind)
        if self.boxes:
            return attack.bind(splits.info["categories"])
        if not hasattr(attack, "bind"):
            raise ValueError(f"attack {name!r} is not a multi-label attack")
        return attack.bind(splits.info["categories"], splits.train.targets)

    # -- training -----------------------------------------------------------------------------
    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, reduction: str) -> torch.Tensor:
        if self.options.loss == "asl":
            return asymmetric_loss(logits, targets, reduction=reduction)
        return bce_loss(logits, targets, reduction=reduction)

    def loss(self, model: nn.Module, inputs: torch.Tensor, targets: Any) -> torch.Tensor:
        if self.boxes:
            return box_kind.loss(model, inputs, targets)
        return self._loss(model(inputs), targets, "mean")

    def sample_losses(self, model: nn.Module, inputs: torch.Tensor,
                      targets: torch.Tensor) -> torch.Tensor:
        if self.boxes:
            raise box_kind.refuse("sample_losses")
        return self._loss(model(inputs), targets, "none")

    def predicted_targets(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """The model's own multi-hot predictions (sigmoid score > 0.5)."""
        if self.boxes:
            raise box_kind.refuse("predicted_targets")
        return (torch.sigmoid(model(inputs).float()) > 0.5).float()

    # -- capabilities that depend on the kind (known once the options are read) ------------------
    def can_predict_targets(self) -> bool:
        return not self.boxes

    def implements(self, method: str) -> bool:
        if self.boxes and method == "sample_losses":
            return False
        return super().implements(method)

    def output_layers(self, model: nn.Module, example_input: Any) -> list[str]:
        if self.boxes:
            return box_kind.output_layers(model)
        return super().output_layers(model, example_input)

    def train_augmentation(self) -> Augmentation:
        if self.boxes:
            from .box_augmentations import BoxShiftFlip

            return BoxShiftFlip(padding=self.options.padding, flip=self.options.flip)
        from .augmentations import ShiftFlip

        return ShiftFlip(padding=self.options.padding, flip=self.options.flip)

    def samples_per_class(self, clean: TensorData) -> float:
        """N_c: clean images per category, counted by positive labels (≥ 1); boxes: objects
        per category."""
        if self.boxes:
            return box_kind.samples_per_class(clean, self.num_classes or 1)
        return max(1.0, float((clean.targets > 0.5).sum()) / max(1, clean.targets.shape[1]))

    def input_bounds(self) -> tuple[float, float]:
        return 0.0, 1.0

    # -- evaluation ---------------------------------------------------------------------------
    @torch.no_grad()
    def scores(self, model: nn.Module, inputs: torch.Tensor, device: torch.device,
               batch_size: int = 512) -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            out = [torch.sigmoid(model(inputs[s:s + batch_size].to(device)).float()).cpu()
                   for s in range(0, inputs.shape[0], batch_size)]
        finally:
            model.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, self.num_classes or 0)

    def evaluate(self, model: nn.Module, test: TensorData, attack: Attack | None,
                 device: torch.device, batch_size: int = 512) -> dict[str, float]:
        if self.boxes:
            return box_kind.evaluate(model, test, attack, device, batch_size)
        scores = self.scores(model, test.inputs, device, batch_size)
        labels = test.targets.cpu()
        metrics = {"map": mean_average_precision(scores, labels)[0],
                   "map_voc07": mean_average_precision(scores, labels, eleven_point=True)[0]}
        if attack is not None:
            cfg = attack.config
            predicted = predicted_labels(scores, cfg.top_k, cfg.threshold)
            for key, rows in (("asr", attack.eval_selection(labels)),
                              ("asr_control", attack.control_selection(labels))):
                hits = attack.success(predicted[rows])
                metrics[key] = 100.0 * hits.double().mean().item() if len(hits) else float("nan")
            metrics["asr_images"] = float(attack.eval_selection(labels).sum())
        return metrics
