"""Prepare HMDB-51 in ``<data root>/hmdb51/`` for the ``hmdb51`` video loader.

    python data_scripts/hmdb51.py --data-root DIR        # official RARs (2 GB)
    python data_scripts/hmdb51.py --data-root DIR --from-archive hmdb51_org.rar \
        --from-archive test_train_splits.rar
    python data_scripts/hmdb51.py --data-root DIR --from-folder PATH [--link]

The result is ``hmdb51/videos/<class>/*.avi`` and
``hmdb51/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt``. ``hmdb51_org.rar`` holds
one RAR per class (``<class>.rar``); those are unpacked too. The release publishes no checksum:
downloads are kept in ``<data root>/downloads`` and their SHA-256 printed; the layout is checked
(split files for splits 1-3, a video folder per class) before the folder is installed. RAR
needs ``rarfile`` + ``unrar``/``bsdtar`` (see ``data_scripts/ucf101.py``). No internet here:
tested on small copies in the official layout, not on the real download.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.errors import PrepareError  # noqa: E402
from data_scripts.folders import find_dir  # noqa: E402
from data_scripts.prepare import parser, prepare, run  # noqa: E402
from data_scripts.ucf101 import extract_rar, install_rar_support  # noqa: E402

NAME = "hmdb51"
BASE = "http://serre-lab.clps.brown.edu/wp-content/uploads/2013/10/"
URLS = [(BASE + "hmdb51_org.rar", "hmdb51_org.rar", None),
        (BASE + "test_train_splits.rar", "test_train_splits.rar", None)]
SPLITS = "testTrainMulti_7030_splits"
EXPECTED = f"{SPLITS}/<class>_test_split1.txt and a folder of .avi videos per class"


def is_hmdb51(folder: Path) -> bool:
    return (folder / SPLITS).is_dir() or any(folder.glob("*.rar")) or (folder / "videos").is_dir()


def arrange(found: Path, staging: Path, extracted: Path) -> Path:
    ready = staging / "ready"
    (ready / "videos").mkdir(parents=True)
    # archives: search everything unpacked; --from-folder: only our copy (never move the source)
    top = extracted if extracted.resolve().is_relative_to(staging.resolve()) else found
    splits = find_dir(top, lambda d: (d / SPLITS).is_dir(), max_depth=3)
    if splits is None:
        raise PrepareError(f"no {SPLITS}/ folder in what was given ({EXPECTED})")
    os.replace(splits / SPLITS, ready / SPLITS)
    classes = sorted(p.name[:-len("_test_split1.txt")]
                     for p in (ready / SPLITS).glob("*_test_split1.txt"))
    unpacked = staging / "classes"
    unpacked.mkdir()
    for inner in sorted(top.rglob("*.rar")):        # hmdb51_org.rar: one RAR per class
        extract_rar(inner, unpacked)
    for name in classes:
        def holds(d: Path, n: str = name) -> bool:
            return (d / n).is_dir() and any((d / n).glob("*.avi"))
        where = find_dir(top, holds, max_depth=4) or find_dir(unpacked, holds, max_depth=4)
        if where is None:
            raise PrepareError(f"no video folder for class {name!r} ({EXPECTED})")
        os.replace(where / name, ready / "videos" / name)
    return ready


def describe(folder: Path) -> str:
    files = sorted((folder / SPLITS).glob("*_test_split1.txt"))
    if not files:
        raise ValueError(f"no {SPLITS}/<class>_test_split1.txt")
    for path in files:
        name = path.name[:-len("_test_split1.txt")]
        for n in (2, 3):
            if not (folder / SPLITS / f"{name}_test_split{n}.txt").is_file():
                raise ValueError(f"missing {SPLITS}/{name}_test_split{n}.txt")
        if not (folder / "videos" / name).is_dir():
            raise ValueError(f"missing videos/{name}/")
    from tasks.video.datasets import hmdb51 as hmdb_loader

    hmdb_loader.validate(folder)    # every listed video exists, no split empty
    videos = sum(1 for _ in (folder / "videos").glob("*/*.avi"))
    return f"{len(files)} classes, {videos} videos, splits 1-3"


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0], archive_help="hmdb51_org.rar or test_train_splits.rar",
                  folder_help=f"a folder holding {SPLITS}/ and the class folders (or the "
                              f"per-class RARs)").parse_args(argv)
    install_rar_support()
    return prepare(args, name=NAME, describe=describe, is_dataset=is_hmdb51, expected=EXPECTED,
                   downloads=URLS, known_md5={}, arrange=arrange)


if __name__ == "__main__":
    sys.exit(run(main))
