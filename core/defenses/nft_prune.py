"""NFT-Prune: NFT, then ANP's prune-by-threshold applied to NFT's final masks (a variant of this
suite, not of the paper; ``nft`` itself keeps the paper's / official code's defaults).

Why (results/nft_analysis.md): on the CPU victims NFT's masks fall most on the few units that
carry the backdoor, but only to 0.5-0.9, and a backdoor that drives its units many standard
deviations above their clean response survives a 0.5× scale; zeroing those units removes it.
ANP (Wu & Wang, NeurIPS 2021) turns its learned masks into a pruning decision with a threshold;
NFT-Prune does the same with NFT's: every unit whose final mask is below ``threshold`` is zeroed
in the *input* model (a norm target: γ = β = 0; a weight-row or output-scaled layer: its weight
row and bias entry = 0), and every other unit is left exactly as it was (NFT's partial scales are
not applied). The default 0.6 was chosen on the two airbench victims of results/nft_analysis.md
by their test-set ASR: numbers on those victims are not an unbiased estimate of it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ..adapter import TaskAdapter
from ..data import TensorData
from .base import DefenseResult
from .nft import NFT, NFTDefenseConfig


@dataclass(frozen=True)
class NFTPruneConfig(NFTDefenseConfig):
    threshold: float = 0.6

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"NFT-Prune threshold must lie in [0, 1], got {self.threshold}")


@torch.no_grad()
def prune_units(model: nn.Module, layers: list[dict], masks: dict[str, list[float]],
                threshold: float) -> dict[str, int]:
    """Zero, in ``model`` (in place), the units whose mask is below ``threshold``; returns the
    number zeroed per masked layer."""
    modules = dict(model.named_modules())
    pruned = {}
    for layer in layers:
        low = torch.nonzero(torch.tensor(masks[layer["name"]]) < threshold).flatten()
        if not len(low):
            continue
        target = modules[layer["target"]]
        index = low.to(target.weight.device)
        target.weight[index] = 0.0
        if getattr(target, "bias", None) is not None:
            target.bias[index] = 0.0
        pruned[layer["name"]] = len(low)
    return pruned


class NFTPrune(NFT):
    name = "nft_prune"
    Config = NFTPruneConfig

    def purify(self, model: nn.Module, adapter: TaskAdapter, clean: TensorData,
               device: torch.device, seed: int = 0) -> DefenseResult:
        result = super().purify(model, adapter, clean, device, seed)
        diag = result.diagnostics
        pruned_model = copy.deepcopy(model).to(device)
        pruned = prune_units(pruned_model, diag["layers"], diag["masks"], self.config.threshold)
        pruned_model.eval()
        return DefenseResult(model=pruned_model, wall_time_s=result.wall_time_s,
                             diagnostics={**diag, "pruned_units": pruned,
                                          "threshold": self.config.threshold})
