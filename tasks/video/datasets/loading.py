"""Loading a video split list: checking its entries, decoding the clips into one uint8 tensor
(with a progress bar) and caching them, into ``RawVideos`` (``raw_videos.py``).

Decoded clips are cached as safetensors under ``<dataset folder>/.cache/`` keyed by a hash of
the file list (paths, sizes, modification times) and the decoding settings, so the first load
decodes and every later one reads one file. A corrupt, truncated or too short video, and a split
line naming a missing video or one already listed, either stops the load with a one-line error
naming the file (and line; ``on_error="raise"``, default) or is skipped and counted
(``on_error="skip"``: the messages are kept in ``RawVideos.skipped`` and the run's record;
``core/bad_data.py``).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from tqdm.auto import tqdm

from core.bad_data import BadDataError, BadFiles

from ..io import VideoDecodeError, decode_clip
from .raw_videos import RawVideos

CACHE_VERSION = 2   # 2: truncated videos are bad files; file lists kept


@dataclass(frozen=True)
class DecodeSettings:
    num_frames: int = 8          # sampled frames per clip
    frame_size: int = 112        # frames resized to frame_size × frame_size
    frame_step: int = 5          # one frame in five (paper)
    short: Literal["pad", "refuse"] = "refuse"
    on_error: Literal["raise", "skip"] = "raise"


def _fingerprint(items: list[tuple[Path, int]]) -> list:
    out = []
    for path, label in items:
        try:
            st = os.stat(path)
            out.append([str(path), label, st.st_size, int(st.st_mtime)])
        except OSError:
            out.append([str(path), label, None, None])
    return out


def check_items(items: list[tuple[Path, int, Path, int]], bad: BadFiles
                ) -> list[tuple[Path, int]]:
    """(video, label) of split entries ``(video, label, split file, line)`` whose video exists
    and is listed once; the others are bad lines (raised or counted by ``bad``)."""
    seen: dict[Path, tuple[Path, int]] = {}
    out = []
    for video, label, list_file, line in items:
        if video in seen:
            first = seen[video]
            bad.handle(BadDataError(list_file, f"{video.name} is listed twice (first at "
                                               f"{first[0].name}:{first[1]})", line))
        elif not video.is_file():
            bad.handle(BadDataError(list_file, f"names {video}, which is missing", line))
        else:
            seen[video] = (list_file, line)
            out.append((video, label))
    return out


def decode_items(items: list[tuple[Path, int]], settings: DecodeSettings, desc: str,
                 bad: BadFiles | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Decode every (path, label); returns clips, labels and the padded count (bad videos are
    raised or counted in ``bad``)."""
    bad = bad if bad is not None else BadFiles(settings.on_error)
    clips, labels, padded = [], [], 0
    for path, label in tqdm(items, desc=desc, unit="video", leave=False, disable=None):
        try:
            clip, pad = decode_clip(path, settings.num_frames, settings.frame_size,
                                    settings.frame_step, settings.short)
        except VideoDecodeError as exc:
            bad.handle(exc)
            continue
        padded += pad > 0
        clips.append(clip)
        labels.append(label)
    if not clips:
        raise VideoDecodeError(desc, f"no video of the split could be decoded ({bad.brief()})")
    return torch.stack(clips), torch.tensor(labels, dtype=torch.long), padded


def load_cached(folder: Path, train_items: list[tuple[Path, int, Path, int]],
                test_items: list[tuple[Path, int, Path, int]], classes: list[str],
                settings: DecodeSettings, name: str) -> RawVideos:
    """Decode ``train`` and ``test`` (or read them from the cache in ``folder/.cache``); items
    are (video, label, split file, line)."""
    from safetensors.torch import load_file, save_file

    bad = BadFiles(settings.on_error)
    train, test = check_items(train_items, bad), check_items(test_items, bad)
    if not train or not test:
        empty = "train" if not train else "test"
        raise BadDataError(folder, f"the {empty} split holds no usable video ({bad.brief()})")
    payload = {"v": CACHE_VERSION, "settings": settings.__dict__, "classes": classes,
               "train": _fingerprint(train), "test": _fingerprint(test)}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]
    cache = folder / ".cache" / f"clips-{key}.safetensors"
    meta = cache.with_suffix(".json")
    if cache.is_file() and meta.is_file():
        tensors = load_file(str(cache))
        info = json.loads(meta.read_text())
        return RawVideos(tensors["train_x"], tensors["train_y"], tensors["test_x"],
                         tensors["test_y"], classes, info["padded"], info["skipped"],
                         info.get("files", {}))
    train_x, train_y, pad_a = decode_items(train, settings, f"{name} train", bad)
    test_x, test_y, pad_b = decode_items(test, settings, f"{name} test", bad)
    skipped = [str(e) for e in bad.errors]
    bad_paths = {e.path for e in bad.errors}
    files = {split: [str(p.relative_to(folder)) if p.is_relative_to(folder) else str(p)
                     for p, _ in items if str(p) not in bad_paths]
             for split, items in (("train", train), ("test", test))}
    raw = RawVideos(train_x, train_y, test_x, test_y, classes, pad_a + pad_b, skipped, files)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp")
        save_file({"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y},
                  str(tmp))
        os.replace(tmp, cache)
        tmp_meta = meta.with_name(meta.name + f".{os.getpid()}.tmp")
        tmp_meta.write_text(json.dumps({"padded": raw.padded, "skipped": raw.skipped,
                                        "files": raw.files}))
        os.replace(tmp_meta, meta)
    except OSError:
        pass   # a read-only dataset folder: decode again next time
    return raw
