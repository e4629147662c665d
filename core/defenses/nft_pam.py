"""NFT-PAM: NFT whose mask gradient is taken one path-aware step further from the backdoored model
(a variant of this suite, not of either paper; ``nft`` itself keeps the paper's / official
code's defaults).

Why: NFT often *scales* the units that carry a backdoor (masks 0.5-0.9) instead of removing them
(results/nft_analysis.md), the situation in which Min et al. (NeurIPS 2024) find the backdoor
comes back under a few poisoned fine-tuning steps (the Retuning Attack, ``core/retuning.py``).
Their mitigation, Path-Aware Minimization (PAM, ``core/defenses/pam.py``), takes each gradient
at a point moved further along the path from the backdoored weights to the current ones. In NFT
the only free variables are the masks and the backdoored model is the all-ones mask, so the
path-aware point is m + ρ·(m − 1)/‖m − 1‖ (``core.purify.path_shift``); everything else is NFT's
(μ(l) clamp, L1 regulariser, MixUp, budget). Default ρ = 0.5 as in ``pam`` (our choice there,
see its docstring). Cost: the same one forward/backward pass per step as NFT.
"""
from __future__ import annotations

from dataclasses import dataclass

from .nft import NFT, NFTDefenseConfig


@dataclass(frozen=True)
class NFTPAMConfig(NFTDefenseConfig):
    pam_rho: float = 0.5


class NFTPAM(NFT):
    name = "nft_pam"
    Config = NFTPAMConfig
