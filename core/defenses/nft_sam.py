"""NFT-SAM: NFT whose mask gradient is taken at adversarially shifted weights (a variant of this
suite, not of the paper; ``nft`` itself keeps the paper's / official code's defaults).

Why (results/nft_analysis.md gives the evidence): on the CPU victims NFT's clean MixUp loss gives
the units that carry a backdoor almost no gradient, since those units are quiet on clean inputs,
so their masks stay near 1; FT-SAM (Zhu et al., ICCV 2023) removes the same backdoors by
fine-tuning under a large-radius sharpness-aware shift, which grows exactly the weights along
which the clean loss is sharp, the backdoor's. NFT-SAM keeps NFT's whole procedure (masks only,
μ(l) clamp, L1 regulariser, MixUp, budget) and adds FT-SAM's shift: each step
    ε = ρ · T_w² ∇_w L / ‖T_w ∇_w L‖   (T_w = |w|, adaptive SAM, FT-SAM's default),
the mask gradient is taken at w + ε (batch-norm statistics frozen for that pass), then the
weights return to w. Only masks change, so the purified model is still the input model with its
units rescaled. Defaults: NFT's, plus FT-SAM's ρ = 2.0 with adaptive SAM (BackdoorBench
``config/defense/ft-sam``). Cost: two forward/backward passes per step instead of one.
"""
from __future__ import annotations

from dataclasses import dataclass

from .nft import NFT, NFTDefenseConfig


@dataclass(frozen=True)
class NFTSAMConfig(NFTDefenseConfig):
    sam_rho: float = 2.0
    sam_adaptive: bool = True


class NFTSAM(NFT):
    name = "nft_sam"
    Config = NFTSAMConfig
