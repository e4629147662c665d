"""Pascal VOC 2007 / 2012 in the official ``VOCdevkit`` layout.

Read: ``<dataset dir>/VOCdevkit/VOC<year>/{Annotations/<id>.xml, JPEGImages/<id>.jpg,
ImageSets/Main/<split>.txt}``. Splits: VOC2007 trains on ``trainval`` and tests on ``test``
(the usual multi-label protocol); VOC2012 publishes no test annotations, so it trains on
``train`` and tests on ``val`` (as the multi-label literature does). The 20 categories are in
the official order (``CATEGORIES``). VOC boxes are 1-based inclusive pixel coordinates; they
become ``x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax``. Objects marked ``difficult`` are
kept (they are objects in the image; the multi-label labels count them as present) and counted
in ``info["difficult_objects"]``. Bad boxes follow ``datasets/common.py``.

The XML files are parsed with the standard library parser: only parse annotation files you
trust (the official release), as for any XML.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch

from .common import (BoxCounter, DetectionSet, decode_all, fingerprint, load_cached, missing,
                     save_cached, scale_boxes)

CATEGORIES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
              "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
              "sheep", "sofa", "train", "tvmonitor"]
SPLITS = {"2007": ("trainval", "test"), "2012": ("train", "val")}


def year_dir(folder: Path, year: str) -> Path:
    return Path(folder) / "VOCdevkit" / f"VOC{year}"


def _parse(path: Path) -> tuple[float, float, list[str], np.ndarray, int]:
    root = ET.parse(path).getroot()
    size = root.find("size")
    if size is None:
        raise ValueError(f"{path}: no <size> element")
    width, height = float(size.findtext("width")), float(size.findtext("height"))
    names, boxes, difficult = [], [], 0
    for obj in root.iter("object"):
        names.append(obj.findtext("name", "").strip())
        difficult += int(obj.findtext("difficult", "0") or 0)
        bb = obj.find("bndbox")
        if bb is None:
            raise ValueError(f"{path}: an object without <bndbox>")
        x1, y1, x2, y2 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append([x1 - 1.0, y1 - 1.0, x2, y2])
    return width, height, names, np.array(boxes, dtype=np.float64).reshape(-1, 4), difficult


def read_split(folder: Path, year: str, split: str, size: int, command: str) -> DetectionSet:
    base = year_dir(folder, year)
    if not base.is_dir():
        raise missing(base, f"VOC{year}", command)
    list_file = base / "ImageSets" / "Main" / f"{split}.txt"
    if not list_file.is_file():
        raise missing(list_file, f"the VOC{year} {split} split list", command)
    ids = [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]
    xmls = [base / "Annotations" / f"{i}.xml" for i in ids]
    cache = base / ".cache" / f"{split}-{size}-{fingerprint(list_file, size, *xmls)}.safetensors"
    cached = load_cached(cache)
    if cached is not None:
        return cached
    index_of = {name: i for i, name in enumerate(CATEGORIES)}
    counter, annotations, paths, difficult = BoxCounter(), [], [], 0
    for image_id in ids:
        xml = base / "Annotations" / f"{image_id}.xml"
        jpg = base / "JPEGImages" / f"{image_id}.jpg"
        for path, what in ((xml, "an annotation"), (jpg, "an image")):
            if not path.is_file():
                raise missing(path, f"{what} listed in {list_file.name}", command)
        width, height, names, boxes, hard = _parse(xml)
        bad = sorted(set(names) - set(index_of))
        if bad:
            raise ValueError(f"{xml}: unknown VOC categories {bad}")
        difficult += hard
        keep = counter.clean(boxes, width, height, xml.name)
        labels = torch.tensor([index_of[n] for n in names], dtype=torch.int64)
        annotations.append({"boxes": scale_boxes(boxes[keep], width, height, size),
                            "labels": labels[torch.from_numpy(keep)]})
        paths.append(jpg)
    pixels = decode_all(paths, size, f"decoding VOC{year}/{split}")
    data = DetectionSet(pixels, annotations, list(CATEGORIES), ids,
                        {**counter.info(), "difficult_objects": difficult})
    save_cached(cache, data)
    return data


def load(folder: Path, year: str, size: int, command: str) -> tuple[DetectionSet, DetectionSet]:
    train, test = SPLITS[year]
    return (read_split(folder, year, train, size, command),
            read_split(folder, year, test, size, command))
