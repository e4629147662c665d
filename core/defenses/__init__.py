"""Defenses, one file each, registered lazily by name.

Post-training defenses (``Defense.purify``): NFT and the paper's baselines FT, FP, ANP, I-BAU,
AWM, FT-SAM, RNP, NAD, MCR, and PAM (Min et al. 2024). Training-time defenses (``TrainingTimeDefense.train``, replacing
attack training): ABL, CBD. ``base`` is the interface and its template method (check, prepare,
seed, time, run); what they share is named for what it does: ``configs``, ``runtime`` (working
copies, stopwatch, seeding), ``loops``, ``finetune``, ``support`` (capability checks, the clean
metric, input clamping), ``hooks`` (activation recording, BatchNorm re-estimation) and
``weight_masks``.
"""
from ..registry import DEFENSES
from .base import Defense, DefenseResult, TrainingTimeDefense, UnsupportedDefenseError

DEFENSES.register_lazy("nft", "core.defenses.nft:NFT")
DEFENSES.register_lazy("nft_sam", "core.defenses.nft_sam:NFTSAM")   # this suite's variants
DEFENSES.register_lazy("nft_prune", "core.defenses.nft_prune:NFTPrune")
DEFENSES.register_lazy("nft_pam", "core.defenses.nft_pam:NFTPAM")
DEFENSES.register_lazy("ft", "core.defenses.ft:FT")
DEFENSES.register_lazy("fp", "core.defenses.fp:FP")
DEFENSES.register_lazy("anp", "core.defenses.anp:ANP")
DEFENSES.register_lazy("ibau", "core.defenses.ibau:IBAU")
DEFENSES.register_lazy("awm", "core.defenses.awm:AWM")
DEFENSES.register_lazy("ftsam", "core.defenses.ftsam:FTSAM")
DEFENSES.register_lazy("rnp", "core.defenses.rnp:RNP")
DEFENSES.register_lazy("nad", "core.defenses.nad:NAD")
DEFENSES.register_lazy("mcr", "core.defenses.mcr:MCR")
DEFENSES.register_lazy("pam", "core.defenses.pam:PAM")   # Min et al., NeurIPS 2024
DEFENSES.register_lazy("abl", "core.defenses.abl:ABL")
DEFENSES.register_lazy("cbd", "core.defenses.cbd:CBD")

__all__ = ["Defense", "DefenseResult", "TrainingTimeDefense", "UnsupportedDefenseError"]
