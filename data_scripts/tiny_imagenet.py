"""Prepare Tiny-ImageNet-200 in ``<data root>/tiny_imagenet/`` for the ``tiny_imagenet`` loader.

    python data_scripts/tiny_imagenet.py --data-root DIR    # official zip (237 MB), md5 checked
    python data_scripts/tiny_imagenet.py --data-root DIR --from-archive tiny-imagenet-200.zip
    python data_scripts/tiny_imagenet.py --data-root DIR --from-folder PATH/tiny-imagenet-200 [--link]

The result is ``tiny_imagenet/tiny-imagenet-200/`` exactly as the official zip unpacks
(wnids.txt, train/<wnid>/images/, val/images/ + val/val_annotations.txt).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.prepare import parser, prepare, run  # noqa: E402
from tasks.image.datasets import tiny_imagenet as loader  # noqa: E402

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
FILE = "tiny-imagenet-200.zip"
MD5 = "90528d7ca1a48142e341f4ef8d21d0de"


def is_tiny_imagenet(folder: Path) -> bool:
    return (folder / "wnids.txt").is_file() and (folder / "train").is_dir()


def arrange(found: Path, staging: Path, extracted: Path) -> Path:
    ready = staging / "ready"
    ready.mkdir()
    os.replace(found, ready / loader.FOLDER)
    return ready


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0], archive_help="tiny-imagenet-200.zip",
                  folder_help="an unpacked tiny-imagenet-200/ folder").parse_args(argv)
    return prepare(args, name=loader.NAME, describe=loader.describe, is_dataset=is_tiny_imagenet,
                   expected=loader.EXPECTED, arrange=arrange,
                   downloads=[(URL, FILE, MD5)], known_md5={FILE: MD5})


if __name__ == "__main__":
    sys.exit(run(main))
