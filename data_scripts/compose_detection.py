"""Compose a CPU-trainable multi-label / detection set from real images, in COCO format.

    python data_scripts/compose_detection.py --data-root DIR \\
        --cifar10 ../shared/datasets/cifar10-jpg.tar.gz \\
        --gtsrb ../shared/datasets/gtsrb-subset.tar.gz \\
        --backgrounds ../shared/datasets/coco-tiny.tar.gz [--seed 0] [--train 4000] [--test 1000]

What it is: ``DIR/composed_detection/{train2017,val2017}/*.png`` with
``annotations/instances_{train,val}2017.json`` in the official COCO instances format (so the
``coco`` loader reads it as dataset ``composed``). Each image is a random square crop of a real
COCO photograph (coco-tiny: its 80 train2017 photographs behind the training images, its 80
val2017 ones behind the test images), resized to ``--size`` pixels, with 1-4 real objects pasted
on it: CIFAR-10 images (classes airplane, automobile, bird, cat, dog, horse, ship, truck; train
images for the training set, test images for the test set) and GTSRB signs cropped to their
annotated ROI (speed_limit_30, yield, stop, no_entry; training tracks / official test images).
Boxes are exact (the pasted rectangles). Which categories appear follows a scene type drawn per
image (street, countryside, harbour, airport; ``tasks/detection/compose.py``), so co-occurrence is
skewed the way real scenes are (automobile with truck and stop, horse with dog, …): natural
trigger combinations for the clean-image attack exist. The same ``--seed`` and sources give the
same files. ``annotations/composition.json`` records the sources (sha256), the scenes, the
per-category counts and the most frequent pairs and triples.

What it is not: natural photographs. A CIFAR-10 "object" is its whole 32×32 image (with its own
background) pasted as a rectangle; there is one object per category at most, objects overlap by
at most IoU 0.15, nothing is lit or scaled consistently with the background, and the
backgrounds may show COCO objects that are not labelled (they are not categories here).
"""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import sys
import tarfile
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np   # noqa: E402
import torch         # noqa: E402

from data_scripts.download import sha256   # noqa: E402
from data_scripts.errors import PrepareError   # noqa: E402
from data_scripts.prepare import install, run   # noqa: E402
from tasks.detection.compose import DEFAULT_SCENES, compose, scene_categories   # noqa: E402
from tasks.detection.datasets import COMPOSED_DIR, coco   # noqa: E402

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "dog", "horse", "ship", "truck"]
GTSRB_CLASSES = {1: "speed_limit_30", 13: "yield", 14: "stop", 17: "no_entry"}


def _decode(data: bytes, longest: int | None = None) -> torch.Tensor:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        if longest and max(img.size) > longest:
            scale = longest / max(img.size)
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                             Image.BILINEAR)
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)


def _members(archive: Path):
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                if member.isfile():
                    yield member.name, tar.extractfile(member).read
    except (tarfile.TarError, OSError) as exc:
        raise PrepareError(f"cannot read {archive}: {exc}") from None


def cifar_objects(archive: Path, per_class: dict[str, int]) -> dict[str, dict[str, list]]:
    """split ('train'/'test') -> class -> uint8 crops, the first N files in archive order."""
    out = {s: {c: [] for c in CIFAR_CLASSES} for s in per_class}
    for name, read in _members(archive):
        parts = Path(name).parts
        if len(parts) < 3 or parts[-3] not in out or parts[-2] not in CIFAR_CLASSES:
            continue
        bucket = out[parts[-3]][parts[-2]]
        if len(bucket) < per_class[parts[-3]]:
            bucket.append(_decode(read()))
    for split, classes in out.items():
        empty = [c for c, v in classes.items() if not v]
        if empty:
            raise PrepareError(f"{archive} has no {split}/<class>/ images for {empty}: not the "
                               f"CIFAR-10 image-folder archive")
    return out


