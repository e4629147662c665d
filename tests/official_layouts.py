"""Small generated copies of official dataset layouts (VOCdevkit/VOC2007, UCF-101 with
ucfTrainTestlist/) at the sizes a new user might try: 100 images, 8 clips per class."""
from __future__ import annotations

from pathlib import Path

import numpy as np

VOC_CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor"]


def voc_copy(root: Path, images: int = 100, seed: int = 0) -> Path:
    """``root/voc2007/VOCdevkit/VOC2007`` with ``images`` JPEGs (half trainval, half test),
    1-3 objects each (coloured rectangles on noise), some marked difficult, and the per-class
    ``<class>_<split>.txt`` files of the official release."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = root / "voc2007" / "VOCdevkit" / "VOC2007"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    ids = {"trainval": [], "test": []}
    present: dict[str, dict[str, set]] = {"trainval": {}, "test": {}}
    for k in range(images):
        image_id = f"{k + 1:06d}"
        split = "trainval" if k % 2 == 0 else "test"
        ids[split].append(image_id)
        w, h = int(rng.integers(80, 120)), int(rng.integers(60, 100))
        pixels = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
        objects = []
        for _ in range(int(rng.integers(1, 4))):
            c = int(rng.choice([6, 14, 8, 11, 7] if rng.random() < 0.8 else range(20)))
            x1, y1 = int(rng.integers(1, w // 2)), int(rng.integers(1, h // 2))
            x2, y2 = int(rng.integers(x1 + 8, w)), int(rng.integers(y1 + 8, h))
            pixels[y1 - 1:y2, x1 - 1:x2] = (np.array([c * 12, 255 - c * 12, (c * 50) % 256]))
            difficult = int(rng.random() < 0.1)
            objects.append(f"<object><name>{VOC_CLASSES[c]}</name><pose>Unspecified</pose>"
                           f"<truncated>0</truncated><difficult>{difficult}</difficult><bndbox>"
                           f"<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
                           f"</bndbox></object>")
            present[split].setdefault(VOC_CLASSES[c], set()).add(image_id)
        Image.fromarray(pixels).save(base / "JPEGImages" / f"{image_id}.jpg", quality=90)
        (base / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><folder>VOC2007</folder><filename>{image_id}.jpg</filename><size>"
            f"<width>{w}</width><height>{h}</height><depth>3</depth></size><segmented>0"
            f"</segmented>{''.join(objects)}</annotation>\n")
    for split, names in ids.items():
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for c in VOC_CLASSES:
            rows = [f"{i} {1 if i in present[split].get(c, ()) else -1:>2}" for i in names]
            (base / "ImageSets" / "Main" / f"{c}_{split}.txt").write_text("\n".join(rows) + "\n")
    return base


def ucf_copy(root: Path, classes: int = 3, train_per_class: int = 8, test_per_class: int = 2,
             frames: int = 40, size: int = 32) -> Path:
    """``root/ucf101`` in the official layout: ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and
    ``ucfTrainTestlist/{classInd,trainlist01,testlist01}.txt``; one group per clip, the first
    ``test_per_class`` groups are the test split (as the official lists split by group)."""
    from tasks.video.io import write_video

    names = ["ApplyEyeMakeup", "Biking", "Diving", "Fencing", "Rowing"][:classes]
    base = root / "ucf101"
    lists = base / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    rng = np.random.default_rng(0)
    train, test = [], []
    for label, name in enumerate(names):
        (base / "UCF-101" / name).mkdir(parents=True)
        for g in range(1, test_per_class + train_per_class + 1):
            rel = f"{name}/v_{name}_g{g:02d}_c01.avi"
            clip = rng.integers(0, 60, (frames, size, size, 3), dtype=np.uint8)
            t = np.arange(frames)
            x = (t * (label + 1)) % (size - 8)
            for f in range(frames):                       # a square moving at a class speed
                clip[f, 8:16, x[f]:x[f] + 8, label % 3] = 255
            write_video(base / "UCF-101" / rel, clip)
            (test if g <= test_per_class else train).append((rel, label))
    for k in (1, 2, 3):
        (lists / f"trainlist0{k}.txt").write_text("".join(f"{r} {y + 1}\n" for r, y in train))
        (lists / f"testlist0{k}.txt").write_text("".join(f"{r}\n" for r, _ in test))
    return base
