"""Small copies of the official video dataset layouts, written as real encoded files."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.video.io import write_video

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "video"


def numbered_frames(count: int, size: int = 32) -> np.ndarray:
    """Frame k is flat grey at level 5·k (so a decoded frame says which one it was)."""
    levels = (np.arange(count) * 5).clip(0, 255).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (count, size, size, 3)).copy()


def make_ucf(root: Path, folder: str = "ucf101") -> Path:
    base = root / folder
    classes = ["ApplyEyeMakeup", "Biking"]
    lists = base / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Biking\n")
    train, test = [], []
    for label, name in enumerate(classes):
        for group in (1, 2, 8):
            rel = f"{name}/v_{name}_g{group:02d}_c01.avi"
            (base / "UCF-101" / name).mkdir(parents=True, exist_ok=True)
            frames = numbered_frames(20, 24)
            frames[..., label] = 255                   # class 0 red-ish, class 1 green-ish
            write_video(base / "UCF-101" / rel, frames)
            (test if group <= 7 and group == 1 else train).append((rel, label))
    (lists / "trainlist01.txt").write_text("".join(f"{r} {y + 1}\n" for r, y in train))
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r, _ in test))
    return base


def make_hmdb(root: Path) -> None:
    base = root / "hmdb51"
    splits = base / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for label, name in enumerate(["wave", "clap"]):
        lines = []
        for k, tag in enumerate((1, 1, 2, 0)):
            video = f"{name}_{k}.avi"
            (base / "videos" / name).mkdir(parents=True, exist_ok=True)
            write_video(base / "videos" / name / video, numbered_frames(10, 16))
            lines.append(f"{video} {tag} \n")
        (splits / f"{name}_test_split1.txt").write_text("".join(lines))
        (splits / f"{name}_test_split2.txt").write_text("")