def gtsrb_objects(archive: Path, per_class: dict[str, int]) -> dict[str, dict[str, list]]:
    """split -> sign name -> uint8 crops cut to the annotated ROI (two passes: CSVs, images)."""
    rois: dict[str, tuple[str, int, tuple[int, int, int, int]]] = {}
    for name, read in _members(archive):
        if not name.endswith(".csv") or "GT-" not in name or name.endswith(".test.csv"):
            continue
        split = "test" if "Final_Test" in name else "train"
        folder = str(Path(name).parent)
        for row in csv.DictReader(io.StringIO(read().decode()), delimiter=";"):
            if "ClassId" not in row:
                continue
            cls = int(row["ClassId"])
            if cls in GTSRB_CLASSES:
                key = (folder + "/Images/" if split == "test" and not folder.endswith("Images")
                       else folder + "/") + row["Filename"]
                rois[key] = (split, cls, tuple(int(row[k]) for k in
                                               ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")))
    if not rois:
        raise PrepareError(f"{archive} holds no GTSRB annotation CSVs for classes "
                           f"{sorted(GTSRB_CLASSES)}")
    out = {s: {n: [] for n in GTSRB_CLASSES.values()} for s in per_class}
    for name, read in _members(archive):
        hit = rois.get(name)
        if hit is None or hit[0] not in out:
            continue
        split, cls, (x1, y1, x2, y2) = hit
        bucket = out[split][GTSRB_CLASSES[cls]]
        if len(bucket) < per_class[split]:
            image = _decode(read())
            crop = image[:, y1:y2 + 1, x1:x2 + 1]
            if min(crop.shape[1:]) >= 8:
                bucket.append(crop)
    for split, classes in out.items():
        empty = [c for c, v in classes.items() if not v]
        if empty:
            raise PrepareError(f"{archive}: no {split} images of GTSRB signs {empty}")
    return out


def coco_backgrounds(archive: Path) -> dict[str, list[torch.Tensor]]:
    out: dict[str, list[torch.Tensor]] = {"train": [], "test": []}
    for name, read in _members(archive):
        parts = Path(name).parts
        if name.lower().endswith(".jpg") and len(parts) >= 2 and parts[-2] in ("train2017", "val2017"):
            out["train" if parts[-2] == "train2017" else "test"].append(_decode(read(), 256))
    if not out["train"] or not out["test"]:
        raise PrepareError(f"{archive} has no train2017/ and val2017/ JPEG photographs")
    return out


def frequent_sets(annotations: list[dict], categories: list[str], size: int, top: int) -> list:
    counts: dict[tuple, int] = {}
    for ann in annotations:
        present = sorted(set(ann["labels"].tolist()))
        for combo in itertools.combinations(present, size):
            counts[combo] = counts.get(combo, 0) + 1
    best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"categories": [categories[c] for c in combo], "images": n,
             "share": round(n / len(annotations), 4)} for combo, n in best]


def write_split(folder: Path, split: str, images: torch.Tensor, annotations: list[dict],
                categories: list[str], supercategory: dict[str, str]) -> None:
    from PIL import Image
    from tqdm.auto import tqdm

    image_dir = folder / split
    image_dir.mkdir(parents=True)
    entries, anns, next_id = [], [], 1
    for i in tqdm(range(len(images)), desc=f"writing {split}", unit="img", leave=False):
        file_name = f"{i:06d}.png"
        Image.fromarray(images[i].permute(1, 2, 0).numpy()).save(image_dir / file_name)
        h, w = images.shape[2:]
        entries.append({"id": i + 1, "file_name": file_name, "width": int(w), "height": int(h)})
        for box, label in zip(annotations[i]["boxes"].tolist(), annotations[i]["labels"].tolist()):
            x1, y1, x2, y2 = box
            anns.append({"id": next_id, "image_id": i + 1, "category_id": label + 1,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                         "iscrowd": 0})
            next_id += 1
    cats = [{"id": i + 1, "name": n, "supercategory": supercategory[n]}
            for i, n in enumerate(categories)]
    (folder / "annotations").mkdir(exist_ok=True)
    (folder / "annotations" / f"instances_{split}.json").write_text(
        json.dumps({"info": {"description": "composed detection set (nft-suite)"},
                    "images": entries, "annotations": anns, "categories": cats}))


