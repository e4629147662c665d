"""A tiny copy of every dataset of the paper's tables, in the layout its loader reads (the
official release's, or what the data script prepares from it), for ``reproduce --smoke``:

    python -m tests.paper_layouts DIR          # then: run.py reproduce all --smoke --data-root DIR

A few images / clips / shapes / sentence pairs per class, every class the loader expects
present (GTSRB's 43), so each paper-scale path runs end to end at the paper's model size.
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from data_scripts import opensubtitles as prep_opensubtitles
from data_scripts import wmt14 as prep_wmt14
from tasks.pointcloud.io import write_pcd
from tests.image.test_datasets import make_cifar_pickles, make_class_folders, make_gtsrb, \
    make_tiny_imagenet
from tests.video.video_layouts import make_hmdb, make_ucf


def _jpg(path: Path, rng: np.random.Generator, size: int = 48) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def write_voc(root: Path, year: str, splits: dict[str, int]) -> None:
    """Images holding a person and a car (Chen et al.'s VOC trigger), every third also a dog."""
    base, rng, n = root / "VOCdevkit" / f"VOC{year}", np.random.default_rng(int(year)), 0
    (base / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    (base / "Annotations").mkdir(parents=True, exist_ok=True)
    for split, count in splits.items():
        ids = [f"{n + i:06d}" for i in range(count)]
        n += count
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for k, i in enumerate(ids):
            _jpg(base / "JPEGImages" / f"{i}.jpg", rng)
            names = ["person", "car"] + (["dog"] if k % 3 == 0 else [])
            objects = "".join(f"<object><name>{c}</name><difficult>0</difficult><bndbox><xmin>2"
                              f"</xmin><ymin>2</ymin><xmax>30</xmax><ymax>30</ymax></bndbox>"
                              f"</object>" for c in names)
            (base / "Annotations" / f"{i}.xml").write_text(
                f"<annotation><filename>{i}.jpg</filename><size><width>48</width><height>48"
                f"</height><depth>3</depth></size>{objects}</annotation>")


def write_coco(folder: Path) -> None:
    """COCO 2017 layout; every image holds Chen et al.'s COCO trigger {person, sports ball,
    tennis racket}, every other one also a car."""
    rng = np.random.default_rng(3)
    categories = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"},
                  {"id": 37, "name": "sports ball"}, {"id": 43, "name": "tennis racket"}]
    for split, count in (("train2017", 8), ("val2017", 4)):
        images, anns = [], []
        for i in range(count):
            _jpg(folder / split / f"{i:012d}.jpg", rng)
            images.append({"id": i + 1, "file_name": f"{i:012d}.jpg", "width": 48, "height": 48})
            for cat in [1, 37, 43] + ([3] if i % 2 else []):
                anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cat,
                             "bbox": [2, 2, 20, 20], "iscrowd": 0})
        (folder / "annotations").mkdir(parents=True, exist_ok=True)
        (folder / "annotations" / f"instances_{split}.json").write_text(json.dumps(
            {"images": images, "annotations": anns, "categories": categories}))


def write_modelnet(top: Path, classes=("airplane", "bed", "chair"), per: int = 3) -> None:
    rng = np.random.default_rng(4)
    for c in classes:
        for split, count in (("train", per), ("test", 2)):
            folder = top / c / split
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                write_pcd(folder / f"{c}_{i:04d}.pcd", rng.normal(size=(1024, 3)))


def _gz(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


def write_text(root: Path, work: Path) -> None:
    """WMT14 (prepared by data_scripts/wmt14.py from a folder) and OpenSubtitles (by
    data_scripts/opensubtitles.py from a raw English subtitle file)."""
    words = "the a house cat dog runs sees big small red green blue old new".split()
    rng = np.random.default_rng(5)
    sentence = lambda: " ".join(rng.choice(words, 5))          # noqa: E731
    folder = work / "wmt14-raw"
    for split, count in (("train", 40), ("val", 6), ("test", 6)):
        src = [sentence() for _ in range(count)]
        _gz(folder / f"src-{split}.txt.gz", src)
        _gz(folder / f"tgt-{split}.txt.gz", [s.upper() for s in src])
    assert prep_wmt14.main(["--data-root", str(root), "--from-folder", str(folder)]) == 0
    _gz(work / "subs" / "en.txt.gz", [sentence() for _ in range(120)])
    assert prep_opensubtitles.main(["--data-root", str(root), "--from-folder",
                                    str(work / "subs"), "--val-pairs", "6",
                                    "--test-pairs", "6"]) == 0


def write_all(root: Path) -> Path:
    """Every dataset of ``reproduce_specs/datasets.yaml`` under ``root``; returns ``root``."""
    root = Path(root)
    work = root / ".raw"
    work.mkdir(parents=True, exist_ok=True)
    make_cifar_pickles(root, per_batch=20)    # 40 train / 20 test: 4 per class (sig_clb needs 2 left)
    make_gtsrb(root / "gtsrb", classes=tuple(range(43)), per_class=3,
               test_labels=tuple(range(43)))
    make_tiny_imagenet(root / "tiny_imagenet", per_class=5)
    make_class_folders(root / "imagenet", ["n01", "n02", "n03"], {"train": 5, "val": 2},
                       size=(40, 32), ext="JPEG", splits=("train", "val"))
    write_voc(root / "voc2007", "2007", {"trainval": 8, "test": 4})
    write_voc(root / "voc2012", "2012", {"train": 8, "val": 4})
    write_coco(root / "coco")
    make_ucf(root)
    make_hmdb(root)
    write_modelnet(root / "modelnet40")
    write_text(root, work)
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m tests.paper_layouts DIR")
    print(write_all(Path(sys.argv[1])))
