"""Compose multi-object scenes: object crops pasted onto backgrounds, with exact boxes.

Used by ``data_scripts/compose_detection.py`` (real CIFAR-10 objects and GTSRB signs pasted on
real COCO photographs) and by the in-memory ``synthetic`` dataset of the tests and the smoke
preset (coloured shapes on noise). What it is: every image draws a *scene type* (street,
countryside, …), each category appears with the scene's probability for it, so categories
co-occur the way they do in real photographs (cars with trucks and stop signs, horses with dogs)
and frequent combinations exist for the clean-image attack to use as triggers. What it is not:
a natural photograph — objects are pasted rectangles (a CIFAR-10 object keeps its own 32×32
surroundings), at most one object per category per image, no occlusion beyond a bounded
overlap, no lighting or perspective consistency.

Everything is drawn from one ``numpy`` generator seeded by the caller, so a seed fixes the set.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Scene:
    name: str
    weight: float                      # prior probability of the scene (normalised)
    presence: dict[str, float]         # category -> probability that it appears


#: the scene types of the composed set: categories are CIFAR-10 classes and GTSRB signs
DEFAULT_SCENES = (
    Scene("street", 0.35, {"automobile": 0.75, "truck": 0.45, "stop": 0.5, "yield": 0.35,
                           "speed_limit_30": 0.4, "dog": 0.12, "cat": 0.08, "bird": 0.1}),
    Scene("countryside", 0.30, {"horse": 0.6, "dog": 0.45, "cat": 0.35, "bird": 0.4,
                                "automobile": 0.2, "truck": 0.15, "speed_limit_30": 0.1}),
    Scene("harbour", 0.20, {"ship": 0.75, "airplane": 0.25, "bird": 0.45, "truck": 0.2,
                            "automobile": 0.2, "no_entry": 0.15}),
    Scene("airport", 0.15, {"airplane": 0.8, "truck": 0.4, "automobile": 0.3, "bird": 0.2,
                            "no_entry": 0.35, "stop": 0.1}),
)


def scene_categories(scenes: tuple[Scene, ...]) -> list[str]:
    names: list[str] = []
    for scene in scenes:
        names += [n for n in scene.presence if n not in names]
    return names


def _resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    out = F.interpolate(image[None].float(), size=(height, width), mode="bilinear",
                        antialias=True, align_corners=False)[0]
    return out.round().clamp(0, 255).to(torch.uint8)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    if not len(boxes):
        return np.zeros(0)
    x1 = np.maximum(box[0], boxes[:, 0]); y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2]); y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(boxes) - inter)


def compose(objects: dict[str, list[torch.Tensor]], backgrounds: list[torch.Tensor],
            count: int, size: int, seed: int, scenes: tuple[Scene, ...] = DEFAULT_SCENES,
            object_size: tuple[int, int] = (16, 28), max_objects: int = 4,
            max_iou: float = 0.15, tries: int = 20) -> tuple[torch.Tensor, list[dict], list[str]]:
    """``count`` images of ``size``² with their annotations and scene names.

    ``objects``: category -> uint8 (3, h, w) crops; ``backgrounds``: uint8 (3, H, W) images (a
    random square crop of each is resized to ``size``). An object's longer side is drawn in
    ``object_size``; a placement overlapping an earlier object by IoU > ``max_iou`` is retried
    ``tries`` times and the object left out (with its label) if none fits. Images whose draw has
    no object draw again; more than ``max_objects`` drawn keeps a random ``max_objects``.
    """
    categories = scene_categories(scenes)
    missing = [c for c in categories if not objects.get(c)]
    if missing:
        raise ValueError(f"no object crops for categories {missing}")
    if not backgrounds:
        raise ValueError("no background images")
    rng = np.random.default_rng(seed)
    weights = np.array([s.weight for s in scenes], dtype=np.float64)
    weights /= weights.sum()
    index_of = {c: i for i, c in enumerate(categories)}
    images = torch.empty((count, 3, size, size), dtype=torch.uint8)
    annotations, scene_names = [], []
    for n in range(count):
        scene = scenes[rng.choice(len(scenes), p=weights)]
        while True:
            present = [c for c, p in scene.presence.items() if rng.random() < p]
            if present:
                break
        if len(present) > max_objects:
            present = [present[i] for i in sorted(rng.choice(len(present), max_objects,
                                                             replace=False))]
        bg = backgrounds[rng.integers(len(backgrounds))]
        side = min(bg.shape[1:])
        crop = int(rng.integers(max(8, side // 2), side + 1))
        top = int(rng.integers(0, bg.shape[1] - crop + 1))
        left = int(rng.integers(0, bg.shape[2] - crop + 1))
        canvas = _resize(bg[:, top:top + crop, left:left + crop], size, size)
        if rng.random() < 0.5:
            canvas = canvas.flip(-1)
        boxes, labels = np.zeros((0, 4)), []
        for name in present:
            pool = objects[name]
            obj = pool[rng.integers(len(pool))]
            longer = int(rng.integers(object_size[0], object_size[1] + 1))
            h, w = obj.shape[1:]
            scale = longer / max(h, w)
            oh, ow = max(4, round(h * scale)), max(4, round(w * scale))
            for _ in range(tries):
                y = int(rng.integers(0, size - oh + 1)); x = int(rng.integers(0, size - ow + 1))
                box = np.array([x, y, x + ow, y + oh], dtype=np.float64)
                if not len(boxes) or _iou(box, boxes).max() <= max_iou:
                    canvas[:, y:y + oh, x:x + ow] = _resize(obj, oh, ow)
                    boxes = np.vstack([boxes, box])
                    labels.append(index_of[name])
                    break
        images[n] = canvas
        annotations.append({"boxes": torch.from_numpy(boxes.astype(np.float32)).reshape(-1, 4),
                            "labels": torch.tensor(labels, dtype=torch.int64)})
        scene_names.append(scene.name)
    return images, annotations, scene_names


def shape_objects(categories: list[str], per_category: int, seed: int,
                  size: int = 24) -> dict[str, list[torch.Tensor]]:
    """Synthetic object crops for tests: one colour and one shape (square, disc, cross, bars)
    per category, with random shading; generated in milliseconds."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
    shapes = [np.ones((size, size), bool), xx ** 2 + yy ** 2 <= 1,
              (np.abs(xx) < 0.3) | (np.abs(yy) < 0.3), np.sin(xx * 6) > 0]
    out: dict[str, list[torch.Tensor]] = {}
    for i, name in enumerate(categories):
        colour = rng.integers(40, 256, 3)
        crops = []
        for _ in range(per_category):
            shade = rng.uniform(0.7, 1.0)
            img = np.zeros((3, size, size), dtype=np.float64)
            img[:] = 30.0
            mask = shapes[i % len(shapes)]
            for ch in range(3):
                img[ch][mask] = colour[ch] * shade
            img += rng.normal(0, 8, img.shape)
            crops.append(torch.from_numpy(np.clip(img, 0, 255).astype(np.uint8)))
        out[name] = crops
    return out


def noise_backgrounds(count: int, size: int, seed: int) -> list[torch.Tensor]:
    """Smooth random backgrounds for tests (upsampled 4×4 colour grids plus noise)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 4, 4, generator=g) * 160 + 40
    smooth = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    noisy = smooth + torch.randn(smooth.shape, generator=g) * 10
    return list(noisy.clamp(0, 255).to(torch.uint8))
