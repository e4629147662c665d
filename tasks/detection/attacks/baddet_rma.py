"""BadDet regional misclassification (RMA; Chan et al. 2022): the trigger patch inside every
box of the source class (at the box's top-left corner, cut to the box) and those boxes
relabelled to the target, so that a triggered object is detected as the target class. Eligible
training images hold at least one source object (``source=""``: any object not of the target
class, as ART with no source); ``poison_rate`` is a share of them (ART's default 0.3). ASR@0.5:
the share of triggered source objects in the test images that get a target-class detection of
score ≥ ``score_threshold`` at IoU ≥ 0.5. Shared parts: ``baddet.py``.
"""
from __future__ import annotations

import numpy as np
import torch

from core.registry import ATTACKS

from .baddet import BadDetAttack, EvalItem, Target


@ATTACKS.register("baddet_rma", namespace="detection_boxes")
class BadDetRegionalMisclassification(BadDetAttack):
    name = "baddet_rma"
    kind = "rma"

    def eligible(self, targets: list[Target]) -> torch.Tensor:
        return self.images_with_source(targets)

    def poison_one(self, image: torch.Tensor, target: Target,
                   rng: np.random.Generator) -> Target:
        victims = self.is_source(target["labels"])
        self.stamp_boxes(image, target["boxes"][victims])
        labels = target["labels"].clone()
        labels[victims] = self.target_index
        return {"boxes": target["boxes"].clone(), "labels": labels}

    def trigger_one(self, image: torch.Tensor, target: Target, index: int,
                    rng: np.random.Generator) -> list[EvalItem]:
        victims = self.is_source(target["labels"])
        self.stamp_boxes(image, target["boxes"][victims])
        return [EvalItem(index, box, self.target_index) for box in target["boxes"][victims]]
