"""A corrupt-input corpus, generated (never committed): every loader × kinds of damage.

Each ``Case`` writes a small valid copy of one official layout into a fresh folder, damages
one file, and loads it with ``on_error="raise"`` and ``on_error="skip"``. What the user must see
(the suite's one bad-file contract, ``core/bad_data.py``):

* ``raise``: an error the runner turns into ``error: <message>`` and exit 2 (one of the
  runner's input-error types), one line, naming the damaged file (and line where given);
* ``skip``: the damaged file left out and listed (``skipped``), or — for damage that cannot be
  skipped without losing the split's meaning (a split file that is not UTF-8, a misaligned text
  pair, a broken annotation json) — the same one-line error.

Anything else is a defect: ``traceback`` (another exception type, or a message over several
lines or without the file's name) or ``silent`` (the load succeeded and listed nothing).

``python tests/bad_inputs_corpus.py --out results/bad_inputs.md`` writes the table;
``tests/test_bad_inputs.py`` asserts the contract for every case.
"""
from __future__ import annotations

import argparse
import gzip
import json
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.runner.cli import INPUT_ERRORS   # noqa: E402 - reported as `error: …`, exit 2


# -- small valid layouts ----------------------------------------------------------------------
def _image(path: Path, w: int = 16, h: int = 16, seed: int = 0, fmt: str | None = None) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def image_folder(root: Path, name: str = "image_folder", ext: str = "png") -> Path:
    top = root / name
    for s, split in enumerate(("train", "test")):
        for c in ("a", "b"):
            for k in range(3):
                _image(top / split / c / f"{k}.{ext}", seed=100 * s + 10 * ord(c) + k)
    return top


def cifar_pickles(root: Path) -> Path:
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("data_batch_1", "data_batch_2", "test_batch"):
        batch = {b"labels": [k % 10 for k in range(20)],
                 b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=4))
    return folder


GT_HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"


def gtsrb(root: Path) -> Path:
    base = root / "gtsrb" / "GTSRB"
    for c in (0, 1):
        folder = base / "Final_Training" / "Images" / f"{c:05d}"
        rows = [GT_HEADER]
        for k in range(3):
            _image(folder / f"{k:05d}_00000.ppm", 20, 20, seed=10 * c + k)
            rows.append(f"{k:05d}_00000.ppm;20;20;1;1;19;19;{c}")
        (folder / f"GT-{c:05d}.csv").write_text("\n".join(rows) + "\n")
    rows = [GT_HEADER]
    for k in range(4):
        _image(base / "Final_Test" / "Images" / f"{k:05d}.ppm", 20, 20, seed=50 + k)
        rows.append(f"{k:05d}.ppm;20;20;1;1;19;19;{k % 2}")
    (base / "Final_Test" / "GT-final_test.csv").write_text("\r\n".join(rows) + "\r\n")
    return base


def tiny_imagenet(root: Path) -> Path:
    base = root / "tiny_imagenet" / "tiny-imagenet-200"
    wnids = ("n01", "n02")
    base.mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for c, wnid in enumerate(wnids):
        for k in range(3):
            _image(base / "train" / wnid / "images" / f"{wnid}_{k}.JPEG", 64, 64, 10 * c + k,
                   "JPEG")
    lines = []
    for k in range(4):
        _image(base / "val" / "images" / f"val_{k}.JPEG", 64, 64, 50 + k, "JPEG")
        lines.append(f"val_{k}.JPEG\t{wnids[k % 2]}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return base


VOC_XML = """<annotation><filename>{i}.jpg</filename>
  <size><width>{w}</width><height>30</height><depth>3</depth></size>
  <object><name>person</name><difficult>{d}</difficult>
    <bndbox><xmin>{x}</xmin><ymin>1</ymin><xmax>30</xmax><ymax>15</ymax></bndbox></object>
</annotation>"""


def voc(root: Path) -> Path:
    base = root / "voc2007" / "VOCdevkit" / "VOC2007"
    for split, ids in (("trainval", ["000001", "000002", "000003"]),
                       ("test", ["000004", "000005"])):
        (base / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for i in ids:
            _image(base / "JPEGImages" / f"{i}.jpg", 60, 30, int(i), "JPEG")
            (base / "Annotations").mkdir(parents=True, exist_ok=True)
            (base / "Annotations" / f"{i}.xml").write_text(VOC_XML.format(i=i, w=60, d=0, x=1))
    return base


def coco(root: Path, name: str = "coco") -> Path:
    folder = root / name
    for split in ("train2017", "val2017"):
        images = []
        for k in range(3):
            _image(folder / split / f"{k}.jpg", 40, 30, k, "JPEG")
            images.append({"id": k + 1, "file_name": f"{k}.jpg", "width": 40, "height": 30})
        anns = [{"id": k + 1, "image_id": k + 1, "category_id": 5, "bbox": [2, 2, 20, 10],
                 "iscrowd": 0} for k in range(3)]
        (folder / "annotations").mkdir(parents=True, exist_ok=True)
        (folder / "annotations" / f"instances_{split}.json").write_text(json.dumps(
            {"images": images, "annotations": anns, "categories": [{"id": 5, "name": "cat"}]}))
    return folder


def _frames(count: int, size: int = 24) -> np.ndarray:
    levels = (np.arange(count) * 5 % 250).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (count, size, size, 3)).copy()


def ucf(root: Path, folder: str = "ucf101") -> Path:
    from tasks.video.io import write_video

    base = root / folder
    lists = base / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Biking\n")
    train, test = [], []
    for label, name in enumerate(("ApplyEyeMakeup", "Biking")):
        for group in (1, 2, 8):
            rel = f"{name}/v_{name}_g{group:02d}_c01.avi"
            (base / "UCF-101" / name).mkdir(parents=True, exist_ok=True)
            write_video(base / "UCF-101" / rel, _frames(60, 32))
            (test if group == 1 else train).append((rel, label))
    (lists / "trainlist01.txt").write_text("".join(f"{r} {y + 1}\n" for r, y in train))
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r, _ in test))
    return base