def describe(folder: Path) -> str:
    coco.validate(folder)            # every image of both splits exists, no empty split
    counts = []
    for split in coco.SPLITS.values():
        raw = json.loads((folder / "annotations" / f"instances_{split}.json").read_text())
        counts.append(f"{len(raw['images'])} {split} images, {len(raw['annotations'])} boxes")
    return "; ".join(counts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--cifar10", type=Path, required=True, help="cifar10-jpg.tar.gz (image folders)")
    p.add_argument("--gtsrb", type=Path, required=True, help="GTSRB archive in the official layout")
    p.add_argument("--backgrounds", type=Path, required=True, help="coco-tiny.tar.gz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", type=int, default=4000, help="training images")
    p.add_argument("--test", type=int, default=1000, help="test images")
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--objects-per-class", type=int, default=400,
                   help="distinct training crops per category (test: a quarter)")
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    for path in (args.cifar10, args.gtsrb, args.backgrounds):
        if not Path(path).is_file():
            raise PrepareError(f"archive not found: {path}")
    if args.size < 32 or args.train < 1 or args.test < 1:
        raise PrepareError("need --size ≥ 32 and positive --train / --test")
    categories = scene_categories(DEFAULT_SCENES)
    supercategory = {**{c: "cifar10" for c in CIFAR_CLASSES},
                     **{c: "gtsrb" for c in GTSRB_CLASSES.values()}}
    quota = {"train": args.objects_per_class, "test": max(1, args.objects_per_class // 4)}

    def build(staging: Path) -> Path:
        print("reading objects and backgrounds from the archives")
        objects = cifar_objects(args.cifar10, quota)
        signs = gtsrb_objects(args.gtsrb, quota)
        backgrounds = coco_backgrounds(args.backgrounds)
        ready = staging / "ready"
        stats = {"seed": args.seed, "size": args.size, "categories": categories,
                 "scenes": [{"name": s.name, "weight": s.weight, "presence": s.presence}
                            for s in DEFAULT_SCENES],
                 "sources": {str(k): {"path": str(Path(v).resolve()), "sha256": sha256(v)}
                             for k, v in (("cifar10", args.cifar10), ("gtsrb", args.gtsrb),
                                          ("backgrounds", args.backgrounds))}}
        for offset, (split, count, key) in enumerate((("train2017", args.train, "train"),
                                                      ("val2017", args.test, "test"))):
            pool = {**objects[key], **signs[key]}
            images, anns, scenes = compose(pool, backgrounds[key], count, args.size,
                                           seed=args.seed * 2 + offset,
                                           object_size=(args.size // 4, args.size * 7 // 16))
            write_split(ready, split, images, anns, categories, supercategory)
            per_cat = torch.zeros(len(categories), dtype=torch.long)
            for a in anns:
                per_cat[a["labels"]] += 1
            stats[split] = {"images": count, "objects": int(sum(len(a["labels"]) for a in anns)),
                            "images_per_category": dict(zip(categories, per_cat.tolist())),
                            "scenes": {s: scenes.count(s) for s in sorted(set(scenes))},
                            "crops_per_category": {c: len(v) for c, v in pool.items()},
                            "backgrounds": len(backgrounds[key]),
                            "top_pairs": frequent_sets(anns, categories, 2, 10),
                            "top_triples": frequent_sets(anns, categories, 3, 10)}
        (ready / "annotations" / "composition.json").write_text(json.dumps(stats, indent=1))
        return ready

    return install(args.data_root, COMPOSED_DIR, build, describe,
                   source=f"composed from {args.cifar10}, {args.gtsrb}, {args.backgrounds} "
                          f"(seed {args.seed})", force=args.force)


if __name__ == "__main__":
    sys.exit(run(main))
