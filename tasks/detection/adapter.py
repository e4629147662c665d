"""The ``detection`` task: multi-label classification of detection datasets (the paper's
Table 2). Its sibling ``detection_boxes`` (object detection, ``box_adapter.py``) shares the
datasets, loaders and splits (``base.py``).

Images from detection datasets (VOC07, VOC12, COCO, the composed set) are classified
multi-label: the target of an image is the multi-hot row of the categories of its objects.
Splits: ``base.py``.

Metrics (percent): ``map`` (non-interpolated AP per category, averaged; protocol in
``tasks/detection/metrics.py``), ``map_voc07`` (11-point), and for the clean-image attack
``asr`` (Chen et al.'s rule: top-K and score > threshold, see the attack), ``asr_control`` (the
same rule where the trigger is incomplete), ``asr_images`` (how many test images count).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from core.attack import Attack
from core.augment import Augmentation
from core.config import ConfigError
from core.data import TensorData
from core.registry import TASKS

from .base import DetectionDataOptions, DetectionTaskBase
from .datasets import DetectionSet
from .metrics import asymmetric_loss, bce_loss, mean_average_precision, predicted_labels

MAP_PROTOCOL = ("non-interpolated AP per category over all test images (ASL/ML-Decoder, "
                "sklearn average_precision_score), mean over categories with a positive")
#: the old spelling of the box task (one task with ``data.kind: boxes``), refused with the new one
BOXES_MOVED = ("data.kind=boxes is the task 'detection_boxes' now: set task: detection_boxes "
               "(and drop data.kind), e.g. --preset detection_boxes_smoke")


@dataclass(frozen=True)
class MultiLabelDataOptions(DetectionDataOptions):
    loss: Literal["bce", "asl"] = "bce"
    #: only ``multilabel``; ``boxes`` (the old spelling) is refused naming ``detection_boxes``
    kind: Literal["multilabel", "boxes"] = "multilabel"

    def __post_init__(self) -> None:
        if self.kind == "boxes":
            raise ConfigError(BOXES_MOVED)
        super().__post_init__()
        if self.loss not in ("bce", "asl"):
            raise ValueError(f"loss must be 'bce' or 'asl', got {self.loss!r}")


@TASKS.register("detection")
class DetectionTask(DetectionTaskBase):
    name = "detection"
    default_preset = "detection_smoke"   # run.py --task detection alone
    DataOptions = MultiLabelDataOptions
    kind = "multilabel"
    map_protocol = MAP_PROTOCOL
    higher_is_better: ClassVar[dict[str, bool]] = {"map": True, "map_voc07": True, "asr": False,
                                                   "asr_control": False}
    default_nft_augmentation: ClassVar[str] = "mixup"
    probe_model: ClassVar[bool] = True

    # -- data ---------------------------------------------------------------------------------
    def split_targets(self, train: DetectionSet, test: DetectionSet,
                      index: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
                      ) -> tuple[list[Any], dict[str, Any]]:
        train_idx, test_idx, clean_idx = index
        train_y = train.multi_hot()
        return [train_y[train_idx], test.multi_hot()[test_idx], train_y[clean_idx]], {}

    def loss_name(self) -> str:
        return self.options.loss

    # -- attacks ------------------------------------------------------------------------------
    def build_attack(self, name: str, options: dict[str, Any] | None, splits) -> Attack:
        attack = super().build_attack(name, options, splits)
        if not hasattr(attack, "bind"):
            raise ValueError(f"attack {name!r} is not a multi-label attack")
        return attack.bind(splits.info["categories"], splits.train.targets)

    # -- training -----------------------------------------------------------------------------
    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, reduction: str) -> torch.Tensor:
        if self.options.loss == "asl":
            return asymmetric_loss(logits, targets, reduction=reduction)
        return bce_loss(logits, targets, reduction=reduction)

    def loss(self, model: nn.Module, inputs: torch.Tensor, targets: Any) -> torch.Tensor:
        return self._loss(model(inputs), targets, "mean")

    def sample_losses(self, model: nn.Module, inputs: torch.Tensor,
                      targets: torch.Tensor) -> torch.Tensor:
        return self._loss(model(inputs), targets, "none")

    def predicted_targets(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """The model's own multi-hot predictions (sigmoid score > 0.5)."""
        return (torch.sigmoid(model(inputs).float()) > 0.5).float()

    def train_augmentation(self) -> Augmentation:
        from .augmentations import ShiftFlip

        return ShiftFlip(padding=self.options.padding, flip=self.options.flip)

    def samples_per_class(self, clean: TensorData) -> float:
        """N_c: clean images per category, counted by positive labels (≥ 1)."""
        return max(1.0, float((clean.targets > 0.5).sum()) / max(1, clean.targets.shape[1]))

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
