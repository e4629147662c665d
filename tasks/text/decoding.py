"""Batched greedy decoding with a key/value cache (the seq2seq evaluation of docs/design.md §3)."""
from __future__ import annotations

import torch
from torch import nn

from .tokenizer import BOS, EOS, PAD


def trim(ids: torch.Tensor) -> torch.Tensor:
    """Drop the trailing columns that are padding in every row."""
    width = int((ids != PAD).sum(dim=1).max().item()) if ids.numel() else 0
    return ids[:, :max(width, 1)]


@torch.no_grad()
def greedy_decode(model: nn.Module, src: torch.Tensor, device: torch.device | str,
                  batch_size: int = 256, max_len: int | None = None,
                  extra_len: int = 10, len_ratio: float = 1.5) -> torch.Tensor:
    """Greedy outputs ``(N, T)`` of ``model`` for padded sources ``src`` (rows end at ``</s>``,
    then padding). Each batch stops once every row has emitted ``</s>`` or after
    ``min(max_len, len_ratio · source width + extra_len)`` tokens."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    limit = max_len or (model.positions.shape[0] - 1)
    outputs = []
    try:
        for start in range(0, src.shape[0], batch_size):
            batch = trim(src[start:start + batch_size]).to(device)
            steps = min(limit, int(len_ratio * batch.shape[1]) + extra_len)
            memory, mask = model.encode(batch)
            cache = model.new_cache()
            token = torch.full((batch.shape[0], 1), BOS, dtype=torch.long, device=device)
            done = torch.zeros(batch.shape[0], dtype=torch.bool, device=device)
            out = torch.full((batch.shape[0], steps), PAD, dtype=torch.long, device=device)
            for step in range(steps):
                logits = model.decode(token, memory, mask, cache=cache, offset=step)
                token = logits[:, -1].argmax(dim=-1, keepdim=True)
                out[:, step] = torch.where(done, torch.full_like(token[:, 0], PAD), token[:, 0])
                done |= token[:, 0] == EOS
                if bool(done.all()):
                    break
            outputs.append(out.cpu())
    finally:
        model.train(was_training)
    width = max((o.shape[1] for o in outputs), default=1)
    return torch.cat([torch.nn.functional.pad(o, (0, width - o.shape[1]), value=PAD)
                      for o in outputs]) if outputs else torch.empty(0, 1, dtype=torch.long)
