"""An in-memory motion-classification set for tests and the smoke preset (seconds, no files).

Random smooth textures move along the class trajectories of ``tasks/video/compose.py`` over
random smooth backgrounds; clips are rendered directly as uint8 tensors (no encoding), so this
set checks the pipeline, not the decoder. Deterministic in ``seed``.
"""
from __future__ import annotations

import torch

from ..compose import MOTIONS, render, texture_backgrounds, texture_sprites
from .loading import DecodeSettings
from .raw_videos import RawVideos


def make(num_classes: int, per_class: int, settings: DecodeSettings, seed: int = 0
         ) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    size = settings.frame_size
    clips = render(texture_sprites(len(labels), max(8, size // 2), generator),
                   texture_backgrounds(len(labels), size, generator), labels,
                   settings.num_frames, generator)
    return clips.mul(255).round().to(torch.uint8), labels


def load(settings: DecodeSettings, num_classes: int = 4, train_per_class: int = 48,
         test_per_class: int = 16) -> RawVideos:
    if not 2 <= num_classes <= len(MOTIONS):
        raise ValueError(f"synthetic video: num_classes must lie in 2..{len(MOTIONS)}, "
                         f"got {num_classes}")
    train_x, train_y = make(num_classes, train_per_class, settings, seed=1)
    test_x, test_y = make(num_classes, test_per_class, settings, seed=2)
    return RawVideos(train_x, train_y, test_x, test_y, list(MOTIONS[:num_classes]))
