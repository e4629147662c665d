"""Random word deletion (NFT's text augmentation, paper supp. §C.2), batched on token ids.

Each word of each source (a token that starts a word plus the continuation tokens after it) is
dropped with probability ``rate``; the remaining tokens move left and the row is padded again.
``</s>`` is never dropped, and a row that would lose every word is kept whole. Targets are
unchanged. Runs on the tensors' device without per-sample Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from core.augment import Batch
from core.registry import AUGMENTATIONS

from ..tokenizer import EOS, PAD


def compact(ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Move the kept tokens of each row to its front (order preserved) and pad the rest."""
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    moved = torch.gather(ids, 1, order)
    kept = torch.gather(keep, 1, order)
    return torch.where(kept, moved, torch.full_like(moved, PAD))


def word_index(ids: torch.Tensor, word_start: torch.Tensor) -> torch.Tensor:
    """For every token, the index of the word it belongs to (0-based; a row's leading
    continuation tokens, if any, count as word 0)."""
    starts = word_start.to(ids.device)[ids]
    return (torch.cumsum(starts.long(), dim=1) - 1).clamp(min=0)


@dataclass
class WordDeletion:
    word_start: torch.Tensor    # (vocab,) bool: ids that begin a word
    rate: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"word deletion rate must lie in [0, 1), got {self.rate}")

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        if self.rate == 0.0:
            return inputs, targets
        real = (inputs != PAD) & (inputs != EOS)
        words = word_index(inputs, self.word_start)
        drop_word = torch.rand(inputs.shape, generator=generator).to(inputs.device) < self.rate
        drop = torch.gather(drop_word, 1, words) & real
        emptied = (real & ~drop).sum(dim=1) == 0
        drop &= ~emptied[:, None]
        return compact(inputs, ~drop & (inputs != PAD)), targets

    def __repr__(self) -> str:
        return f"WordDeletion(rate={self.rate})"


def _word_deletion(adapter: Any, rate: float = 0.1) -> WordDeletion:
    codec = getattr(adapter, "codec", None)
    if codec is None:
        raise ValueError("word_deletion needs the text adapter's tokenizer: load the splits first")
    return WordDeletion(codec.word_start, rate=rate)


AUGMENTATIONS.register("word_deletion", _word_deletion, namespace="text")
