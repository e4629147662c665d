"""Prepare CIFAR-10 in ``<data root>/cifar10/`` for the ``cifar10`` loader.

    python data_scripts/cifar10.py --data-root DIR          # official release, md5 checked
    python data_scripts/cifar10.py --data-root DIR --from-archive ../shared/datasets/cifar10-jpg.tar.gz
    python data_scripts/cifar10.py --data-root DIR --from-archive cifar-10-python.tar.gz
    python data_scripts/cifar10.py --data-root DIR --from-folder PATH [--link]

The official python tarball (163 MB) unpacks to ``cifar-10-batches-py/``; an archive or folder
holding ``train/<class>/*`` + ``test/<class>/*`` (the offline JPEG copy) is taken as is.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.prepare import parser, prepare, run  # noqa: E402
from tasks.image.datasets import cifar10 as loader      # noqa: E402

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FILE = "cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"   # published on https://www.cs.toronto.edu/~kriz/cifar.html


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0], archive_help="cifar-10-python.tar.gz or a tar/zip of "
                  "train/<class>/ + test/<class>/ images",
                  folder_help="a folder holding cifar-10-batches-py/ or train/ + test/"
                  ).parse_args(argv)
    return prepare(args, name=loader.NAME, describe=loader.describe,
                   is_dataset=lambda d: loader.layout(d) is not None, expected=loader.EXPECTED,
                   downloads=[(URL, FILE, MD5)], known_md5={FILE: MD5})


if __name__ == "__main__":
    sys.exit(run(main))
