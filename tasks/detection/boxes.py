"""The ``boxes`` kind of the detection task: object detection with BadDet backdoors.

``DetectionTask`` (``adapter.py``) delegates here when ``data.kind`` is ``boxes``. Same
datasets and loaders as the multilabel kind (VOC, COCO, the composed set, ``synthetic``);
targets are one dict per image, ``{"boxes": (k, 4) float32 xyxy pixels of the resized image,
"labels": (k,) int64}``, carried through ``TensorData`` as a list. Bad boxes follow the
loaders' policy (``datasets/common.py``: clipped and counted, degenerate ones dropped and
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
  predictions (``predicted_targets``); this kind does not turn a detector's thresholded,
  NMS-filtered detections into targets (a design choice we have not validated), so they refuse;
  ABL and CBD — they rank or weigh training samples by a per-sample loss, and torchvision's
  detection losses are normalised over the whole batch (by its number of foreground
  locations), so a per-sample loss would need one forward pass per image; FT-SAM with label
  smoothing — targets are boxes, not class indices.
The refusal comes from the adapter's capability methods once the kind is known (the runner
asks ``supports`` before loading data, when the adapter cannot yet know its kind: those
defenses then refuse at their first call with ``UnsupportedDefenseError``, which the runner
records as ``unsupported``).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.attack import Attack
from core.data import TensorData, move_to
from core.defenses.base import UnsupportedDefenseError

from .attacks.baddet import BadDetAttack
from .box_metrics import BACKEND, attack_success_rate, coco_map
from .datasets.common import difficult_mask
from .box_models import BOX_MODELS, detect, detector_loss, head_layers

MAP_PROTOCOL = (f"COCO bbox evaluation by torchmetrics MeanAveragePrecision, backend {BACKEND}: "
                f"map = mAP@0.5 (101-point interpolated), map_coco = mAP@[.5:.95]; VOC "
                f"difficult objects are ignored (passed as iscrowd: a detection matched to one "
                f"is neither a true nor a false positive)")
PREDICTED_TARGETS_REASON = (
    "the boxes kind does not turn a detector's own (thresholded, NMS-filtered) detections into "
    "targets, so trigger searches against the model's predictions (I-BAU, AWM) do not apply")
SAMPLE_LOSSES_REASON = (
    "torchvision's detection losses are normalised over the whole batch (by its number of "
    "foreground locations); the boxes kind gives no batched per-sample loss (ABL, CBD)")


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


def check_model_name(name: str, kind: str) -> None:
    if kind == "boxes" and name not in BOX_MODELS:
        raise ValueError(f"model {name!r} is not a box detector; the boxes kind needs one of "
                         f"{', '.join(sorted(BOX_MODELS))}")
    if kind != "boxes" and name in BOX_MODELS:
        raise ValueError(f"model {name!r} is a box detector; set data.kind=boxes or choose a "
                         f"multi-label classifier")


def check_attack(attack: Attack, kind: str) -> None:
    is_box = isinstance(attack, BadDetAttack)
    if kind == "boxes" and not is_box:
        raise ValueError(f"attack {attack.name!r} is not a box attack; the boxes kind runs "
                         f"baddet_oga, baddet_rma, baddet_gma, baddet_oda")
    if kind != "boxes" and is_box:
        raise ValueError(f"attack {attack.name!r} poisons boxes; set data.kind=boxes")


def loss(model: nn.Module, inputs: torch.Tensor, targets: list[dict]) -> torch.Tensor:
    return detector_loss(model, inputs, targets)


def refuse(what: str) -> UnsupportedDefenseError:
    reason = PREDICTED_TARGETS_REASON if what == "predicted_targets" else SAMPLE_LOSSES_REASON
    return UnsupportedDefenseError(reason)


def samples_per_class(clean: TensorData, num_classes: int) -> float:
    """N_c: objects per category in the clean set (≥ 1)."""
    objects = sum(len(t["labels"]) for t in clean.targets)
    return max(1.0, objects / max(1, num_classes))


def output_layers(model: nn.Module) -> list[str]:
    return head_layers(model)


def evaluate(model: nn.Module, test: TensorData, attack: Attack | None, device: torch.device,
             batch_size: int) -> dict[str, float]:
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


def describe_targets(targets: list[dict]) -> dict[str, Any]:
    objects = sum(len(t["labels"]) for t in targets)
    return {"objects": objects, "objects_per_image": objects / max(1, len(targets))}
