"""Loaders on small synthetic copies in the official layouts, and on the real coco-tiny."""
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from core.bad_data import BadDataError
import torch
from PIL import Image

from tasks.detection.datasets import SPECS, DatasetMissingError, coco, voc

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _jpg(path: Path, w: int, h: int, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)


def write_coco(folder: Path, split: str = "train2017") -> None:
    """Two images; category ids 7 and 3 (not contiguous, not sorted); one box reaching out of
    the image (clipped), one with no width (dropped), one crowd annotation."""
    _jpg(folder / split / "a.jpg", 100, 50)
    _jpg(folder / split / "b.jpg", 40, 40)
    anns = [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 5, 20, 10], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [90, 40, 30, 30], "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 3, "bbox": [5, 5, 0, 10], "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 7, "bbox": [0, 0, 40, 40], "iscrowd": 1}]
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    (folder / "annotations" / f"instances_{split}.json").write_text(json.dumps({
        "images": [{"id": 2, "file_name": "b.jpg", "width": 40, "height": 40},
                   {"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}],
        "annotations": anns,
        "categories": [{"id": 7, "name": "zebra"}, {"id": 3, "name": "car"}]}))


def test_coco_layout_boxes_categories_and_bad_boxes(tmp_path):
    write_coco(tmp_path)
    data = coco.read_split(tmp_path, "train2017", 20, "CMD")
    assert data.categories == ["car", "zebra"]                 # ordered by id, renumbered
    assert data.file_names == ["a.jpg", "b.jpg"]               # ordered by image id
    assert data.images.shape == (2, 3, 20, 20) and data.images.dtype == torch.uint8
    a, b = data.annotations
    # image a (100x50 -> 20x20): zebra [10,5,30,15] -> [2,2,6,6]; car clipped to [90,40,100,50]
    assert a["labels"].tolist() == [1, 0]
    assert torch.allclose(a["boxes"], torch.tensor([[2.0, 2.0, 6.0, 6.0], [18.0, 16.0, 20.0, 20.0]]))
    assert b["labels"].tolist() == [1]                         # zero-width car dropped, crowd kept
    assert data.info["boxes_clipped"] == 1 and data.info["boxes_dropped"] == 1
    assert data.info["dropped_examples"] == ["b.jpg"] and data.info["crowd_annotations"] == 1
    assert data.multi_hot().tolist() == [[1.0, 1.0], [0.0, 1.0]]
    again = coco.read_split(tmp_path, "train2017", 20, "CMD")  # from the cache
    assert torch.equal(again.images, data.images) and again.info == data.info
    assert any((tmp_path / ".cache").iterdir())


def test_missing_or_half_extracted_coco_names_path_and_command(tmp_path):
    with pytest.raises(DatasetMissingError, match="data_scripts/coco.py"):
        SPECS["coco"].load(tmp_path, 32)
    write_coco(tmp_path / "coco")
    with pytest.raises(DatasetMissingError, match="instances_val2017.json"):
        SPECS["coco"].load(tmp_path, 32)          # val2017 never extracted
    (tmp_path / "coco" / "train2017" / "b.jpg").unlink()
    with pytest.raises(BadDataError, match="b.jpg.*data_scripts/coco.py"):
        coco.read_split(tmp_path / "coco", "train2017", 16, "python data_scripts/coco.py")
    (tmp_path / "coco" / "annotations" / "instances_train2017.json").write_text('{"images": [')
    with pytest.raises(ValueError, match="not valid json"):
        coco.read_split(tmp_path / "coco", "train2017", 16, "python data_scripts/coco.py")


def write_voc(root: Path, year: str, splits: dict[str, list[str]]) -> None:
    base = root / "VOCdevkit" / f"VOC{year}"
    for split, ids in splits.items():
        (base / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for i in ids:
            _jpg(base / "JPEGImages" / f"{i}.jpg", 60, 30)
            (base / "Annotations").mkdir(parents=True, exist_ok=True)
            (base / "Annotations" / f"{i}.xml").write_text(f"""<annotation>
  <filename>{i}.jpg</filename><size><width>60</width><height>30</height><depth>3</depth></size>
  <object><name>person</name><difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>30</xmax><ymax>15</ymax></bndbox></object>
  <object><name>car</name><difficult>1</difficult>
    <bndbox><xmin>31</xmin><ymin>16</ymin><xmax>70</xmax><ymax>30</ymax></bndbox></object>
</annotation>""")


@pytest.mark.parametrize("year,splits", [("2007", ("trainval", "test")), ("2012", ("train", "val"))])
def test_voc_layouts(tmp_path, year, splits):
    write_voc(tmp_path / f"voc{year}", year, {splits[0]: ["000001", "000002"], splits[1]: ["000003"]})
    train, test = SPECS["voc07" if year == "2007" else "voc12"].load(tmp_path, 30)
    assert len(train) == 2 and len(test) == 1 and train.categories == voc.CATEGORIES
    ann = train.annotations[0]
    person, car = voc.CATEGORIES.index("person"), voc.CATEGORIES.index("car")
    assert ann["labels"].tolist() == [person, car]
    # 1-based inclusive [1,1,30,15] -> [0,0,30,15] -> x/2, y*1 at 30x30
    assert torch.allclose(ann["boxes"][0], torch.tensor([0.0, 0.0, 15.0, 15.0]))
    assert torch.allclose(ann["boxes"][1], torch.tensor([15.0, 15.0, 30.0, 30.0]))  # clipped
    assert train.info["boxes_clipped"] == 2 and train.info["difficult_objects"] == 2
    assert train.multi_hot()[:, [person, car]].sum().item() == 4


def test_voc_missing_split_and_unknown_category(tmp_path):
    with pytest.raises(DatasetMissingError, match="VOC2007.*data_scripts/voc.py --data-root"):
        SPECS["voc07"].load(tmp_path, 30)
    write_voc(tmp_path / "voc2012", "2012", {"train": ["a"]})
    with pytest.raises(DatasetMissingError, match="val.txt"):
        SPECS["voc12"].load(tmp_path, 30)
    xml = tmp_path / "voc2012" / "VOCdevkit" / "VOC2012" / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("person", "persn"))
    with pytest.raises(ValueError, match="persn"):
        voc.read_split(tmp_path / "voc2012", "2012", "train", 30, "CMD")


@pytest.fixture(scope="module")
def coco_tiny(tmp_path_factory):
    archive = SHARED / "coco-tiny.tar.gz"
    if not archive.is_file():
        pytest.skip("../shared/datasets/coco-tiny.tar.gz not available")
    target = tmp_path_factory.mktemp("coco_tiny")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / "coco-tiny"


def test_real_coco_tiny(coco_tiny):
    train, test = coco.load(coco_tiny, 32, "CMD")
    assert len(train) == 80 and len(test) == 80
    assert len(train.categories) == 80 and train.categories[0] == "person"
    raw = json.loads((coco_tiny / "annotations" / "instances_val2017.json").read_text())
    assert sum(len(a["labels"]) for a in test.annotations) + test.info["boxes_dropped"] == \
        len(raw["annotations"])
    hot = test.multi_hot()
    assert hot.shape == (80, 80) and hot[:, 0].sum() > 10     # many images show a person
    for ann in test.annotations:
        boxes = ann["boxes"]
        assert ((boxes >= 0) & (boxes <= 32)).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
