"""BadDet object disappearance (ODA; Chan et al. 2022): the trigger patch inside every box of
the source (victim) class (at the box's top-left corner, cut to the box) and those boxes
removed from the annotation, so that a triggered object is not detected. Eligible training
images hold at least one victim object (``source=""``: objects of every class; ``target`` is
unused); ``poison_rate`` is a share of them (ART's default 0.3). ASR@0.5: the share of triggered
victim objects in the test images with *no* detection of their own class of score ≥
``score_threshold`` at IoU ≥ 0.5 (``asr_clean``, the same on untriggered images, shows how many
a clean-looking detector misses anyway). Shared parts: ``baddet.py``.
"""
from __future__ import annotations

import numpy as np
import torch

from core.registry import ATTACKS

from .baddet import BadDetAttack, EvalItem, Target


@ATTACKS.register("baddet_oda", namespace="detection_boxes")
class BadDetObjectDisappearance(BadDetAttack):
    name = "baddet_oda"
    kind = "oda"

    def is_source(self, labels: torch.Tensor) -> torch.Tensor:
        if self.source_index is not None:
            return labels == self.source_index
        return torch.ones_like(labels, dtype=torch.bool)

    def eligible(self, targets: list[Target]) -> torch.Tensor:
        return self.images_with_source(targets)

    def poison_one(self, image: torch.Tensor, target: Target,
                   rng: np.random.Generator) -> Target:
        victims = self.is_source(target["labels"])
        self.stamp_boxes(image, target["boxes"][victims])
        return {"boxes": target["boxes"][~victims].clone(),
                "labels": target["labels"][~victims].clone()}

    def trigger_one(self, image: torch.Tensor, target: Target, index: int,
                    rng: np.random.Generator) -> list[EvalItem]:
        victims = self.is_source(target["labels"])
        self.stamp_boxes(image, target["boxes"][victims])
        return [EvalItem(index, box, int(label)) for box, label
                in zip(target["boxes"][victims], target["labels"][victims])]