def hmdb(root: Path) -> Path:
    from tasks.video.io import write_video

    base = root / "hmdb51"
    splits = base / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for name in ("clap", "wave"):
        lines = []
        for k, tag in enumerate((1, 1, 2)):
            (base / "videos" / name).mkdir(parents=True, exist_ok=True)
            write_video(base / "videos" / name / f"{name}_{k}.avi", _frames(30, 16))
            lines.append(f"{name}_{k}.avi {tag}\n")
        (splits / f"{name}_test_split1.txt").write_text("".join(lines))
    return base


def pcd_tree(root: Path) -> Path:
    from tasks.pointcloud.io import write_pcd

    top = root / "modelnet10" / "pcd"
    rng = np.random.default_rng(1)
    for c in ("chair", "desk"):
        for split in ("train", "test"):
            (top / c / split).mkdir(parents=True)
            for i in range(3):
                write_pcd(top / c / split / f"{c}_{i:04d}.pcd", rng.normal(size=(64, 3)))
    return top


CUBE_OFF = ("OFF\n8 6 0\n-1 -1 -1\n1 -1 -1\n1 1 -1\n-1 1 -1\n-1 -1 1\n1 -1 1\n1 1 1\n-1 1 1\n"
            "4 0 1 2 3\n4 4 5 6 7\n4 0 1 5 4\n4 2 3 7 6\n4 1 2 6 5\n4 0 3 7 4\n")


def off_tree(root: Path) -> Path:
    top = root / "modelnet40" / "ModelNet40"
    for c in ("bed", "sofa"):
        for split in ("train", "test"):
            (top / c / split).mkdir(parents=True)
            for i in range(3):
                (top / c / split / f"{c}_{i:04d}.off").write_text(CUBE_OFF)
    return top


def h5_release(root: Path) -> Path:
    import h5py

    folder = root / "modelnet40" / "modelnet40_ply_hdf5_2048"
    folder.mkdir(parents=True)
    (folder / "shape_names.txt").write_text("airplane\nbed\n")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 4)):
        with h5py.File(folder / f"ply_data_{split}0.h5", "w") as f:
            f["data"] = rng.normal(size=(n, 64, 3)).astype(np.float32)
            f["label"] = (np.arange(n) % 2).reshape(-1, 1).astype(np.uint8)
    return folder


def text_pairs(root: Path, name: str, stems: list[tuple[str, str]], gz: bool = False) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for a, b in stems:
        for stem, word in ((a, "hello"), (b, "hallo")):
            text = "".join(f"{word} {k}\n" for k in range(6))
            if gz:
                with gzip.open(folder / f"{stem}.gz", "wt", encoding="utf-8") as handle:
                    handle.write(text)
            else:
                (folder / stem).write_text(text)
    return folder


MULTI30K = [(f"{s}.en", f"{s}.de") for s in ("train", "val", "test_2016_flickr")]
WMT = [(f"src-{s}.txt", f"tgt-{s}.txt") for s in ("train", "val", "test")]


