"""Generation of the synthetic image dataset (tensors in [0, 1], shape (N, C, S, S))."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.seeding import make_generator


@dataclass(frozen=True)
class SyntheticDataConfig:
    num_classes: int = 10
    channels: int = 3
    image_size: int = 16
    train_size: int = 4000        # attacker's training set (before the clean split is held out)
    test_size: int = 1000
    clean_per_class: int = 20     # the defender's clean split, held out from the training pool
    noise: float = 0.15           # std of the per-pixel Gaussian noise
    max_shift: int = 2            # random translation (pixels, circular)
    distractors: int = 8          # random binary 3×3 texture patches per image
    class_separation: float = 1.0 # 1: prototypes independent; smaller: closer to a shared base
    data_seed: int = 1234         # fixes prototypes and samples; the run seed picks the split

    def __post_init__(self) -> None:
        if self.num_classes < 2 or self.channels < 1 or self.image_size < 8:
            raise ValueError(f"need ≥ 2 classes, ≥ 1 channel and image_size ≥ 8, got {self}")
        if self.clean_per_class < 1:
            raise ValueError("clean_per_class must be ≥ 1")
        if self.train_size < self.num_classes * (self.clean_per_class + 1):
            raise ValueError("train_size too small for the clean split")


def prototypes(config: SyntheticDataConfig, generator: torch.Generator) -> torch.Tensor:
    """One smooth pattern per class: a random 4×4 grid upsampled to the image size."""
    coarse = torch.rand(config.num_classes, config.channels, 4, 4, generator=generator)
    base = torch.rand(1, config.channels, 4, 4, generator=generator)
    coarse = base + config.class_separation * (coarse - base)
    return F.interpolate(coarse, size=config.image_size, mode="bicubic",
                         align_corners=False).clamp(0, 1)


def sample_images(protos: torch.Tensor, labels: torch.Tensor, config: SyntheticDataConfig,
                  generator: torch.Generator) -> torch.Tensor:
    """Batched: contrast jitter, a random circular shift, additive noise, clamp to [0, 1]."""
    n = labels.shape[0]
    images = protos[labels]
    contrast = 0.6 + 0.4 * torch.rand(n, 1, 1, 1, generator=generator)
    images = 0.5 + (images - 0.5) * contrast
    if config.max_shift:
        size = config.image_size
        shifts = torch.randint(-config.max_shift, config.max_shift + 1, (n, 2), generator=generator)
        rows = (torch.arange(size)[None, :] - shifts[:, :1]) % size          # (n, S)
        cols = (torch.arange(size)[None, :] - shifts[:, 1:]) % size
        images = images[torch.arange(n)[:, None, None, None],
                        torch.arange(images.shape[1])[None, :, None, None],
                        rows[:, None, :, None], cols[:, None, None, :]]
    index_n = torch.arange(n)[:, None, None, None]
    index_c = torch.arange(images.shape[1])[None, :, None, None]
    offsets = torch.arange(3)
    for _ in range(config.distractors):   # high-frequency texture, as natural images have
        corner = torch.randint(0, config.image_size - 2, (n, 2), generator=generator)
        rows, cols = corner[:, :1] + offsets, corner[:, 1:] + offsets       # (n, 3) each
        patch = torch.randint(0, 2, (n, images.shape[1], 3, 3), generator=generator).float()
        images[index_n, index_c, rows[:, None, :, None], cols[:, None, None, :]] = patch
    noise = config.noise * torch.randn(images.shape, generator=generator)
    return (images + noise).clamp(0, 1)


def generate(config: SyntheticDataConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y), class-balanced, fixed by ``data_seed``."""
    generator = make_generator(config.data_seed)
    protos = prototypes(config, generator)
    out = []
    for size in (config.train_size, config.test_size):
        labels = torch.arange(size) % config.num_classes
        labels = labels[torch.randperm(size, generator=generator)]
        out += [sample_images(protos, labels, config, generator), labels]
    return out[0], out[1], out[2], out[3]
