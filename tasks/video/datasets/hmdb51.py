"""HMDB-51 (Kuehne et al. 2011) in its official layout.

Layout under ``<data root>/hmdb51/``::

    videos/<class>/<name>.avi
    testTrainMulti_7030_splits/<class>_test_splitN.txt   "<name>.avi 1" (1 train, 2 test, 0 unused)

Classes are the split files' class names, sorted (51 for the full set); label = that order.
"""
from __future__ import annotations

import re
from pathlib import Path

from core.bad_data import BadDataError, check_splits, text_lines

from .loading import DecodeSettings, load_cached
from .missing import missing
from .raw_videos import RawVideos

NAME = "hmdb51"
VIDEO_DIR = "videos"
SPLIT_DIR = "testTrainMulti_7030_splits"
TAGS = {"1": "train", "2": "test", "0": "unused"}


def split_files(folder: Path, split: int) -> dict[str, Path]:
    """Class name -> its ``<class>_test_split<split>.txt``."""
    if not folder.is_dir():
        raise missing(folder, "HMDB-51 split folder", NAME)
    pattern = re.compile(rf"^(.+)_test_split{split}\.txt$")
    found = {m.group(1): p for p in folder.iterdir() if (m := pattern.match(p.name))}
    if not found:
        raise missing(folder / f"<class>_test_split{split}.txt", "HMDB-51 split files", NAME)
    return dict(sorted(found.items()))


def read_split_file(path: Path, lines: bool = False) -> dict[str, list]:
    """{"train": [...], "test": [...], "unused": [...]} video names of one class's split file
    (``lines=True``: (name, line number) pairs)."""
    out: dict[str, list] = {"train": [], "test": [], "unused": []}
    for number, line in text_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in TAGS:
            raise BadDataError(path, f"expected '<video> <0|1|2>', got {line!r}", number)
        out[TAGS[parts[1]]].append((parts[0], number) if lines else parts[0])
    return out


def validate(folder: Path, splits: tuple[int, ...] = (1, 2, 3)) -> dict[str, int]:
    """Every line of every class's split files: a 0/1/2 tag and an existing video; no split
    (train or test of a split number) empty. Returns the counts."""
    counts = {}
    for n in splits:
        files = split_files(folder / SPLIT_DIR, n)
        train = test = 0
        for name, path in files.items():
            parts = read_split_file(path, lines=True)
            for video, line in parts["train"] + parts["test"] + parts["unused"]:
                if not (folder / VIDEO_DIR / name / video).is_file():
                    raise BadDataError(path, f"names {folder / VIDEO_DIR / name / video}, which "
                                             f"is missing", line)
            train, test = train + len(parts["train"]), test + len(parts["test"])
        counts.update({f"train{n}": train, f"test{n}": test})
    check_splits(folder / SPLIT_DIR, counts)
    return counts


def load(root: Path, settings: DecodeSettings, split: int = 1) -> RawVideos:
    folder = Path(root) / NAME
    if not folder.is_dir():
        raise missing(folder, "hmdb51 folder", NAME)
    files = split_files(folder / SPLIT_DIR, split)
    classes = list(files)
    train, test = [], []
    for label, (name, path) in enumerate(files.items()):
        parts = read_split_file(path, lines=True)
        train += [(folder / VIDEO_DIR / name / video, label, path, n) for video, n in parts["train"]]
        test += [(folder / VIDEO_DIR / name / video, label, path, n) for video, n in parts["test"]]
    return load_cached(folder, train, test, classes, settings, NAME)
