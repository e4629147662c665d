"""Prepare GTSRB in ``<data root>/gtsrb/`` (official layout) for the ``gtsrb`` loader.

    python data_scripts/gtsrb.py --data-root DIR            # the three official zips, md5 checked
    python data_scripts/gtsrb.py --data-root DIR --from-archive ../shared/datasets/gtsrb-subset.tar.gz
    python data_scripts/gtsrb.py --data-root DIR --from-archive GTSRB_Final_Training_Images.zip \\
        --from-archive GTSRB_Final_Test_Images.zip --from-archive GTSRB_Final_Test_GT.zip
    python data_scripts/gtsrb.py --data-root DIR --from-folder PATH [--link]

The result is ``gtsrb/GTSRB/Final_Training/Images/000NN/`` and ``gtsrb/GTSRB/Final_Test/Images/``
with the test labels ``GT-final_test.csv`` (shipped separately in GTSRB_Final_Test_GT.zip) moved
to ``gtsrb/GTSRB/Final_Test/``.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.errors import PrepareError  # noqa: E402
from data_scripts.folders import find_file  # noqa: E402
from data_scripts.prepare import parser, prepare, run  # noqa: E402
from tasks.image.datasets import gtsrb as loader                              # noqa: E402

BASE_URL = "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"
# (file, md5) of the official release (https://benchmark.ini.rub.de/gtsrb_dataset.html)
FILES = [("GTSRB_Final_Training_Images.zip", "f33fd80ac59bff73c82d25ab499e03a3"),
         ("GTSRB_Final_Test_Images.zip", "c7e4e6327067d32654124b0fe9e82185"),
         ("GTSRB_Final_Test_GT.zip", "fe31e9c9270bbcd7b84b7f21a9d9d9e5")]


def is_gtsrb(folder: Path) -> bool:
    return any((base / "Final_Training" / "Images").is_dir() or (base / "Final_Test" / "Images").is_dir()
               for base in (folder / "GTSRB", folder))


def arrange(found: Path, staging: Path, extracted: Path) -> Path:
    """``found`` -> a folder holding ``GTSRB/``, with the test labels where the loader looks."""
    if (found / "GTSRB").is_dir():
        ready = found
    else:                                  # the archive held Final_Training/ at its top
        ready = staging / "ready"
        ready.mkdir()
        os.replace(found, ready / "GTSRB")
    base = ready / "GTSRB"
    canonical = base / "Final_Test" / loader.TEST_CSV
    if not canonical.is_file():
        csv = find_file(extracted, loader.TEST_CSV)
        if csv is None:
            raise PrepareError(f"the test labels {loader.TEST_CSV} are missing: also pass "
                               f"GTSRB_Final_Test_GT.zip")
        # never write into a linked source folder: next to GTSRB/ is also where the loader looks
        dest = ready / loader.TEST_CSV if base.is_symlink() else canonical
        if csv.resolve() != dest.resolve():
            dest.parent.mkdir(parents=True, exist_ok=True)
            if csv.resolve().is_relative_to(staging.resolve()):
                os.replace(csv, dest)               # extracted by us: move it
            else:
                shutil.copyfile(csv, dest)          # in the user's folder: copy it
    return ready


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0],
                  archive_help="the official GTSRB zips or a tar/zip of the official layout",
                  folder_help="a folder holding GTSRB/Final_Training and GTSRB/Final_Test"
                  ).parse_args(argv)
    return prepare(args, name=loader.NAME, describe=loader.describe, is_dataset=is_gtsrb,
                   expected=loader.EXPECTED, arrange=arrange,
                   downloads=[(BASE_URL + f, f, md5) for f, md5 in FILES], known_md5=dict(FILES))


if __name__ == "__main__":
    sys.exit(run(main))
