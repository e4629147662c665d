"""The ``detection_boxes`` task: object detection with BadDet backdoors.

Same datasets, loaders and splits as the multi-label ``detection`` task (``base.py``: VOC, COCO,
the composed set, ``synthetic``); its models, attacks and augmentations are registered in its
own namespace (``detection_boxes``), so neither task sees the other's parts. Targets are one
dict per image, ``{"boxes": (k, 4) float32 xyxy pixels of the resized image, "labels": (k,)
int64}``, carried through ``TensorData`` as a list. Bad boxes follow the
loaders' policy (``datasets/box_cleaning.py``: clipped and counted, degenerate ones dropped and
counted; the counts are in the record's ``train_source`` / ``test_source``).

Model: a torchvision detector (``box_models.py``: FCOS). Loss: the sum of torchvision's loss
dict, computed through the training path in train *and* eval mode (``detector_loss``). Output
layers: every conv of the detector's heads (class, box, centre-ness), so NFT, ANP and RNP mask
the backbone and the FPN neck only. Augmentation: shift (+ optional flip) moving the boxes
(``box_augmentations.py``); NFT's default mix is ``box_mixup`` (pixels mixed, box lists
concatenated).

Baselines on detectors (which run, which refuse, why):
* run: NFT, FT, FT-SAM without label smoothing, ANP, RNP, NAD, MCR — they need only the
  scalar loss, the output layers and (NAD) conv feature maps;
* FP refuses by itself: it prunes the channels of the one tensor the output layers read, and a
  detector's class, box and centre-ness branches read different tensors (five FPN levels);
* refuse: I-BAU and AWM — their trigger search maximises the loss against the model's own
  predictions (``predicted_targets``); this task does not turn a detector's thresholded,
  NMS-filtered detections into targets (a design choice we have not validated), so they refuse;
  ABL and CBD — they rank or weigh training samples by a per-sample loss, and torchvision's
  detection losses are normalised over the whole batch (by its number of foreground
  locations), so a per-sample loss would need one forward pass per image; FT-SAM with label
  smoothing — targets are boxes, not class indices.
The refusals come from the adapter's declared capabilities, which the runner reads before
anything loads or trains, and records as ``unsupported``; called anyway, ``predicted_targets``
and ``sample_losses`` raise ``UnsupportedDefenseError`` with the same reasons.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from core.attack import Attack
from core.augment import Augmentation
from core.data import TensorData, move_to
from core.defenses.base import UnsupportedDefenseError
from core.registry import TASKS

from .base import DetectionDataOptions, DetectionTaskBase
from .box_metrics import BACKEND, attack_success_rate, coco_map
from .box_models import detect, detector_loss, head_layers
from .datasets import DetectionSet
from .datasets.detection_set import difficult_mask

MAP_PROTOCOL = (f"COCO bbox evaluation by torchmetrics MeanAveragePrecision, backend {BACKEND}: "
                f"map = mAP@0.5 (101-point interpolated), map_coco = mAP@[.5:.95]; VOC "
                f"difficult objects are ignored (passed as iscrowd: a detection matched to one "
                f"is neither a true nor a false positive)")
#: the refusals' words, as the records of results/detection_quick_boxes/ keep them
PREDICTED_TARGETS_REASON = (
    "the boxes kind does not turn a detector's own (thresholded, NMS-filtered) detections into "
    "targets, so trigger searches against the model's predictions (I-BAU, AWM) do not apply")
SAMPLE_LOSSES_REASON = (
    "torchvision's detection losses are normalised over the whole batch (by its number of "
    "foreground locations); the boxes kind gives no batched per-sample loss (ABL, CBD)")


@dataclass(frozen=True)
class BoxDataOptions(DetectionDataOptions):
    """The shared detection data options; the box task adds none."""


def box_targets(annotations: list[dict], index: torch.Tensor, difficult: bool = False
                ) -> list[dict]:
    """Per-image ``{"boxes", "labels"}`` targets; ``difficult=True`` (the test split) adds the
    VOC ``difficult`` flags, which box mAP ignores (``box_metrics.coco_map``)."""
    out = []
    for i in index.tolist():
        target = {"boxes": annotations[i]["boxes"].float().reshape(-1, 4).clone(),
                  "labels": annotations[i]["labels"].long().clone()}
        if difficult:
            target["difficult"] = difficult_mask(annotations[i]).clone()
        out.append(target)
    return out


def describe_targets(targets: list[dict]) -> dict[str, Any]:
    objects = sum(len(t["labels"]) for t in targets)
    return {"objects": objects, "objects_per_image": objects / max(1, len(targets))}


@TASKS.register("detection_boxes")
class BoxDetectionTask(DetectionTaskBase):
    name = "detection_boxes"
    default_preset = "detection_boxes_smoke"   # run.py --task detection_boxes alone
    DataOptions = BoxDataOptions
    kind = "boxes"
    map_protocol = MAP_PROTOCOL
    higher_is_better: ClassVar[dict[str, bool]] = {"map": True, "map_coco": True, "asr": False,
                                                   "asr_clean": False}
    default_nft_augmentation: ClassVar[str] = "box_mixup"

    # -- data ---------------------------------------------------------------------------------
    def split_targets(self, train: DetectionSet, test: DetectionSet,
                      index: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
                      ) -> tuple[list[Any], dict[str, Any]]:
        train_idx, test_idx, clean_idx = index
        targets = [box_targets(s.annotations, i, difficult) for s, i, difficult in
                   ((train, train_idx, False), (test, test_idx, True), (train, clean_idx, False))]
        return targets, {"objects_train": describe_targets(targets[0])}

    def loss_name(self) -> str:
        return "fcos (torchvision)"

    # -- models and attacks -------------------------------------------------------------------
    def build_model(self, name: str, splits) -> nn.Module:
        return super().build_model(name, splits).train()

    def model_kwargs(self, splits) -> dict[str, Any]:
        return {"image_size": self.options.image_size}

    def build_attack(self, name: str, options: dict[str, Any] | None, splits) -> Attack:
        return super().build_attack(name, options, splits).bind(splits.info["categories"])

    # -- training -----------------------------------------------------------------------------
    def loss(self, model: nn.Module, inputs: torch.Tensor, targets: list[dict]) -> torch.Tensor:
        return detector_loss(model, inputs, targets)

    def train_augmentation(self) -> Augmentation:
        from .box_augmentations import BoxShiftFlip

        return BoxShiftFlip(padding=self.options.padding, flip=self.options.flip)

    def samples_per_class(self, clean: TensorData) -> float:
        """N_c: objects per category in the clean set (≥ 1)."""
        objects = sum(len(t["labels"]) for t in clean.targets)
        return max(1.0, objects / max(1, self.num_classes or 1))

    def output_layers(self, model: nn.Module, example_input: Any) -> list[str]:
        return head_layers(model)

    # -- what the baselines need and this task does not give (see the module docstring) --------
    def implements(self, method: str) -> bool:
        return method not in ("sample_losses", "predicted_targets") and super().implements(method)

    def sample_losses(self, model: nn.Module, inputs: torch.Tensor, targets: Any) -> torch.Tensor:
        raise UnsupportedDefenseError(SAMPLE_LOSSES_REASON)

    def predicted_targets(self, model: nn.Module, inputs: torch.Tensor) -> Any:
        raise UnsupportedDefenseError(PREDICTED_TARGETS_REASON)

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, test: TensorData, attack: Attack | None,
                 device: torch.device, batch_size: int = 512) -> dict[str, float]:
        targets = move_to(test.targets, "cpu")
        inputs = test.inputs.cpu()
        detections = detect(model, inputs, device, batch_size)
        scores = coco_map(detections, targets)
        metrics = {"map": scores["map_50"], "map_coco": scores["map_coco"],
                   "detections_per_image": sum(len(d["labels"]) for d in detections)
                   / max(1, len(detections))}
        if attack is not None:
            triggered, items = attack.trigger_test(inputs, targets)
            on_triggered = detect(model, triggered, device, batch_size)
            metrics["asr"] = attack_success_rate(attack, on_triggered, items)
            metrics["asr_clean"] = attack_success_rate(attack, detections, items)
            metrics["asr_objects"] = float(len(items))
        return metrics
