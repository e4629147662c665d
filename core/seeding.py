"""Seeding: local generators for data decisions, global seeds only where torch needs them."""
from __future__ import annotations

import random

import numpy as np
import torch


def make_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator``; random draws made with it are moved to the device after."""
    return torch.Generator().manual_seed(int(seed))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for layers that use the global RNG (dropout)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(generator: torch.Generator) -> int:
    """A fresh 62-bit seed drawn from ``generator`` (for NumPy samplers torch lacks)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())
