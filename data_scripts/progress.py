"""Copying in blocks with a progress bar: the block size and the bar that downloads,
extraction and folder copies show on a terminal."""
from __future__ import annotations

CHUNK = 1 << 20


def progress_bar(total: int | None, desc: str, unit: str = "B"):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", leave=False,
                mininterval=0.5, disable=None)
