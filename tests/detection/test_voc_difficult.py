"""VOC "difficult" objects: ignored by box mAP, present in the multi-label targets (Chen et al.)."""
from pathlib import Path

import pytest
import torch

from bad_inputs_corpus import VOC_XML, voc
from tasks.detection.datasets import SPECS
from tasks.detection.datasets.detection_set import source_summary

pytest.importorskip("torchmetrics")
pytest.importorskip("faster_coco_eval")

from tasks.detection.box_metrics import coco_map   # noqa: E402


def _truth(difficult: bool) -> list[dict]:
    # one ordinary cat and one difficult cat far from it, in one image
    target = {"boxes": torch.tensor([[0.0, 0.0, 20.0, 20.0], [60.0, 60.0, 90.0, 90.0]]),
              "labels": torch.tensor([0, 0])}
    if difficult:
        target["difficult"] = torch.tensor([False, True])
    return [target]


def _dets(on_difficult: float | None) -> list[dict]:
    boxes, scores = [[0.0, 0.0, 20.0, 20.0]], [0.9]
    if on_difficult is not None:
        boxes.append([60.0, 60.0, 90.0, 90.0])
        scores.append(on_difficult)
    return [{"boxes": torch.tensor(boxes), "scores": torch.tensor(scores),
             "labels": torch.zeros(len(boxes), dtype=torch.long)}]


@pytest.mark.parametrize("score", [0.95, 0.5, 0.05])
def test_a_detection_on_a_difficult_box_changes_nothing(score):
    without = coco_map(_dets(None), _truth(difficult=True))
    with_hit = coco_map(_dets(score), _truth(difficult=True))
    assert without["map_50"] == pytest.approx(100.0)
    assert with_hit == pytest.approx(without)
    # the flag matters: counted as an ordinary object, missing it halves the recall
    assert coco_map(_dets(None), _truth(difficult=False))["map_50"] < 60.0


def test_multilabel_counts_an_only_difficult_object_as_present(tmp_path: Path):
    base = voc(tmp_path)
    # 000004 (test): its only person is difficult -> person = 1 (Chen et al.'s VOC loader),
    # not the devkit's "ignore"
    (base / "Annotations" / "000004.xml").write_text(VOC_XML.format(i="000004", w=60, d=1, x=1))
    train, test = SPECS["voc07"].load(tmp_path, 32)
    person = test.categories.index("person")
    assert test.annotations[0]["difficult"].tolist() == [True]
    assert test.multi_hot()[0, person] == 1.0 and test.info["difficult_objects"] == 1
    # cached copy keeps the flags
    again = SPECS["voc07"].load(tmp_path, 32)[1]
    assert again.annotations[0]["difficult"].tolist() == [True]
    summary = source_summary(train, test, torch.arange(len(test)))
    assert "cat" in summary["map_classes_left_out"] and "person" not in summary["map_classes_left_out"]
    assert len(summary["map_classes_left_out"]) == 19
