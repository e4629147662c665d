"""Defenses, one file each, registered lazily by name."""
from ..registry import DEFENSES
from .base import Defense, DefenseResult

DEFENSES.register_lazy("nft", "core.defenses.nft:NFT")

__all__ = ["Defense", "DefenseResult"]