# -- damage -----------------------------------------------------------------------------------
def zero_byte(path: Path) -> None:
    path.write_bytes(b"")


def truncate(path: Path, fraction: float = 0.4) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:max(1, int(len(data) * fraction))])


def garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 600, dtype=np.uint8).tobytes())


def replace_text(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, count))


def non_utf8_line(path: Path, line: int) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = lines[line - 1] + b" \xff\xfe caf\xe9"
    path.write_bytes(b"\n".join(lines))


def append_line(path: Path, line: str) -> None:
    with open(path, "a") as handle:
        handle.write(line + "\n")


# -- cases ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    loader: str            # "task/dataset (layout)"
    damage: str            # kind of damage
    build: Callable[[Path], Callable[[str], Any]]   # root -> load(on_error)
    expect: tuple[str, ...]                          # substrings the message must hold


def _image_loader(module: str, name: str, **kw):
    def load(root: Path):
        import importlib

        mod = importlib.import_module(f"tasks.image.datasets.{module}")
        return lambda on_error: mod.load(root, on_error=on_error, **kw)
    return load


def _case(loader: str, damage: str, make, hurt, expect, load) -> Case:
    def build(root: Path):
        top = make(root)
        hurt(top)
        return load(root)
    return Case(loader, damage, build, tuple(expect))


