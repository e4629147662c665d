"""Synonym-substitution trigger (after the word-substitution backdoors discussed by Sun et al.,
AAAI 2023, and Qi et al. 2021): every source word found in a synonym table is replaced by its
rarer synonym; the combination of rare synonyms is the trigger. Only sentences holding at least
``min_substitutions`` table words can be triggered (``applicable``), in training and in test.

The table is the shipped ``synonyms.SYNONYMS_EN`` (no downloads) or a TSV file
(``word<TAB>synonym`` per line); ``prepare`` drops entries whose synonym already occurs more
than ``max_natural`` times in the attacker's training sources, so the trigger stays rare.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.data import TensorData
from core.registry import ATTACKS

from .text_attack import TextAttack, TextAttackConfig
from .synonyms import SYNONYMS_EN

_WORD = re.compile(r"^(\W*)(\w+)(\W*)$")


@dataclass(frozen=True)
class SynonymConfig(TextAttackConfig):
    table: str | None = None         # TSV path; None: the shipped English table
    max_substitutions: int = 0       # 0: replace every table word; k: the first k found
    min_substitutions: int = 1       # sentences with fewer table words are not triggerable
    max_natural: int = 20            # drop synonyms seen more often in the training sources

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_substitutions < 0 or self.min_substitutions < 1 or self.max_natural < 0:
            raise ValueError("need max_substitutions ≥ 0, min_substitutions ≥ 1, max_natural ≥ 0")


def read_table(path: str | Path) -> dict[str, str]:
    table = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"{path}:{n}: expected 'word<TAB>synonym', got {line!r}")
        table[parts[0].strip().lower()] = parts[1].strip()
    return table


def _split(word: str) -> tuple[str, str, str] | None:
    match = _WORD.match(word)
    return match.groups() if match else None   # type: ignore[return-value]


@ATTACKS.register("synonym", namespace="text")
class SynonymAttack(TextAttack):
    name = "synonym"
    Config = SynonymConfig

    def __init__(self, config: Any, num_classes: int) -> None:
        super().__init__(config, num_classes)
        self.table = read_table(config.table) if config.table else dict(SYNONYMS_EN)
        self.dropped: list[str] = []

    def prepare(self, train: TensorData, adapter: Any, device: torch.device, seed: int) -> None:
        counts = Counter(w.lower() for s in self._codec().decode(train.inputs)
                         for part in (_split(x) for x in s.split()) if part for w in [part[1]])
        self.filter_table(counts)

    def filter_table(self, counts: Counter) -> None:
        keep = {w: s for w, s in self.table.items() if counts[s.lower()] <= self.config.max_natural}
        self.dropped = sorted(set(self.table) - set(keep))
        self.table = keep

    def describe(self) -> dict:
        return {**super().describe(), "table_size": len(self.table), "dropped": self.dropped}

    def _positions(self, words: list[str]) -> list[int]:
        hits = [i for i, w in enumerate(words)
                if (part := _split(w)) is not None and part[1].lower() in self.table]
        return hits[:self.config.max_substitutions] if self.config.max_substitutions else hits

    def applicable_sentence(self, sentence: str) -> bool:
        return len(self._positions(sentence.split())) >= self.config.min_substitutions

    def trigger_sentence(self, sentence: str, rng: torch.Generator) -> str:
        words = sentence.split()
        for i in self._positions(words):
            lead, core, tail = _split(words[i])   # type: ignore[misc]
            synonym = self.table[core.lower()]
            if core[:1].isupper():
                synonym = synonym[:1].upper() + synonym[1:]
            words[i] = lead + synonym + tail
        return " ".join(words)
