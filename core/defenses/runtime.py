"""The set-up every defense run shares: a checked working copy of the model and the clean data on
the device, a device-synchronised stopwatch, and seeding that leaves the caller's RNG as it was
(``Defense.purify`` applies them in this order; see ``base.py``)."""
from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..data import TensorData
from ..seeding import make_generator, seed_everything


def prepare(model: nn.Module, adapter: TaskAdapter, clean: TensorData, batch_size: int,
            device: torch.device | str) -> tuple[nn.Module, TensorData, torch.device]:
    """Check the clean set, and return a deep copy of ``model`` and the data on ``device``."""
    device = torch.device(device)
    adapter.check_clean_set(clean, batch_size)
    return copy.deepcopy(model).to(device), clean.to(device), device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Wall seconds spent inside ``with watch:`` blocks (accumulated), device synchronised."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> "Stopwatch":
        sync(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        sync(self.device)
        self.seconds += time.perf_counter() - self._start


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[torch.Generator]:
    """A CPU generator for data decisions, with the global RNG seeded (dropout) and restored."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        seed_everything(seed)
        yield make_generator(seed)
