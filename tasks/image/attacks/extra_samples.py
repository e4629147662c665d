"""The extra samples some image attacks add beside the poisoned ones, their labels kept (WaNet
noise, BPPA negatives, Input-aware cross, FBA detox samples), and the samples left free."""
from __future__ import annotations

import torch

from core.attack import choose_indices


def remaining_indices(total: int, taken: torch.Tensor) -> torch.Tensor:
    """Sorted indices of ``range(total)`` not in ``taken`` (CPU int64)."""
    keep = torch.ones(total, dtype=torch.bool)
    keep[taken.cpu()] = False
    return torch.nonzero(keep).flatten()


def extra_indices(total: int, poisoned: torch.Tensor, count: int, generator: torch.Generator,
                  what: str, knob: str) -> torch.Tensor:
    """``count`` distinct samples beside the ``poisoned`` ones (sorted), for the extra samples
    some attacks add with their labels kept (WaNet noise, BPPA negatives, Input-aware cross,
    FBA detox); a clear error when they do not fit (``knob``: the option to lower)."""
    if count == 0:
        return torch.empty(0, dtype=torch.long)
    free = remaining_indices(total, poisoned)
    if count > len(free):
        raise ValueError(f"{count} {what} do not fit beside the {len(poisoned)} poisoned "
                         f"samples ({len(free)} remain); lower poison_rate or {knob}")
    return choose_indices(free, count, generator)
