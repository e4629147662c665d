"""The detection task's datasets: Pascal VOC 2007 / 2012, COCO 2017, the composed set (real
objects on real backgrounds, COCO format; ``data_scripts/compose_detection.py``) and an
in-memory ``synthetic`` set (shapes on noise) for tests and the smoke preset.

Every entry is a ``DetectionDataset`` spec: ``spec.load(data_root, image_size)`` returns the
(train, test) ``DetectionSet``s. A missing or half-extracted folder fails with the path and the
``data_scripts`` command that prepares it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.registry import DATASETS

from . import coco, voc
from .detection_set import DetectionSet
from .missing import DatasetMissingError

COMPOSED_DIR = "composed_detection"


@dataclass(frozen=True)
class DetectionDataset:
    name: str
    folder: str              # under the data root
    command: str             # how to prepare it
    year: str = ""           # VOC only

    def load(self, data_root: Path, image_size: int, on_error: str = "raise"
             ) -> tuple[DetectionSet, DetectionSet]:
        folder = Path(data_root) / self.folder
        command = self.command.replace("DIR", str(data_root))
        if self.name in ("voc07", "voc12"):
            return voc.load(folder, self.year, image_size, command, on_error)
        return coco.load(folder, image_size, command, on_error)


SPECS = {
    "voc07": DetectionDataset("voc07", "voc2007", "python data_scripts/voc.py --data-root DIR --year 2007",
                              "2007"),
    "voc12": DetectionDataset("voc12", "voc2012", "python data_scripts/voc.py --data-root DIR --year 2012",
                              "2012"),
    "coco": DetectionDataset("coco", "coco", "python data_scripts/coco.py --data-root DIR"),
    "composed": DetectionDataset(
        "composed", COMPOSED_DIR,
        "python data_scripts/compose_detection.py --data-root DIR "
        "--cifar10 ../shared/datasets/cifar10-jpg.tar.gz --gtsrb ../shared/datasets/gtsrb-subset.tar.gz "
        "--backgrounds ../shared/datasets/coco-tiny.tar.gz"),
    "synthetic": DetectionDataset("synthetic", "", ""),
}
for _name, _spec in SPECS.items():     # both detection tasks read the same datasets
    for _task in ("detection", "detection_boxes"):
        DATASETS.register(_name, _spec, namespace=_task)

__all__ = ["COMPOSED_DIR", "DatasetMissingError", "DetectionDataset", "DetectionSet", "SPECS"]
