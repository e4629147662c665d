"""The mask regulariser η_c · Σ|m − m₀| (docs/design.md §2, official NFT code).

η_c = η₀ / N_c with η₀ = 1e-3 and N_c the number of clean samples per class. The paper's Table 18
quotes η_c itself (1e-2 … 5e-5, chosen 5e-4) rather than η₀; ``eta_c`` overrides the derived
value for that sweep.
"""
from __future__ import annotations

import torch

from .masks import MaskedLayer

ETA_0 = 1e-3


def resolve_eta_c(samples_per_class: float, eta_0: float = ETA_0,
                  eta_c: float | None = None) -> float:
    if eta_c is not None:
        if eta_c < 0:
            raise ValueError(f"eta_c must be ≥ 0, got {eta_c}")
        return float(eta_c)
    if samples_per_class <= 0:
        raise ValueError(f"samples per class must be > 0, got {samples_per_class}")
    return eta_0 / samples_per_class


def mask_l1(masked: list[MaskedLayer], reference: float = 1.0) -> torch.Tensor:
    """Σ over all masks of |m − reference|."""
    return torch.stack([(layer.mask - reference).abs().sum() for layer in masked]).sum()
