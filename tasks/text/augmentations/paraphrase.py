"""Offline lexical paraphrase: replace words by their nearest neighbours in the model's own
source-embedding space.

The paper paraphrases NFT's clean inputs with a paraphrasing model; none can be downloaded here
and a back-translation needs a second (reverse-direction) model trained first. We use the cheapest
offline substitute that still changes the words and keeps the meaning close: the model being
purified already holds a similarity space over its vocabulary, its input embedding. At ``bind``
time (the purify loop calls it once) the ``neighbours`` nearest tokens by cosine similarity are
tabulated for every token, among tokens of the same kind (word-initial vs. continuation pieces,
so word boundaries survive); then every non-special source token is replaced, with probability
``rate``, by one of its neighbours drawn uniformly. The embedding is not masked by NFT, so the
table stays valid during purification. Batched; targets unchanged. ``rows`` < 1 leaves a share
of each batch unparaphrased.

Read the name with care at large settings: with 50 neighbours out of ~1,500 same-kind tokens and
40 % of the tokens swapped (the ``text_quick`` preset) the result is closer to same-kind token
noise than to a meaning-preserving paraphrase. On Multi30k that lowered the trigger-word AT far
more than word deletion (7 % against 93 % on one seed, 62 % on another;
``results/text_quick_multi30k.md``): the masks are tuned until the output ignores tokens that do
not belong, which is what a rare-word trigger is; the price is clean BLEU.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.augment import Batch
from core.registry import AUGMENTATIONS

from ..tokenizer import SPECIALS


def input_embedding(model: nn.Module) -> torch.Tensor:
    embed = getattr(model, "embed", None)
    if not isinstance(embed, nn.Embedding):
        embed = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    if embed is None:
        raise ValueError(f"paraphrase needs a model with an nn.Embedding; {type(model).__name__} "
                         f"has none")
    return embed.weight.detach()


def neighbour_table(weight: torch.Tensor, word_start: torch.Tensor, k: int,
                    chunk: int = 2048) -> torch.Tensor:
    """(vocab, k) ids of each token's k most cosine-similar tokens of the same kind."""
    vocab = weight.shape[0]
    unit = F.normalize(weight.float(), dim=1)
    word_start = word_start.to(weight.device)
    special = torch.zeros(vocab, dtype=torch.bool, device=weight.device)
    special[:len(SPECIALS)] = True
    table = torch.empty(vocab, k, dtype=torch.long, device=weight.device)
    for start in range(0, vocab, chunk):
        sim = unit[start:start + chunk] @ unit.T
        rows = torch.arange(start, min(start + chunk, vocab), device=weight.device)
        other_kind = word_start[rows][:, None] != word_start[None, :]
        sim = sim.masked_fill(other_kind | special[None, :], float("-inf"))
        sim[torch.arange(len(rows)), rows] = float("-inf")     # never itself
        table[start:start + chunk] = sim.topk(k, dim=1).indices
    table[:len(SPECIALS)] = torch.arange(len(SPECIALS), device=weight.device)[:, None]
    return table


@dataclass
class EmbeddingParaphrase:
    word_start: torch.Tensor
    rate: float = 0.15
    neighbours: int = 5
    rows: float = 1.0               # share of the batch's rows paraphrased (the rest stay clean)
    table: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0 or self.neighbours < 1 or not 0.0 <= self.rows <= 1.0:
            raise ValueError(f"need 0 ≤ rate ≤ 1, neighbours ≥ 1 and 0 ≤ rows ≤ 1, got "
                             f"{self.rate}, {self.neighbours}, {self.rows}")

    def bind(self, model: nn.Module, loss_fn: Any) -> None:
        self.table = neighbour_table(input_embedding(model), self.word_start, self.neighbours)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> Batch:
        if self.table is None:
            raise RuntimeError("paraphrase was not bound to a model (call bind(model, loss_fn))")
        if self.rate == 0.0:
            return inputs, targets
        table = self.table.to(inputs.device)
        swap = (torch.rand(inputs.shape, generator=generator).to(inputs.device) < self.rate)
        swap &= inputs >= len(SPECIALS)
        if self.rows < 1.0:
            chosen = torch.rand(inputs.shape[0], generator=generator) < self.rows
            swap &= chosen.to(inputs.device)[:, None]
        pick = torch.randint(0, self.neighbours, inputs.shape, generator=generator).to(inputs.device)
        replaced = torch.gather(table[inputs], 2, pick[..., None]).squeeze(-1)
        return torch.where(swap, replaced, inputs), targets

    def __repr__(self) -> str:
        return (f"EmbeddingParaphrase(rate={self.rate}, neighbours={self.neighbours}, "
                f"rows={self.rows})")


def _paraphrase(adapter: Any, rate: float = 0.15, neighbours: int = 5,
                rows: float = 1.0) -> EmbeddingParaphrase:
    codec = getattr(adapter, "codec", None)
    if codec is None:
        raise ValueError("paraphrase needs the text adapter's tokenizer: load the splits first")
    return EmbeddingParaphrase(codec.word_start, rate=rate, neighbours=neighbours, rows=rows)


AUGMENTATIONS.register("paraphrase", _paraphrase, namespace="text")
