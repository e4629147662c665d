"""data_scripts for the detection task: COCO (real coco-tiny archive), VOC (a synthetic tar in
the official layout) and the composed set (tiny synthetic source archives)."""
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_scripts import coco as coco_script
from data_scripts import compose_detection, voc as voc_script
from data_scripts.errors import PrepareError
from tasks.detection.datasets import SPECS

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _image(w: int, h: int, value: int, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def test_coco_script_prepares_coco_tiny(tmp_path):
    archive = SHARED / "coco-tiny.tar.gz"
    if not archive.is_file():
        pytest.skip("coco-tiny archive not available")
    assert coco_script.main(["--data-root", str(tmp_path), "--from-archive", str(archive)]) == 0
    assert (tmp_path / "coco" / ".prepared.json").is_file()
    train, test = SPECS["coco"].load(tmp_path, 32)
    assert len(train) == 80 and len(test) == 80


def test_voc_script_from_an_archive_in_the_official_layout(tmp_path):
    archive = tmp_path / "voc.tar"
    with tarfile.open(archive, "w") as tar:
        base = "VOCdevkit/VOC2012/"
        for split, ids in (("train", ["a"]), ("val", ["b"])):
            _add(tar, f"{base}ImageSets/Main/{split}.txt", ("\n".join(ids) + "\n").encode())
            for i in ids:
                _add(tar, f"{base}JPEGImages/{i}.jpg", _image(20, 20, 90))
                _add(tar, f"{base}Annotations/{i}.xml", (
                    "<annotation><size><width>20</width><height>20</height></size><object>"
                    "<name>dog</name><difficult>0</difficult><bndbox><xmin>2</xmin><ymin>2</ymin>"
                    "<xmax>10</xmax><ymax>10</ymax></bndbox></object></annotation>").encode())
    root = tmp_path / "data"
    assert voc_script.main(["--data-root", str(root), "--year", "2012",
                            "--from-archive", str(archive)]) == 0
    train, test = SPECS["voc12"].load(root, 16)
    assert len(train) == 1 and len(test) == 1 and train.multi_hot().sum() == 1
    # VOC2007 from an archive that holds only VOC2012: refused, naming what is missing
    with pytest.raises(PrepareError, match="VOCdevkit/VOC2007"):
        voc_script.main(["--data-root", str(root), "--year", "2007", "--from-archive", str(archive)])
    assert not (root / "voc2007").exists()


def _sources(tmp_path: Path) -> list[str]:
    cifar, gtsrb, bgs = tmp_path / "cifar.tar.gz", tmp_path / "gtsrb.tar.gz", tmp_path / "coco.tar.gz"
    with tarfile.open(cifar, "w:gz") as tar:
        for split in ("train", "test"):
            for k, cls in enumerate(compose_detection.CIFAR_CLASSES):
                for j in range(2):
                    _add(tar, f"{split}/{cls}/{j:04d}.jpg", _image(32, 32, 20 * k + j))
    with tarfile.open(gtsrb, "w:gz") as tar:
        rows = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
        for cls in compose_detection.GTSRB_CLASSES:
            folder = f"GTSRB/Final_Training/Images/{cls:05d}/"
            _add(tar, folder + f"GT-{cls:05d}.csv",
                 f"Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"
                 f"00000_00000.ppm;30;30;5;5;24;24;{cls}\n".encode())
            _add(tar, folder + "00000_00000.ppm", _image(30, 30, 200, "PPM"))
            rows.append(f"{cls:05d}.ppm;30;30;5;5;24;24;{cls}")
            _add(tar, f"GTSRB/Final_Test/Images/{cls:05d}.ppm", _image(30, 30, 150, "PPM"))
        _add(tar, "GTSRB/Final_Test/GT-final_test.csv", ("\n".join(rows) + "\n").encode())
    with tarfile.open(bgs, "w:gz") as tar:
        for split in ("train2017", "val2017"):
            for j in range(2):
                _add(tar, f"coco-tiny/{split}/{j}.jpg", _image(80, 60, 60 + 30 * j))
    return ["--cifar10", str(cifar), "--gtsrb", str(gtsrb), "--backgrounds", str(bgs)]


def test_compose_script_writes_coco_format_deterministically(tmp_path):
    sources = _sources(tmp_path)
    args = ["--train", "30", "--test", "10", "--size", "32", "--seed", "3"] + sources
    for name in ("a", "b"):
        assert compose_detection.main(["--data-root", str(tmp_path / name)] + args) == 0
    ann = "composed_detection/annotations/instances_train2017.json"
    first, second = ((tmp_path / n / ann).read_text() for n in ("a", "b"))
    assert first == second                                    # same seed, same set
    raw = json.loads(first)
    assert len(raw["images"]) == 30 and len(raw["categories"]) == 12
    stats = json.loads((tmp_path / "a/composed_detection/annotations/composition.json").read_text())
    assert stats["seed"] == 3 and stats["train2017"]["top_pairs"]
    train, test = SPECS["composed"].load(tmp_path / "a", 32)
    assert len(train) == 30 and len(test) == 10
    assert train.info["boxes_dropped"] == 0 and train.info["boxes_clipped"] == 0
    for a in raw["annotations"][:20]:
        x, y, w, h = a["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 32 and y + h <= 32 and w >= 8
    with pytest.raises(SystemExit):
        compose_detection.main(["--data-root", str(tmp_path / "c")])   # sources are required
