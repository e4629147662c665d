"""COCO 2017 in its official layout, and any set written in that format (the composed set).

Layout read: ``<dataset dir>/annotations/instances_<split>.json`` and ``<dataset dir>/<split>/``
holding the images named by the json's ``file_name``; splits ``train2017`` (training) and
``val2017`` (test), as COCO 2017 ships them. Categories are ordered by their json ``id`` and
renumbered 0..C-1 (COCO's 80 ids are not contiguous). Boxes are COCO ``[x, y, w, h]``, turned
into ``x1, y1, x2, y2``; bad boxes follow ``datasets/common.py`` (clipped and counted, or
dropped and counted). Crowd annotations (``iscrowd`` 1) are kept (the category is present in
the image) and counted. Images without any annotation are kept with empty labels (counted).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .common import (BoxCounter, DetectionSet, decode_all, fingerprint, load_cached, missing,
                     save_cached, scale_boxes)

SPLITS = {"train": "train2017", "test": "val2017"}


def read_split(folder: Path, split: str, size: int, command: str) -> DetectionSet:
    """One split (``train2017`` / ``val2017``) of a COCO-format folder, resized to ``size``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise missing(folder, "the dataset folder", command)
    ann_path = folder / "annotations" / f"instances_{split}.json"
    if not ann_path.is_file():
        raise missing(ann_path, f"the {split} annotation file", command)
    image_dir = folder / split
    if not image_dir.is_dir():
        raise missing(image_dir, f"the {split} image folder", command)
    cache = folder / ".cache" / f"{split}-{size}-{fingerprint(ann_path, size)}.safetensors"
    cached = load_cached(cache)
    if cached is not None:
        return cached

    try:
        raw = json.loads(ann_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{ann_path} is not valid json ({exc}); it may be half-extracted: "
                         f"prepare the dataset again with: {command}") from None
    for key in ("images", "annotations", "categories"):
        if key not in raw:
            raise ValueError(f"{ann_path} has no {key!r} list: not a COCO instances file")
    cats = sorted(raw["categories"], key=lambda c: c["id"])
    index_of = {c["id"]: i for i, c in enumerate(cats)}
    images = sorted(raw["images"], key=lambda im: im["id"])
    by_image: dict[int, list[dict]] = {im["id"]: [] for im in images}
    unknown = 0
    for ann in raw["annotations"]:
        if ann.get("category_id") not in index_of or ann.get("image_id") not in by_image:
            unknown += 1
            continue
        by_image[ann["image_id"]].append(ann)
    if unknown:
        raise ValueError(f"{ann_path}: {unknown} annotation(s) name an unknown image or category")

    paths = []
    for im in images:
        path = image_dir / im["file_name"]
        if not path.is_file():
            raise missing(path, "an image listed in the annotations", command)
        paths.append(path)
    counter, annotations, crowd, empty = BoxCounter(), [], 0, 0
    for im in images:
        anns = by_image[im["id"]]
        crowd += sum(int(a.get("iscrowd", 0)) for a in anns)
        empty += not anns
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        keep = counter.clean(boxes, float(im["width"]), float(im["height"]), im["file_name"])
        labels = torch.tensor([index_of[a["category_id"]] for a in anns], dtype=torch.int64)
        annotations.append({"boxes": scale_boxes(boxes[keep], im["width"], im["height"], size),
                            "labels": labels[torch.from_numpy(keep)]})
    pixels = decode_all(paths, size, f"decoding {folder.name}/{split}")
    info = {**counter.info(), "crowd_annotations": crowd, "images_without_objects": empty}
    data = DetectionSet(pixels, annotations, [c["name"] for c in cats],
                        [im["file_name"] for im in images], info)
    save_cached(cache, data)
    return data


def load(folder: Path, size: int, command: str) -> tuple[DetectionSet, DetectionSet]:
    return (read_split(folder, SPLITS["train"], size, command),
            read_split(folder, SPLITS["test"], size, command))
