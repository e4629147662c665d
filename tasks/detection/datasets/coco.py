"""COCO 2017 in its official layout, and any set written in that format (the composed set).

Layout read: ``<dataset dir>/annotations/instances_<split>.json`` and ``<dataset dir>/<split>/``
holding the images named by the json's ``file_name``; splits ``train2017`` (training) and
``val2017`` (test), as COCO 2017 ships them. Categories are ordered by their json ``id`` and
renumbered 0..C-1 (COCO's 80 ids are not contiguous). Boxes are COCO ``[x, y, w, h]``, turned
into ``x1, y1, x2, y2``; bad boxes follow ``box_cleaning.py`` (clipped and counted, or
dropped and counted). Crowd annotations (``iscrowd`` 1) are kept (the category is present in
the image) and counted. Images without any annotation are kept with empty labels (counted).
Bad files follow ``decoding.py`` (``core/bad_data.py``): an annotation file that is not a COCO
instances json stops the load naming it; an image entry naming a missing or undecodable file, a
box that is not four finite numbers, or an image id / file name listed twice is raised naming
the file, or skipped and counted with ``on_error="skip"``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from core.bad_data import BadDataError, BadFiles, check_splits

from .box_cleaning import BoxCounter, scale_boxes
from .cache import fingerprint, load_cached, save_cached
from .decoding import decoded_set
from .detection_set import DetectionSet
from .missing import missing

SPLITS = {"train": "train2017", "test": "val2017"}


def _boxes(anns: list[dict], ann_path: Path, file_name: str) -> np.ndarray:
    """x1 y1 x2 y2 (k, 4) of an image's annotations; a box that is not 4 finite numbers is bad."""
    try:
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadDataError(ann_path, f"image {file_name}: a bbox is not four numbers "
                                     f"({type(exc).__name__}: {exc})") from None
    if len(xywh) != len(anns) or not np.isfinite(xywh).all():
        raise BadDataError(ann_path, f"image {file_name}: a bbox is not four finite numbers")
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def read_instances(ann_path: Path, command: str) -> dict:
    try:
        raw = json.loads(ann_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadDataError(ann_path, f"not valid json ({exc}); it may be half-extracted: "
                                     f"prepare the dataset again with: {command}") from None
    if not isinstance(raw, dict):
        raise BadDataError(ann_path, "not a COCO instances file (no top-level object)")
    for key in ("images", "annotations", "categories"):
        if not isinstance(raw.get(key), list):
            raise BadDataError(ann_path, f"has no {key!r} list: not a COCO instances file")
    return raw


def validate(folder: Path) -> dict[str, int]:
    """Both splits of a COCO-format folder: the annotation file parses, lists at least one image,
    no image twice, and every listed image file exists. Returns the image counts."""
    counts = {}
    for split in SPLITS.values():
        ann_path = folder / "annotations" / f"instances_{split}.json"
        if not ann_path.is_file():
            raise BadDataError(ann_path, "missing")
        raw = read_instances(ann_path, "the data script")
        names = [str(im.get("file_name")) for im in raw["images"] if isinstance(im, dict)]
        if len(set(names)) != len(names):
            raise BadDataError(ann_path, "an image file name is listed twice")
        for name in names:
            if not (folder / split / name).is_file():
                raise BadDataError(ann_path, f"image {name}: {folder / split / name} is missing")
        counts[split] = len(names)
    check_splits(folder, counts)
    return counts


def read_split(folder: Path, split: str, size: int, command: str,
               on_error: str = "raise") -> DetectionSet:
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
    cache = folder / ".cache" / f"{split}-{size}-{on_error}-{fingerprint(ann_path, size)}.safetensors"
    cached = load_cached(cache)
    if cached is not None:
        return cached

    raw = read_instances(ann_path, command)
    bad = BadFiles(on_error)
    try:
        cats = sorted(raw["categories"], key=lambda c: c["id"])
        names = [str(c["name"]) for c in cats]
        images = sorted(raw["images"], key=lambda im: im["id"])
    except (KeyError, TypeError) as exc:
        raise BadDataError(ann_path, f"a category or image entry lacks its id/name "
                                     f"({type(exc).__name__}: {exc})") from None
    index_of = {c["id"]: i for i, c in enumerate(cats)}
    if len(index_of) != len(cats):
        raise BadDataError(ann_path, "a category id is listed twice")
    usable = bad.listed_once(images, ann_path,
                             keys=lambda im: (("id", im["id"]), ("file", str(im.get("file_name")))),
                             name=lambda im: f"image id {im['id']} / file {im.get('file_name')}")
    by_image: dict[int, list[dict]] = {im["id"]: [] for im in usable}
    unknown = 0
    for ann in raw["annotations"]:
        if not isinstance(ann, dict) or ann.get("category_id") not in index_of \
                or ann.get("image_id") not in by_image:
            unknown += 1
            continue
        by_image[ann["image_id"]].append(ann)
    if unknown:
        raise BadDataError(ann_path, f"{unknown} annotation(s) name an unknown image or category")

    counter, annotations, paths, sizes, files, crowd, empty = BoxCounter(), [], [], [], [], 0, 0
    for im in usable:
        name = str(im["file_name"])
        path = image_dir / name
        if not bad.present([path], ann_path, f"image {name}",
                           fix=f"prepare the dataset again with: {command}"):
            continue
        anns = by_image[im["id"]]
        try:
            width, height = float(im["width"]), float(im["height"])
            boxes = _boxes(anns, ann_path, name)
        except BadDataError as exc:
            bad.handle(exc)
            continue
        except (KeyError, TypeError, ValueError) as exc:
            bad.handle(BadDataError(ann_path, f"image {name}: width/height missing or not a "
                                              f"number ({type(exc).__name__}: {exc})"))
            continue
        crowd += sum(int(a.get("iscrowd", 0)) for a in anns)
        empty += not anns
        keep = counter.clean(boxes, width, height, name)
        labels = torch.tensor([index_of[a["category_id"]] for a in anns], dtype=torch.int64)
        annotations.append({"boxes": scale_boxes(boxes[keep], width, height, size),
                            "labels": labels[torch.from_numpy(keep)]})
        paths.append(path)
        sizes.append((int(round(width)), int(round(height))))
        files.append(name)
    info = {**counter.info(), "crowd_annotations": crowd, "images_without_objects": empty}
    data = decoded_set(annotations, paths, sizes, files, names, size,
                       f"decoding {folder.name}/{split}", bad, ann_path, f"image in {split}", info)
    save_cached(cache, data)
    return data


def load(folder: Path, size: int, command: str, on_error: str = "raise"
         ) -> tuple[DetectionSet, DetectionSet]:
    return (read_split(folder, SPLITS["train"], size, command, on_error),
            read_split(folder, SPLITS["test"], size, command, on_error))
