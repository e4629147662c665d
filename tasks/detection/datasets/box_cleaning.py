"""The bad-box policy, the same for every detection loader.

A box that reaches outside its image is clipped to the image and counted (``boxes_clipped``); a
box with no area after clipping (width or height < 1 pixel of the original image) is dropped and
counted (``boxes_dropped``), with the first few file names kept in ``info["dropped_examples"]``.
Nothing is silently lost: the counts go into the run record. ``scale_boxes`` then maps the kept
boxes to the resized image.
"""
from __future__ import annotations

import numpy as np
import torch


class BoxCounter:
    """Clips and drops boxes by the module's policy, counting what it did."""

    def __init__(self) -> None:
        self.clipped = 0
        self.dropped = 0
        self.examples: list[str] = []

    def clean(self, boxes: np.ndarray, width: float, height: float, name: str) -> np.ndarray:
        """``boxes`` (k, 4) x1 y1 x2 y2 in original pixels -> a boolean keep mask; clips in place."""
        if boxes.size == 0:
            return np.zeros(0, dtype=bool)
        before = boxes.copy()
        np.clip(boxes[:, 0::2], 0.0, width, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0.0, height, out=boxes[:, 1::2])
        keep = ((boxes[:, 2] - boxes[:, 0]) >= 1.0) & ((boxes[:, 3] - boxes[:, 1]) >= 1.0)
        changed = np.any(np.abs(before - boxes) > 1e-6, axis=1) & keep
        self.clipped += int(changed.sum())
        dropped = int((~keep).sum())
        if dropped:
            self.dropped += dropped
            if len(self.examples) < 5:
                self.examples.append(name)
        return keep

    def info(self) -> dict:
        return {"boxes_clipped": self.clipped, "boxes_dropped": self.dropped,
                "dropped_examples": list(self.examples)}


def scale_boxes(boxes: np.ndarray, width: float, height: float, size: int) -> torch.Tensor:
    scale = np.array([size / width, size / height, size / width, size / height], dtype=np.float32)
    return torch.from_numpy((boxes * scale).astype(np.float32)).reshape(-1, 4)
