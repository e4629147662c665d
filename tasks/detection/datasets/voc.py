"""Pascal VOC 2007 / 2012 in the official ``VOCdevkit`` layout.

Read: ``<dataset dir>/VOCdevkit/VOC<year>/{Annotations/<id>.xml, JPEGImages/<id>.jpg,
ImageSets/Main/<split>.txt}``. Splits: VOC2007 trains on ``trainval`` and tests on ``test``
(the usual multi-label protocol); VOC2012 publishes no test annotations, so it trains on
``train`` and tests on ``val`` (as the multi-label literature does). The 20 categories are in
the official order (``CATEGORIES``). VOC boxes are 1-based inclusive pixel coordinates; they
become ``x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax``. Objects marked ``difficult`` are
kept with a per-object flag (``annotation["difficult"]``) and counted in
``info["difficult_objects"]``: the multi-label targets count them as present (Chen et al.'s
convention, ``DetectionSet.multi_hot``); box mAP ignores them (``box_metrics.coco_map``). Bad
boxes and bad files follow ``box_cleaning.py`` and ``decoding.py``.

The XML files are parsed with the standard library parser: only parse annotation files you
trust (the official release), as for any XML.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch

from core.bad_data import BadDataError, BadFiles, check_splits

from .box_cleaning import BoxCounter, scale_boxes
from .cache import fingerprint, load_cached, save_cached
from .decoding import decoded_set
from .detection_set import DetectionSet
from .missing import missing

CATEGORIES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
              "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
              "sheep", "sofa", "train", "tvmonitor"]
SPLITS = {"2007": ("trainval", "test"), "2012": ("train", "val")}


def year_dir(folder: Path, year: str) -> Path:
    return Path(folder) / "VOCdevkit" / f"VOC{year}"


def _number(obj: ET.Element, key: str, path: Path) -> float:
    text = obj.findtext(key)
    try:
        return float(text)                       # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadDataError(path, f"<{key}> is {text!r}, not a number") from None


def parse_annotation(path: Path) -> tuple[float, float, list[str], np.ndarray, np.ndarray]:
    """(width, height, category names, boxes (k, 4) x1 y1 x2 y2, difficult flags (k,)) of one
    annotation file; a malformed file raises ``BadDataError`` naming it."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise BadDataError(path, f"not well-formed XML ({exc})") from None
    size = root.find("size")
    if size is None:
        raise BadDataError(path, "no <size> element")
    width, height = _number(size, "width", path), _number(size, "height", path)
    if width < 1 or height < 1:
        raise BadDataError(path, f"image size {width}×{height} is not positive")
    names, boxes, difficult = [], [], []
    for obj in root.iter("object"):
        names.append((obj.findtext("name") or "").strip())
        flag = (obj.findtext("difficult") or "0").strip()
        if flag not in ("0", "1"):
            raise BadDataError(path, f"<difficult> is {flag!r}, not 0 or 1")
        difficult.append(flag == "1")
        bb = obj.find("bndbox")
        if bb is None:
            raise BadDataError(path, "an object without <bndbox>")
        x1, y1, x2, y2 = (_number(bb, k, path) for k in ("xmin", "ymin", "xmax", "ymax"))
        if not all(np.isfinite([x1, y1, x2, y2])):
            raise BadDataError(path, "a box coordinate is not finite")
        boxes.append([x1 - 1.0, y1 - 1.0, x2, y2])
    return (width, height, names, np.array(boxes, dtype=np.float64).reshape(-1, 4),
            np.array(difficult, dtype=bool))


def read_ids(list_file: Path, bad: BadFiles) -> list[tuple[str, int]]:
    """(id, line number) of a split list; an id listed twice is a bad line."""
    try:
        text = list_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadDataError(list_file, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
                           ) from None
    listed = [(line.split()[0], number) for number, line in enumerate(text.splitlines(), 1)
              if line.strip()]
    return bad.listed_once(listed, list_file, keys=lambda entry: entry[:1],
                           name=lambda entry: f"id {entry[0]}", line=lambda entry: entry[1])


