"""What every video loader returns: ``RawVideos``, the decoded clips of both splits."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class RawVideos:
    """Decoded clips of one split: uint8 (N, T, 3, H, W) and int64 labels, per split."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    padded: int = 0                 # clips padded by repeating their last frame (too short)
    skipped: list[str] = field(default_factory=list)   # bad files (on_error="skip"): messages
    files: dict[str, list[str]] = field(default_factory=dict)   # split -> decoded file names
