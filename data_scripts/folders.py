"""Finding a dataset's folders and files inside what was given, and copying a folder."""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from data_scripts.progress import progress_bar


def copy_tree(source: Path, dest: Path) -> None:
    """Copy a folder with a progress bar (symbolic links are followed)."""
    files = [Path(d) / f for d, _, fs in os.walk(source, followlinks=True) for f in fs]
    with progress_bar(len(files), f"copying {source.name}", unit="file") as bar:
        for path in files:
            out = dest / path.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
            bar.update(1)


def find_dir(top: Path, wanted: Callable[[Path], bool], max_depth: int = 3) -> Path | None:
    """The shallowest folder under ``top`` (``top`` included) for which ``wanted`` holds."""
    level = [top]
    for _ in range(max_depth + 1):
        for folder in level:
            if wanted(folder):
                return folder
        level = [c for folder in level for c in sorted(folder.iterdir())
                 if c.is_dir() and not c.is_symlink() and not c.name.startswith(".")]
    return None


def find_file(top: Path, name: str, max_depth: int = 4) -> Path | None:
    """The shallowest file called ``name`` under ``top`` (links followed)."""
    top_depth = len(top.parts)
    for folder, dirs, files in os.walk(top, followlinks=True):
        if name in files:
            return Path(folder) / name
        if len(Path(folder).parts) - top_depth >= max_depth:
            dirs.clear()
        dirs.sort()
    return None
