"""Prepare COCO 2017 in ``<data root>/coco/`` (official layout) for the detection task's ``coco``
dataset.

    python data_scripts/coco.py --data-root DIR              # the three official zips, md5 checked
    python data_scripts/coco.py --data-root DIR --from-archive train2017.zip \\
        --from-archive val2017.zip --from-archive annotations_trainval2017.zip
    python data_scripts/coco.py --data-root DIR --from-archive ../shared/datasets/coco-tiny.tar.gz
    python data_scripts/coco.py --data-root DIR --from-folder PATH [--link]

The result is ``coco/{train2017,val2017}/*.jpg`` and ``coco/annotations/instances_{train,val}2017.json``.
The offline ``coco-tiny`` archive (80 + 80 real COCO images with their official annotations) has
this layout: prepared this way it is read as ``coco`` too (enough for loader and metric checks,
not for training). md5 sums: the published ones of images.cocodataset.org.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.prepare import parser, prepare, run   # noqa: E402
from tasks.detection.datasets.coco import validate     # noqa: E402

FILES = [("http://images.cocodataset.org/zips/train2017.zip", "train2017.zip",
          "cced6f7f71b7629ddf16f17bbcfab6b2"),
         ("http://images.cocodataset.org/zips/val2017.zip", "val2017.zip",
          "442b8da7639aecaf257c1dceb8ba8c80"),
         ("http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
          "annotations_trainval2017.zip", "f4bbac642086de4f52a3fdda2de5fa2c")]
SPLITS = ("train2017", "val2017")


def is_coco(folder: Path) -> bool:
    return (folder / "annotations" / "instances_val2017.json").is_file()


def describe(folder: Path) -> str:
    counts = validate(folder)        # every image of both splits exists, no empty split
    return ", ".join(f"{counts[split]} {split} images" for split in SPLITS)


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0],
                  archive_help="the official COCO 2017 zips or a tar/zip of the official layout",
                  folder_help="a folder holding annotations/, train2017/ and val2017/"
                  ).parse_args(argv)
    return prepare(args, name="coco", describe=describe, is_dataset=is_coco,
                   expected="annotations/instances_val2017.json with train2017/ and val2017/",
                   downloads=FILES, known_md5={file: md5 for _, file, md5 in FILES})


if __name__ == "__main__":
    sys.exit(run(main))