def cases() -> list[Case]:
    from tasks.detection.datasets import SPECS
    from tasks.pointcloud import datasets as points
    from tasks.text.datasets import dialogue, multi30k, wmt14
    from tasks.video.datasets import hmdb51, ucf101
    from tasks.video.datasets.loading import DecodeSettings

    out: list[Case] = []
    add = out.append

    # image: image_folder (train/<class>/*)
    folder = _image_loader("folder", "image_folder")
    f0 = lambda t: t / "train" / "a" / "1.png"   # noqa: E731
    add(_case("image/image_folder", "zero-byte image", image_folder, lambda t: zero_byte(f0(t)),
              ["a/1.png"], folder))
    add(_case("image/image_folder", "truncated PNG", image_folder, lambda t: truncate(f0(t)),
              ["a/1.png"], folder))
    add(_case("image/image_folder", "garbage bytes", image_folder, lambda t: garbage(f0(t)),
              ["a/1.png"], folder))
    add(_case("image/image_folder", "wrong header (JPEG magic, then garbage)", image_folder,
              lambda t: f0(t).write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 200), ["a/1.png"], folder))
    add(_case("image/image_folder", "wrong dimension (20×20 among 16×16)", image_folder,
              lambda t: _image(t / "train" / "b" / "2.png", 20, 20), ["b/2.png"], folder))

    # image: CIFAR-10 pickles
    cifar = _image_loader("cifar10", "cifar10")
    b2 = lambda t: t / "data_batch_2"   # noqa: E731
    add(_case("image/cifar10 (pickles)", "zero-byte batch", cifar_pickles,
              lambda t: zero_byte(b2(t)), ["data_batch_2"], cifar))
    add(_case("image/cifar10 (pickles)", "truncated batch", cifar_pickles,
              lambda t: truncate(b2(t), 0.5), ["data_batch_2"], cifar))
    add(_case("image/cifar10 (pickles)", "garbage bytes", cifar_pickles, lambda t: garbage(b2(t)),
              ["data_batch_2"], cifar))
    add(_case("image/cifar10 (pickles)", "wrong dimension (N×100 data)", cifar_pickles,
              lambda t: b2(t).write_bytes(pickle.dumps(
                  {b"labels": [0] * 4, b"data": np.zeros((4, 100), np.uint8)})),
              ["data_batch_2"], cifar))
    add(_case("image/cifar10 (pickles)", "labels and images differ in count", cifar_pickles,
              lambda t: b2(t).write_bytes(pickle.dumps(
                  {b"labels": [0] * 3, b"data": np.zeros((4, 3072), np.uint8)})),
              ["data_batch_2"], cifar))

    # image: GTSRB (ppm + CSV)
    gt = _image_loader("gtsrb", "gtsrb")
    tr = lambda t: t / "Final_Training" / "Images" / "00001"   # noqa: E731
    add(_case("image/gtsrb", "zero-byte image", gtsrb, lambda t: zero_byte(tr(t) / "00001_00000.ppm"),
              ["00001_00000.ppm"], gt))
    add(_case("image/gtsrb", "truncated PPM", gtsrb, lambda t: truncate(tr(t) / "00002_00000.ppm"),
              ["00002_00000.ppm"], gt))
    add(_case("image/gtsrb", "CSV ClassId not a number", gtsrb,
              lambda t: replace_text(tr(t) / "GT-00001.csv", "19;1\n", "19;x\n"),
              ["GT-00001.csv:2"], gt))
    add(_case("image/gtsrb", "CSV not UTF-8", gtsrb,
              lambda t: non_utf8_line(t / "Final_Test" / "GT-final_test.csv", 3),
              ["GT-final_test.csv"], gt))
    add(_case("image/gtsrb", "CSV row naming a missing file", gtsrb,
              lambda t: append_line(tr(t) / "GT-00001.csv", "09999_00000.ppm;20;20;1;1;19;19;1"),
              ["09999_00000.ppm"], gt))

    # image: Tiny-ImageNet
    tiny = _image_loader("tiny_imagenet", "tiny_imagenet")
    add(_case("image/tiny_imagenet", "garbage train JPEG", tiny_imagenet,
              lambda t: garbage(t / "train" / "n02" / "images" / "n02_1.JPEG"), ["n02_1.JPEG"],
              tiny))
    add(_case("image/tiny_imagenet", "zero-byte val JPEG", tiny_imagenet,
              lambda t: zero_byte(t / "val" / "images" / "val_2.JPEG"), ["val_2.JPEG"], tiny))
    add(_case("image/tiny_imagenet", "duplicate val id", tiny_imagenet,
              lambda t: append_line(t / "val" / "val_annotations.txt",
                                    "val_1.JPEG\tn02\t0\t0\t63\t63"),
              ["val_annotations.txt:5", "val_1.JPEG"], tiny))
    add(_case("image/tiny_imagenet", "annotation line with an unknown wnid", tiny_imagenet,
              lambda t: replace_text(t / "val" / "val_annotations.txt", "val_2.JPEG\tn01",
                                     "val_2.JPEG\tn99"), ["val_annotations.txt:3"], tiny))
    add(_case("image/tiny_imagenet", "wnids.txt not UTF-8", tiny_imagenet,
              lambda t: non_utf8_line(t / "wnids.txt", 2), ["wnids.txt:2"], tiny))

    # detection: VOC2007
    def det(name: str):
        return lambda root: (lambda on_error: SPECS[name].load(root, 32, on_error))
    vj = lambda t, i: t / "JPEGImages" / f"{i}.jpg"      # noqa: E731
    vx = lambda t, i: t / "Annotations" / f"{i}.xml"     # noqa: E731
    vs = lambda t, s: t / "ImageSets" / "Main" / f"{s}.txt"   # noqa: E731
    add(_case("detection/voc07", "garbage JPEG", voc, lambda t: garbage(vj(t, "000002")),
              ["000002.jpg"], det("voc07")))
    add(_case("detection/voc07", "truncated JPEG", voc, lambda t: truncate(vj(t, "000002"), 0.3),
              ["000002.jpg"], det("voc07")))
    add(_case("detection/voc07", "zero-byte JPEG", voc, lambda t: zero_byte(vj(t, "000004")),
              ["000004.jpg"], det("voc07")))
    add(_case("detection/voc07", "truncated annotation XML", voc,
              lambda t: truncate(vx(t, "000003"), 0.5), ["000003.xml"], det("voc07")))
    add(_case("detection/voc07", "box coordinate '12.5px'", voc,
              lambda t: replace_text(vx(t, "000001"), "<xmin>1</xmin>", "<xmin>12.5px</xmin>"),
              ["000001.xml", "12.5px"], det("voc07")))
    add(_case("detection/voc07", "difficult flag not 0/1", voc,
              lambda t: replace_text(vx(t, "000001"), "<difficult>0", "<difficult>maybe"),
              ["000001.xml"], det("voc07")))
    add(_case("detection/voc07", "image size differs from its XML (wrong dimension)", voc,
              lambda t: _image(vj(t, "000005"), 50, 30, 5, "JPEG"), ["000005.jpg"],
              det("voc07")))
    add(_case("detection/voc07", "split line naming a missing image", voc,
              lambda t: append_line(vs(t, "trainval"), "009999"), ["trainval.txt:4", "009999"],
              det("voc07")))
    add(_case("detection/voc07", "duplicate id in a split file", voc,
              lambda t: append_line(vs(t, "test"), "000004"), ["test.txt:3", "000004"],
              det("voc07")))
    add(_case("detection/voc07", "split file not UTF-8", voc,
              lambda t: non_utf8_line(vs(t, "test"), 2), ["test.txt"], det("voc07")))

    # detection: COCO 2017 layout, and the composed set (same format, own folder)
    ca = lambda t, s="train2017": t / "annotations" / f"instances_{s}.json"   # noqa: E731

    def coco_edit(t: Path, fn) -> None:
        raw = json.loads(ca(t).read_text())
        fn(raw)
        ca(t).write_text(json.dumps(raw))
    add(_case("detection/coco", "truncated annotation json", coco, lambda t: truncate(ca(t), 0.5),
              ["instances_train2017.json"], det("coco")))
    add(_case("detection/coco", "json naming a missing image", coco,
              lambda t: (t / "train2017" / "1.jpg").unlink(), ["1.jpg"], det("coco")))
    add(_case("detection/coco", "bbox not numbers", coco,
              lambda t: coco_edit(t, lambda r: r["annotations"][0].update(bbox=["a", 1, 2, 3])),
              ["instances_train2017.json", "0.jpg"], det("coco")))
    add(_case("detection/coco", "duplicate image id", coco,
              lambda t: coco_edit(t, lambda r: r["images"].append(dict(r["images"][0]))),
              ["instances_train2017.json", "image id 1"], det("coco")))
    add(_case("detection/coco", "garbage image", coco, lambda t: garbage(t / "val2017" / "2.jpg"),
              ["val2017/2.jpg"], det("coco")))
    add(_case("detection/coco", "NaN box", coco,
              lambda t: ca(t).write_text(ca(t).read_text().replace("[2, 2, 20, 10]",
                                                                    "[NaN, 2, 20, 10]", 1)),
              ["instances_train2017.json", "0.jpg"], det("coco")))
    composed = lambda root: coco(root, "composed_detection")   # noqa: E731
    add(_case("detection/composed", "zero-byte image", composed,
              lambda t: zero_byte(t / "train2017" / "2.jpg"), ["train2017/2.jpg"], det("composed")))
    add(_case("detection/composed", "truncated image", composed,
              lambda t: truncate(t / "val2017" / "0.jpg", 0.3), ["val2017/0.jpg"],
              det("composed")))
    add(_case("detection/composed", "zero-byte annotation json", composed,
              lambda t: zero_byte(ca(t, "val2017")), ["instances_val2017.json"], det("composed")))

    # video: UCF-101, HMDB-51, the composed action folders (UCF layout)
    settings = lambda on_error: DecodeSettings(2, 16, 5, on_error=on_error)   # noqa: E731

    def vid(module, **kw):
        return lambda root: (lambda on_error: module.load(root, settings(on_error), **kw))
    uv = lambda t, g="02", c="Biking": t / "UCF-101" / c / f"v_{c}_g{g}_c01.avi"   # noqa: E731
    ul = lambda t, n="trainlist01.txt": t / "ucfTrainTestlist" / n   # noqa: E731

    def short(t: Path) -> None:
        from tasks.video.io import write_video
        write_video(uv(t), _frames(4, 32))
    add(_case("video/ucf101", "garbage .avi", ucf, lambda t: garbage(uv(t)),
              ["v_Biking_g02_c01.avi"], vid(ucf101)))
    add(_case("video/ucf101", "zero-byte .avi", ucf, lambda t: zero_byte(uv(t)),
              ["v_Biking_g02_c01.avi"], vid(ucf101)))
    add(_case("video/ucf101", "truncated .avi (70 %: decodes fewer frames than declared)", ucf,
              lambda t: truncate(uv(t), 0.7), ["v_Biking_g02_c01.avi", "truncated"], vid(ucf101)))
    add(_case("video/ucf101", "video shorter than the clip (4 frames, clip needs 6)", ucf, short,
              ["v_Biking_g02_c01.avi"], vid(ucf101)))
    add(_case("video/ucf101", "split line with a non-numeric class id", ucf,
              lambda t: replace_text(ul(t), "g02_c01.avi 1", "g02_c01.avi one"),
              ["trainlist01.txt:1"], vid(ucf101)))
    add(_case("video/ucf101", "split line naming a missing video", ucf,
              lambda t: append_line(ul(t), "Biking/v_Biking_g99_c01.avi 2"),
              ["trainlist01.txt:5", "v_Biking_g99_c01.avi"], vid(ucf101)))
    add(_case("video/ucf101", "duplicate split line", ucf,
              lambda t: append_line(ul(t), "Biking/v_Biking_g02_c01.avi 2"),
              ["trainlist01.txt:5"], vid(ucf101)))
    add(_case("video/ucf101", "split file not UTF-8", ucf,
              lambda t: non_utf8_line(ul(t, "testlist01.txt"), 2), ["testlist01.txt:2"],
              vid(ucf101)))
    add(_case("video/ucf101", "classInd line malformed", ucf,
              lambda t: replace_text(ul(t, "classInd.txt"), "2 Biking", "two Biking"),
              ["classInd.txt:2"], vid(ucf101)))
    hv = lambda t: t / "videos" / "wave" / "wave_1.avi"   # noqa: E731
    hs = lambda t: t / "testTrainMulti_7030_splits" / "wave_test_split1.txt"   # noqa: E731
    add(_case("video/hmdb51", "garbage .avi", hmdb, lambda t: garbage(hv(t)), ["wave_1.avi"],
              vid(hmdb51)))
    add(_case("video/hmdb51", "split line with a tag outside 0/1/2", hmdb,
              lambda t: replace_text(hs(t), "wave_2.avi 2", "wave_2.avi 7"),
              ["wave_test_split1.txt:3"], vid(hmdb51)))
    add(_case("video/hmdb51", "split line naming a missing video", hmdb,
              lambda t: append_line(hs(t), "wave_9.avi 1"), ["wave_test_split1.txt:4",
                                                            "wave_9.avi"], vid(hmdb51)))
    moving = lambda root: ucf(root, "moving_objects")   # noqa: E731
    mo = lambda root: (lambda on_error: ucf101.load(root, settings(on_error),   # noqa: E731
                                                    folder_name="moving_objects",
                                                    script="synthetic_actions"))
    add(_case("video/moving_objects (folders)", "truncated .avi", moving,
              lambda t: truncate(uv(t, "08"), 0.7), ["v_Biking_g08_c01.avi"], mo))
    add(_case("video/moving_objects (folders)", "zero-byte .avi", moving,
              lambda t: zero_byte(uv(t, "01", "ApplyEyeMakeup")),
              ["v_ApplyEyeMakeup_g01_c01.avi"], mo))

    # point clouds: PCD copy, OFF meshes, HDF5 release
    def pts(name):
        return lambda root: (lambda on_error: points.load(root, name, 32, on_error=on_error))
    pc = lambda t: t / "desk" / "train" / "desk_0001.pcd"   # noqa: E731
    ascii_pcd = ("VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 3\n"
                 "HEIGHT 1\nPOINTS 3\nDATA ascii\n")
    add(_case("pointcloud/modelnet10 (PCD)", "zero-byte file", pcd_tree, lambda t: zero_byte(pc(t)),
              ["desk_0001.pcd"], pts("modelnet10")))
    add(_case("pointcloud/modelnet10 (PCD)", "truncated header", pcd_tree,
              lambda t: pc(t).write_bytes(b"VERSION 0.7\nFIELDS x y z\n"), ["desk_0001.pcd"],
              pts("modelnet10")))
    add(_case("pointcloud/modelnet10 (PCD)", "truncated binary data", pcd_tree,
              lambda t: truncate(pc(t), 0.6), ["desk_0001.pcd"], pts("modelnet10")))
    add(_case("pointcloud/modelnet10 (PCD)", "NaN coordinates", pcd_tree,
              lambda t: pc(t).write_text(ascii_pcd + "0 0 0\nnan 1 2\n1 1 1\n"),
              ["desk_0001.pcd", "NaN"], pts("modelnet10")))
    add(_case("pointcloud/modelnet10 (PCD)", "inf coordinates", pcd_tree,
              lambda t: pc(t).write_text(ascii_pcd + "0 0 0\ninf 1 2\n1 1 1\n"),
              ["desk_0001.pcd"], pts("modelnet10")))
    add(_case("pointcloud/modelnet10 (PCD)", "garbage values in DATA ascii", pcd_tree,
              lambda t: pc(t).write_text(ascii_pcd + "0 0 0\n1 abc 2\n1 1 1\n"),
              ["desk_0001.pcd"], pts("modelnet10")))
    add(_case("pointcloud/modelnet10 (PCD)", "wrong dimension (FIELDS x y)", pcd_tree,
              lambda t: pc(t).write_text(ascii_pcd.replace("x y z", "x y").replace(
                  "4 4 4", "4 4").replace("F F F", "F F").replace("1 1 1", "1 1") + "0 0\n1 1\n2 2\n"),
              ["desk_0001.pcd"], pts("modelnet10")))
    om = lambda t: t / "sofa" / "test" / "sofa_0002.off"   # noqa: E731
    add(_case("pointcloud/modelnet40 (OFF)", "no OFF header (garbage)", off_tree,
              lambda t: garbage(om(t)), ["sofa_0002.off"], pts("modelnet40")))
    add(_case("pointcloud/modelnet40 (OFF)", "truncated mesh", off_tree,
              lambda t: truncate(om(t), 0.5), ["sofa_0002.off"], pts("modelnet40")))
    add(_case("pointcloud/modelnet40 (OFF)", "NaN vertex", off_tree,
              lambda t: replace_text(om(t), "-1 -1 -1", "nan -1 -1"), ["sofa_0002.off"],
              pts("modelnet40")))
    add(_case("pointcloud/modelnet40 (OFF)", "face naming a vertex out of range", off_tree,
              lambda t: replace_text(om(t), "4 0 1 2 3", "4 0 1 2 30"), ["sofa_0002.off"],
              pts("modelnet40")))
    h5 = lambda t: t / "ply_data_train0.h5"   # noqa: E731

    def h5_write(t: Path, data: np.ndarray) -> None:
        import h5py
        with h5py.File(h5(t), "w") as f:
            f["data"] = data
            f["label"] = np.zeros((len(data), 1), np.uint8)
    add(_case("pointcloud/modelnet40 (HDF5)", "garbage .h5", h5_release, lambda t: garbage(h5(t)),
              ["ply_data_train0.h5"], pts("modelnet40")))
    add(_case("pointcloud/modelnet40 (HDF5)", "NaN shape", h5_release,
              lambda t: h5_write(t, np.where(np.arange(6)[:, None, None] == 2, np.nan,
                                             np.ones((6, 64, 3), np.float32))),
              ["ply_data_train0.h5", "shape 2"], pts("modelnet40")))
    add(_case("pointcloud/modelnet40 (HDF5)", "wrong dimension (N, P, 2)", h5_release,
              lambda t: h5_write(t, np.ones((6, 64, 2), np.float32)), ["ply_data_train0.h5"],
              pts("modelnet40")))

    # text: Multi30k, WMT14, dialogue corpora
    def txt(module, **kw):
        return lambda root: (lambda on_error: module.load(root, on_error=on_error, **kw))
    m30 = lambda root: text_pairs(root, "multi30k", MULTI30K)   # noqa: E731
    add(_case("text/multi30k", "non-UTF-8 line", m30, lambda t: non_utf8_line(t / "train.de", 3),
              ["train.de:3"], txt(multi30k)))
    add(_case("text/multi30k", "sides differ in line count", m30,
              lambda t: append_line(t / "val.en", "one more"), ["val.de", "val.en"],
              txt(multi30k)))
    m30gz = lambda root: text_pairs(root, "multi30k", MULTI30K, gz=True)   # noqa: E731
    add(_case("text/multi30k", "truncated .gz", m30gz, lambda t: truncate(t / "train.en.gz", 0.5),
              ["train.en.gz"], txt(multi30k)))
    wmt = lambda root: text_pairs(root, "wmt14", WMT)   # noqa: E731
    add(_case("text/wmt14", "non-UTF-8 line", wmt, lambda t: non_utf8_line(t / "src-test.txt", 5),
              ["src-test.txt:5"], txt(wmt14)))
    add(_case("text/wmt14", "sides differ in line count", wmt,
              lambda t: append_line(t / "tgt-train.txt", "noch eins"),
              ["tgt-train.txt", "src-train.txt"], txt(wmt14)))
    add(_case("text/wmt14", "zero-byte side", wmt, lambda t: zero_byte(t / "src-val.txt"),
              ["tgt-val.txt", "src-val.txt"], txt(wmt14)))
    subs = lambda root: text_pairs(root, "opensubtitles", WMT, gz=True)   # noqa: E731
    dg = lambda root: (lambda on_error: dialogue.OPENSUBTITLES_DATASET.load(  # noqa: E731
        root, on_error=on_error))
    add(_case("text/opensubtitles (dialogue)", "truncated .gz", subs,
              lambda t: truncate(t / "tgt-train.txt.gz", 0.5), ["tgt-train.txt.gz"], dg))

    def gz_non_utf8(path: Path) -> None:
        with gzip.open(path, "rb") as handle:
            lines = handle.read().split(b"\n")
        lines[1] += b" \xff"
        with gzip.open(path, "wb") as handle:
            handle.write(b"\n".join(lines))
    add(_case("text/opensubtitles (dialogue)", "non-UTF-8 line in .gz", subs,
              lambda t: gz_non_utf8(t / "src-test.txt.gz"), ["src-test.txt.gz:2"], dg))
    return out


