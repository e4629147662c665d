"""UCF-101 (Soomro et al. 2012) in its official layout, and any set written in that layout.

Layout under ``<data root>/ucf101/``::

    UCF-101/<Class>/v_<Class>_gGG_cCC.avi
    ucfTrainTestlist/classInd.txt          "1 ApplyEyeMakeup" (1-based ids)
    ucfTrainTestlist/trainlist0N.txt       "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    ucfTrainTestlist/testlist0N.txt        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

Labels are the 1-based ``classInd`` ids minus one; a test line's class is its folder name.
The composed offline action set (``data_scripts/synthetic_actions.py``) uses the same layout in
``<data root>/moving_objects/`` and is read by the same code.
"""
from __future__ import annotations

from pathlib import Path

from core.bad_data import BadDataError, check_splits, text_lines

from .loading import DecodeSettings, load_cached
from .missing import missing
from .raw_videos import RawVideos

NAME = "ucf101"
VIDEO_DIR = "UCF-101"
LIST_DIR = "ucfTrainTestlist"


def read_class_index(path: Path, script: str = NAME) -> list[str]:
    """Class names in label order from ``classInd.txt`` (ids must be 1..C, each once)."""
    if not path.is_file():
        raise missing(path, "UCF-101 class index", script)
    pairs = []
    for number, line in text_lines(path):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise BadDataError(path, f"expected '<id> <ClassName>', got {line!r}", number)
        pairs.append((int(parts[0]), parts[1]))
    ids = sorted(i for i, _ in pairs)
    if ids != list(range(1, len(pairs) + 1)):
        raise BadDataError(path, f"class ids must be 1..{len(pairs)} (1-based, each once)")
    names = [name for _, name in pairs]
    if len(set(names)) != len(names):
        raise BadDataError(path, "a class name is listed twice")
    return [name for _, name in sorted(pairs)]


def read_split_list(path: Path, classes: list[str], script: str = NAME
                    ) -> list[tuple[str, int, int]]:
    """(relative video path, label, line number) of a train or test list; a train line's
    1-based id must agree with its folder."""
    if not path.is_file():
        raise missing(path, "UCF-101 split file", script)
    index = {name: i for i, name in enumerate(classes)}
    items = []
    for number, line in text_lines(path):
        parts = line.split()
        if not parts:
            continue
        rel = parts[0].replace("\\", "/")
        folder = rel.split("/")[0]
        if folder not in index:
            raise BadDataError(path, f"class folder {folder!r} is not in classInd.txt", number)
        label = index[folder]
        if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise BadDataError(path, f"expected '<Class>/<video> [<id>]', got {line!r}", number)
        if len(parts) > 1 and int(parts[1]) - 1 != label:
            raise BadDataError(path, f"id {parts[1]} disagrees with folder {folder!r} "
                                     f"(classInd id {label + 1})", number)
        items.append((rel, label, number))
    return items


def validate(folder: Path, splits: tuple[int, ...] = (1, 2, 3)) -> dict[str, int]:
    """Every line of every split file (train and test lists of ``splits``): the class exists,
    the video exists, no video twice; no split is empty. Returns the counts; raises a
    ``BadDataError`` naming the split file and line, or the folder of an empty split."""
    lists = folder / LIST_DIR
    classes = read_class_index(lists / "classInd.txt")
    counts = {}
    for n in splits:
        for kind in ("trainlist", "testlist"):
            path = lists / f"{kind}{n:02d}.txt"
            if not path.is_file():
                raise BadDataError(path, "missing")
            seen: dict[str, int] = {}
            for rel, _, line in read_split_list(path, classes):
                if rel in seen:
                    raise BadDataError(path, f"{rel} is listed twice (first on line {seen[rel]})",
                                       line)
                if not (folder / VIDEO_DIR / rel).is_file():
                    raise BadDataError(path, f"names {folder / VIDEO_DIR / rel}, which is missing",
                                       line)
                seen[rel] = line
            counts[f"{kind}{n:02d}"] = len(seen)
    check_splits(lists, counts)
    return counts


def load(root: Path, settings: DecodeSettings, split: int = 1, folder_name: str = NAME,
         script: str = NAME) -> RawVideos:
    folder = Path(root) / folder_name
    if not folder.is_dir():
        raise missing(folder, f"{folder_name} folder", script)
    lists = folder / LIST_DIR
    classes = read_class_index(lists / "classInd.txt", script)
    videos = folder / VIDEO_DIR
    train_list, test_list = lists / f"trainlist{split:02d}.txt", lists / f"testlist{split:02d}.txt"
    train = [(videos / rel, y, train_list, n) for rel, y, n in
             read_split_list(train_list, classes, script)]
    test = [(videos / rel, y, test_list, n) for rel, y, n in
            read_split_list(test_list, classes, script)]
    return load_cached(folder, train, test, classes, settings, folder_name)
