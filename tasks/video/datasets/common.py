"""What every video loader shares: the decoded-clip container, decoding a file list into one
uint8 tensor (with a progress bar), and the clip cache.

Decoded clips are cached as safetensors under ``<dataset folder>/.cache/`` keyed by a hash of
the file list (paths, sizes, modification times) and the decoding settings, so the first load
decodes and every later one reads one file. A corrupt or unreadable video either stops the load
with its path (``on_error="raise"``, default) or is skipped and counted (``on_error="skip"``:
the skipped paths are kept in ``RawVideos.skipped`` and the run's record).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from tqdm.auto import tqdm

from ..io import VideoDecodeError, decode_clip

CACHE_VERSION = 1


class MissingSplitError(FileNotFoundError):
    """A dataset folder or split file is missing; the message names the path and the command."""


@dataclass
class RawVideos:
    """Decoded clips of one split: uint8 (N, T, 3, H, W) and int64 labels, per split."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    padded: int = 0                 # clips padded by repeating their last frame (too short)
    skipped: list[str] = field(default_factory=list)   # unreadable files (on_error="skip")


@dataclass(frozen=True)
class DecodeSettings:
    num_frames: int = 8          # sampled frames per clip
    frame_size: int = 112        # frames resized to frame_size × frame_size
    frame_step: int = 5          # one frame in five (paper)
    short: Literal["pad", "refuse"] = "pad"
    on_error: Literal["raise", "skip"] = "raise"


#: arguments a preparation script needs beyond --data-root (offline sources of this repository)
SCRIPT_ARGS = {"synthetic_actions": " --objects ../shared/datasets/cifar10-jpg.tar.gz "
                                    "--backgrounds ../shared/datasets/video"}


def missing(path: Path, what: str, script: str) -> MissingSplitError:
    return MissingSplitError(
        f"{what} not found: {path}. Prepare the dataset with "
        f"`python data_scripts/{script}.py --data-root DIR{SCRIPT_ARGS.get(script, '')}` and "
        f"pass --data-root DIR")


def _fingerprint(items: list[tuple[Path, int]]) -> list:
    out = []
    for path, label in items:
        try:
            st = os.stat(path)
            out.append([str(path), label, st.st_size, int(st.st_mtime)])
        except OSError:
            out.append([str(path), label, None, None])
    return out


def decode_items(items: list[tuple[Path, int]], settings: DecodeSettings, desc: str
                 ) -> tuple[torch.Tensor, torch.Tensor, int, list[str]]:
    """Decode every (path, label); returns clips, labels, padded count, skipped paths."""
    clips, labels, skipped, padded = [], [], [], 0
    for path, label in tqdm(items, desc=desc, unit="video", leave=False, disable=None):
        try:
            clip, pad = decode_clip(path, settings.num_frames, settings.frame_size,
                                    settings.frame_step, settings.short)
        except VideoDecodeError:
            if settings.on_error == "raise":
                raise
            skipped.append(str(path))
            continue
        padded += pad > 0
        clips.append(clip)
        labels.append(label)
    if not clips:
        raise VideoDecodeError(f"no video of {desc} could be decoded ({len(skipped)} skipped)")
    return torch.stack(clips), torch.tensor(labels, dtype=torch.long), padded, skipped


def load_cached(folder: Path, train: list[tuple[Path, int]], test: list[tuple[Path, int]],
                classes: list[str], settings: DecodeSettings, name: str) -> RawVideos:
    """Decode ``train`` and ``test`` (or read them from the cache in ``folder/.cache``)."""
    from safetensors.torch import load_file, save_file

    payload = {"v": CACHE_VERSION, "settings": settings.__dict__, "classes": classes,
               "train": _fingerprint(train), "test": _fingerprint(test)}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]
    cache = folder / ".cache" / f"clips-{key}.safetensors"
    meta = cache.with_suffix(".json")
    if cache.is_file() and meta.is_file():
        tensors = load_file(str(cache))
        info = json.loads(meta.read_text())
        return RawVideos(tensors["train_x"], tensors["train_y"], tensors["test_x"],
                         tensors["test_y"], classes, info["padded"], info["skipped"])
    train_x, train_y, pad_a, skip_a = decode_items(train, settings, f"{name} train")
    test_x, test_y, pad_b, skip_b = decode_items(test, settings, f"{name} test")
    raw = RawVideos(train_x, train_y, test_x, test_y, classes, pad_a + pad_b, skip_a + skip_b)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp")
        save_file({"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y},
                  str(tmp))
        os.replace(tmp, cache)
        tmp_meta = meta.with_name(meta.name + f".{os.getpid()}.tmp")
        tmp_meta.write_text(json.dumps({"padded": raw.padded, "skipped": raw.skipped}))
        os.replace(tmp_meta, meta)
    except OSError:
        pass   # a read-only dataset folder: decode again next time
    return raw