def validate(folder: Path, year: str) -> dict[str, int]:
    """Every split of ``folder``'s VOC<year> (``SPLITS``): the list exists and is not empty, no
    id twice, every id has its JPEG and XML. Returns the counts; raises ``BadDataError`` naming
    the split file (and line) or the folder."""
    base = year_dir(folder, year)
    counts = {}
    for split in SPLITS[year]:
        list_file = base / "ImageSets" / "Main" / f"{split}.txt"
        if not list_file.is_file():
            raise BadDataError(list_file, "missing (for 2007, pass both the trainval and the "
                                          "test tar)")
        listed = read_ids(list_file, BadFiles("raise"))
        for image_id, number in listed:
            for path in (base / "Annotations" / f"{image_id}.xml",
                         base / "JPEGImages" / f"{image_id}.jpg"):
                if not path.is_file():
                    raise BadDataError(list_file, f"id {image_id}: {path} is missing", number)
        counts[split] = len(listed)
    check_splits(base / "ImageSets" / "Main", counts)
    return counts


def read_split(folder: Path, year: str, split: str, size: int, command: str,
               on_error: str = "raise") -> DetectionSet:
    base = year_dir(folder, year)
    if not base.is_dir():
        raise missing(base, f"VOC{year}", command)
    list_file = base / "ImageSets" / "Main" / f"{split}.txt"
    if not list_file.is_file():
        raise missing(list_file, f"the VOC{year} {split} split list", command)
    bad = BadFiles(on_error)
    listed = read_ids(list_file, bad)
    xmls = [base / "Annotations" / f"{i}.xml" for i, _ in listed]
    cache = base / ".cache" / (f"{split}-{size}-{on_error}-"
                               f"{fingerprint(list_file, size, *xmls)}.safetensors")
    cached = load_cached(cache)
    if cached is not None:
        return cached
    index_of = {name: i for i, name in enumerate(CATEGORIES)}
    counter, annotations, paths, sizes, ids, difficult = BoxCounter(), [], [], [], [], 0
    for image_id, number in listed:
        xml = base / "Annotations" / f"{image_id}.xml"
        jpg = base / "JPEGImages" / f"{image_id}.jpg"
        if not bad.present([xml, jpg], list_file, f"id {image_id}", number,
                           fix=f"prepare it again with: {command}"):
            continue
        parsed = bad.attempt(xml, lambda: parse_annotation(xml))
        if parsed is None:
            continue
        width, height, names, boxes, hard = parsed
        unknown = sorted(set(names) - set(index_of))
        if unknown:
            bad.handle(BadDataError(xml, f"unknown VOC categories {unknown}"))
            continue
        difficult += int(hard.sum())
        keep = counter.clean(boxes, width, height, xml.name)
        labels = torch.tensor([index_of[n] for n in names], dtype=torch.int64)
        mask = torch.from_numpy(keep)
        annotations.append({"boxes": scale_boxes(boxes[keep], width, height, size),
                            "labels": labels[mask], "difficult": torch.from_numpy(hard)[mask]})
        paths.append(jpg)
        sizes.append((int(round(width)), int(round(height))))
        ids.append(image_id)
    data = decoded_set(annotations, paths, sizes, ids, CATEGORIES, size,
                       f"decoding VOC{year}/{split}", bad, list_file,
                       f"image in the {split} split",
                       {**counter.info(), "difficult_objects": difficult})
    save_cached(cache, data)
    return data


def load(folder: Path, year: str, size: int, command: str, on_error: str = "raise"
         ) -> tuple[DetectionSet, DetectionSet]:
    train, test = SPLITS[year]
    return (read_split(folder, year, train, size, command, on_error),
            read_split(folder, year, test, size, command, on_error))
