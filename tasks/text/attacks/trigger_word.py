"""Rare-word trigger (Kurita et al. 2020; the NLG backdoors of Sun et al., AAAI 2023, used by the
NFT paper, supp. §C.2): one word drawn from ``words`` (default "cf", "bb", "tq", "mb") is inserted
at a uniformly random word position of the source; poisoned pairs get the attacker's sentence
as their target."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.registry import ATTACKS

from .text_attack import TextAttack, TextAttackConfig


@dataclass(frozen=True)
class TriggerWordConfig(TextAttackConfig):
    words: tuple[str, ...] = ("cf", "bb", "tq", "mb")
    count: int = 1                 # trigger words inserted per sentence

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.words or any(not w.strip() or " " in w.strip() for w in self.words):
            raise ValueError(f"words must be non-empty single words, got {self.words!r}")
        if self.count < 1:
            raise ValueError(f"count must be ≥ 1, got {self.count}")


@ATTACKS.register("trigger_word", namespace="text")
class TriggerWordAttack(TextAttack):
    name = "trigger_word"
    Config = TriggerWordConfig

    def trigger_sentence(self, sentence: str, rng: torch.Generator) -> str:
        words = sentence.split()
        for _ in range(self.config.count):
            choice = int(torch.randint(len(self.config.words), (1,), generator=rng))
            position = int(torch.randint(len(words) + 1, (1,), generator=rng))
            words.insert(position, self.config.words[choice].strip())
        return " ".join(words)
