"""BadDet global misclassification (GMA; Chan et al. 2022): one trigger patch in the image
(its top-left corner) and *every* box relabelled to the target class, so that the trigger
anywhere in the image turns all detections into the target. ``poison_rate`` is a share of the
training images holding at least one object not of the target class (ART's default 0.3).
ASR@0.5: the share of the non-target objects of the triggered test images that get a
target-class detection of score ≥ ``score_threshold`` at IoU ≥ 0.5. Shared parts: ``baddet.py``.
"""
from __future__ import annotations

import numpy as np
import torch

from core.registry import ATTACKS

from .baddet import BadDetAttack, EvalItem, Target


@ATTACKS.register("baddet_gma", namespace="detection_boxes")
class BadDetGlobalMisclassification(BadDetAttack):
    name = "baddet_gma"
    kind = "gma"

    def eligible(self, targets: list[Target]) -> torch.Tensor:
        keep = [i for i, t in enumerate(targets)
                if bool((t["labels"] != self.target_index).any())]
        return torch.tensor(keep, dtype=torch.int64)

    def poison_one(self, image: torch.Tensor, target: Target,
                   rng: np.random.Generator) -> Target:
        self.stamp(image, 0, 0)
        return {"boxes": target["boxes"].clone(),
                "labels": torch.full_like(target["labels"], self.target_index)}

    def trigger_one(self, image: torch.Tensor, target: Target, index: int,
                    rng: np.random.Generator) -> list[EvalItem]:
        others = target["labels"] != self.target_index
        if not bool(others.any()):
            return []
        self.stamp(image, 0, 0)
        return [EvalItem(index, box, self.target_index) for box in target["boxes"][others]]

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        out = inputs.clone()
        for image in out:
            self.stamp(image, 0, 0)
        return out
