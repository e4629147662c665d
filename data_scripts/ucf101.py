"""Prepare UCF-101 in ``<data root>/ucf101/`` for the ``ucf101`` video loader.

    python data_scripts/ucf101.py --data-root DIR        # official RAR + split zip (6.5 GB)
    python data_scripts/ucf101.py --data-root DIR --from-archive UCF101.rar \
        --from-archive UCF101TrainTestSplits-RecognitionTask.zip
    python data_scripts/ucf101.py --data-root DIR --from-folder PATH [--link]

The result is ``ucf101/UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and
``ucf101/ucfTrainTestlist/{classInd,trainlist0N,testlist0N}.txt``, as the official archives
unpack. The release publishes no checksum: a download is kept in ``<data root>/downloads``, its
SHA-256 printed and recorded in ``.prepared.json``, and the layout is checked (101 classes,
three train/test lists) before the folder is installed. RAR archives need the ``rarfile``
package and an ``unrar`` (or ``bsdtar``) program; without them, unpack the archives yourself
and use ``--from-folder``. No internet here: this script was tested on small copies in the
official layout (``tests/video/test_data_scripts.py``), not on the real download.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

# install_rar_support replaces the safe_extract that data_scripts/prepare.py calls
from data_scripts import prepare as preparation  # noqa: E402
from data_scripts.errors import PrepareError, UnsafeArchiveError  # noqa: E402
from data_scripts.extract import member_path  # noqa: E402
from data_scripts.folders import find_dir  # noqa: E402
from data_scripts.prepare import parser, prepare, run  # noqa: E402
from data_scripts.progress import CHUNK  # noqa: E402
from tasks.video.datasets import ucf101 as ucf_loader  # noqa: E402

NAME = "ucf101"
URLS = [("https://www.crcv.ucf.edu/data/UCF101/UCF101.rar", "UCF101.rar", None),
        ("https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip",
         "UCF101TrainTestSplits-RecognitionTask.zip", None)]
EXPECTED = "UCF-101/<Class>/*.avi and ucfTrainTestlist/classInd.txt"


def extract_rar(archive: Path, target: Path) -> int:
    """Extract a RAR archive with ``rarfile``, refusing members outside ``target``."""
    try:
        import rarfile
    except ImportError:
        raise PrepareError(f"{archive} is a RAR archive: pip install rarfile (and install unrar "
                           f"or bsdtar), or unpack it yourself and use --from-folder") from None
    count = 0
    try:
        with rarfile.RarFile(archive) as rar:
            for info in rar.infolist():
                path = member_path(target.resolve(), info.filename, archive)
                if info.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                if info.is_symlink():
                    raise UnsafeArchiveError(f"refusing {archive}: {info.filename!r} "
                                             f"is a symbolic link")
                path.parent.mkdir(parents=True, exist_ok=True)
                with rar.open(info) as source, open(path, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
                count += 1
    except rarfile.Error as exc:
        raise PrepareError(f"cannot extract {archive}: {exc}") from exc
    return count


def install_rar_support() -> None:
    """Teach ``prepare()`` RAR archives (by suffix), keeping tar/zip as they are: replaces the
    ``safe_extract`` that ``data_scripts/prepare.py`` calls."""
    if getattr(preparation.safe_extract, "handles_rar", False):
        return
    plain = preparation.safe_extract

    def safe_extract(archive: Path, target: Path) -> int:
        if Path(archive).suffix.lower() == ".rar":
            Path(target).mkdir(parents=True, exist_ok=True)
            return extract_rar(Path(archive), Path(target))
        return plain(archive, target)

    safe_extract.handles_rar = True  # type: ignore[attr-defined]
    preparation.safe_extract = safe_extract


def is_ucf101(folder: Path) -> bool:
    return (folder / "UCF-101").is_dir() or (folder / "ucfTrainTestlist").is_dir()


def arrange(found: Path, staging: Path, extracted: Path) -> Path:
    """Gather ``UCF-101/`` and ``ucfTrainTestlist/`` (the two archives unpack side by side)."""
    ready = staging / "ready"
    ready.mkdir()
    # archives: search everything unpacked; --from-folder: only our copy (never move the source)
    top = extracted if extracted.resolve().is_relative_to(staging.resolve()) else found
    for part in ("UCF-101", "ucfTrainTestlist"):
        where = find_dir(top, lambda d, p=part: (d / p).is_dir(), max_depth=3)
        if where is None:
            raise PrepareError(f"no {part}/ folder in what was given ({EXPECTED})")
        os.replace(where / part, ready / part)
    return ready


def describe(folder: Path) -> str:
    counts = ucf_loader.validate(folder)   # every line of every split file names an existing video
    classes = ucf_loader.read_class_index(folder / "ucfTrainTestlist" / "classInd.txt")
    videos = sum(1 for _ in (folder / "UCF-101").glob("*/*.avi"))
    return (f"{len(classes)} classes, {videos} videos, splits 1-3 "
            f"(split 1: {counts['trainlist01']} train / {counts['testlist01']} test)")


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0], archive_help="UCF101.rar or the split zip",
                  folder_help="a folder holding UCF-101/ and ucfTrainTestlist/").parse_args(argv)
    install_rar_support()
    return prepare(args, name=NAME, describe=describe, is_dataset=is_ucf101, expected=EXPECTED,
                   downloads=URLS, known_md5={}, arrange=arrange)


if __name__ == "__main__":
    sys.exit(run(main))
