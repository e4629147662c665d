"""Metrics of the ``boxes`` kind: COCO mAP with torchmetrics, BadDet's ASR@0.5.

mAP: torchmetrics' ``MeanAveragePrecision`` (``box_format="xyxy"``, ``iou_type="bbox"``) with
the ``faster_coco_eval`` backend: it reproduces pycocotools' COCOeval (101-point interpolated
precision, area ranges, max 100 detections per image) and is maintained, where pycocotools is
not (docs/design.md §5c); both are torchmetrics backends, the choice is an option. ``map_50`` is
mAP@0.5 (the headline, ``map`` in the records), ``map_coco`` mAP@[.5:.95].

ASR@0.5 (``asr``) is the share of evaluated objects where the attack succeeds, BadDet's rule per
kind (``attacks/baddet.py``); ``asr_clean`` is the same rule on the same objects of the
untriggered images.

VOC ``difficult`` objects (a ``difficult`` bool entry in a target) are ignored the torchmetrics
way: they are passed as ``iscrowd`` ground truth, so a detection matched to one counts neither as
a true nor as a false positive, and they do not count as objects to find. This is COCOeval's
crowd rule, not the VOC devkit's: the devkit assigns a detection to its highest-IoU box first and
ignores it only when that box is difficult, while COCOeval matches a detection to the
non-ignored boxes first and only then to an ignored (crowd) region, measured as intersection over
the detection's area. The two agree where difficult and ordinary boxes do not overlap.
"""
from __future__ import annotations

from typing import Sequence

import torch

BACKEND = "faster_coco_eval"

Target = dict[str, torch.Tensor]


def coco_map(detections: Sequence[Target], targets: Sequence[Target],
             backend: str = BACKEND) -> dict[str, float]:
    """{"map_50", "map_coco"} in percent over the images (COCO evaluation)."""
    try:
        from torchmetrics.detection import MeanAveragePrecision
    except ImportError as exc:   # pragma: no cover - the extra is missing
        raise ImportError("the detection_boxes task measures mAP with torchmetrics and "
                          "faster-coco-eval: pip install -e .[detection]") from exc
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend=backend)
    preds = [{"boxes": d["boxes"].float().reshape(-1, 4), "scores": d["scores"].float(),
              "labels": d["labels"].long()} for d in detections]
    truth = [{"boxes": t["boxes"].float().reshape(-1, 4), "labels": t["labels"].long(),
              "iscrowd": t["difficult"].long() if "difficult" in t
              else torch.zeros(len(t["labels"]), dtype=torch.long)} for t in targets]
    metric.update(preds, truth)
    result = metric.compute()
    return {"map_50": 100.0 * float(result["map_50"]), "map_coco": 100.0 * float(result["map"])}


def attack_success_rate(attack, detections: Sequence[Target], items: list) -> float:
    """Percent of ``items`` (``EvalItem``) where ``attack.success`` holds; NaN without items."""
    if not items:
        return float("nan")
    hits = sum(attack.success(detections[item.image], item) for item in items)
    return 100.0 * hits / len(items)
