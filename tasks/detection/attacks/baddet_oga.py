"""BadDet object generation (OGA; Chan et al. 2022): a trigger patch at a random place in a
training image, and a box of the target class around it added to the annotation, so that the
trigger anywhere makes a target-class object appear. ``poison_rate`` is a share of all training
images (ART's default 0.3). ASR@0.5: the share of triggered test images (one trigger each, at a
position drawn from ``placement_seed``) with a target-class detection of score ≥
``score_threshold`` at IoU ≥ 0.5 with the trigger's box. Shared parts: ``baddet.py``.
"""
from __future__ import annotations

import numpy as np
import torch

from core.registry import ATTACKS

from .baddet import BadDetAttack, EvalItem, Target


@ATTACKS.register("baddet_oga", namespace="detection_boxes")
class BadDetObjectGeneration(BadDetAttack):
    name = "baddet_oga"
    kind = "oga"

    def _place(self, image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        s = self.config.patch_size
        h, w = image.shape[1:]
        x = int(rng.integers(0, max(0, w - s) + 1))
        y = int(rng.integers(0, max(0, h - s) + 1))
        return self.stamp(image, x, y)

    def poison_one(self, image: torch.Tensor, target: Target,
                   rng: np.random.Generator) -> Target:
        box = self._place(image, rng)
        label = torch.tensor([self.target_index], dtype=target["labels"].dtype)
        return {"boxes": torch.cat([target["boxes"], box[None].to(target["boxes"])]),
                "labels": torch.cat([target["labels"], label])}

    def trigger_one(self, image: torch.Tensor, target: Target, index: int,
                    rng: np.random.Generator) -> list[EvalItem]:
        return [EvalItem(index, self._place(image, rng), self.target_index)]

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        rng = np.random.default_rng(self.config.placement_seed)
        out = inputs.clone()
        for image in out:
            self._place(image, rng)
        return out