# -- running a case ---------------------------------------------------------------------------
def reported(result: Any) -> list[str]:
    """The bad files a loader's result lists (any loader's result type)."""
    if isinstance(result, tuple):                                   # detection (train, test)
        return [m for part in result for m in part.info.get("bad_file_list", [])]
    for attr in ("bad_files", "skipped"):                           # image, video, point clouds
        value = getattr(result, attr, None)
        if isinstance(value, list):
            return list(value)
    info = getattr(result, "info", None)                            # text Corpus
    return list((info or {}).get("bad_file_list", []))


@dataclass
class Outcome:
    kind: str        # "error" | "skipped" | "traceback" | "silent"
    message: str     # the error message (what the runner prints after "error: ") or the listing
    exception: str = ""


def run(case: Case, on_error: str) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        load = case.build(root)
        try:
            result = load(on_error)
        except INPUT_ERRORS as exc:
            text = str(exc).replace(str(root) + "/", "")
            good = "\n" not in str(exc) and all(e in text for e in case.expect)
            return Outcome("error" if good else "traceback", text, type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - what a user would get as a traceback
            return Outcome("traceback", str(exc), type(exc).__name__)
        listed = [m.replace(str(root) + "/", "") for m in reported(result)]
        hits = [m for m in listed if all(e in m for e in case.expect)]
        if hits:
            return Outcome("skipped", f"{len(listed)} listed: {hits[0]}")
        return Outcome("silent", f"loaded; listed {listed}")


# -- the results table ------------------------------------------------------------------------
def _cell(text: str, limit: int = 150) -> str:
    text = text.replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def write_table(path: Path) -> dict:
    start = time.perf_counter()
    rows, tally = [], Counter()
    all_cases = cases()
    for case in all_cases:
        raised, skipped = run(case, "raise"), run(case, "skip")
        tally[raised.kind] += 1
        tally[f"skip:{skipped.kind}"] += 1
        rows.append((case, raised, skipped))
    wall = time.perf_counter() - start
    loaders = sorted({c.loader for c in all_cases})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    lines = [
        "# Bad inputs: what a user sees for every damaged file",
        "",
        f"Generated by `python tests/bad_inputs_corpus.py --out {path.as_posix()}` (the corpus is "
        f"written fresh into a temporary folder; nothing is committed but this table), asserted "
        f"case by case by `tests/test_bad_inputs.py`. Commit {commit}, Python "
        f"{platform.python_version()}, CPU: Intel Xeon with AMX/avx512_bf16 (2 cores, run on "
        f"one), wall time {wall:.0f} s.",
        "",
        f"**{len(all_cases)} damaged inputs across {len(loaders)} loaders**: with "
        f"`data.on_error=raise` (default) {tally['error']} give the one-line error "
        f"(exit 2 in the runner, before anything trains), {tally['traceback']} tracebacks, "
        f"{tally['silent']} silent acceptances; with `data.on_error=skip` "
        f"{tally['skip:skipped']} are skipped and listed, {tally['skip:error']} still stop with "
        f"the one-line error (damage that cannot be skipped file by file), "
        f"{tally['skip:traceback']} tracebacks, {tally['skip:silent']} silent acceptances.",
        "",
        "Contract (`core/bad_data.py`): the message names the damaged file (and `file:line` for "
        "split, CSV and text files); the runner prints it as `error: <message>` and exits 2. "
        "With `skip` the console shows the count and the first five names; the record keeps the "
        "full list (`data.bad_file_list`). Paths below are relative to the data root.",
        "",
        "| loader | damage | on_error=raise (default): what the user sees | on_error=skip |",
        "|---|---|---|---|",
    ]
    def shown(outcome: Outcome, limit: int) -> str:
        if outcome.kind == "error":
            return f"`error: {_cell(outcome.message, limit)}` (exit 2)"
        if outcome.kind == "skipped":
            return f"skipped and listed ({_cell(outcome.message, limit)})"
        return f"**{outcome.kind}**: {outcome.exception} {_cell(outcome.message, limit)}"
    for case, raised, skipped in rows:
        lines.append(f"| {case.loader} | {case.damage} | {shown(raised, 150)} "
                     f"| {shown(skipped, 100)} |")
    lines += ["", "Per loader (damaged inputs tried):", ""]
    for loader in loaders:
        lines.append(f"- {loader}: {sum(c.loader == loader for c in all_cases)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return {"cases": len(all_cases), "loaders": len(loaders), **tally, "wall_s": wall}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/bad_inputs.md"))
    args = parser.parse_args()
    import importlib

    importlib.import_module("tasks")
    print(json.dumps(write_table(args.out), indent=1))
