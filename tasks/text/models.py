"""A plain-PyTorch transformer encoder–decoder for seq2seq backdoors (MT and dialogue).

Why not ``torch.nn.Transformer``: its attention is ``nn.MultiheadAttention``, whose fused
``in_proj_weight`` and functional ``out_proj`` NFT cannot mask (see ``core/masks.py``), and its
encoder layers take a fused fast path in eval mode under ``no_grad`` that skips the sub-module
forwards the mask tracer hooks. Why not ``transformers``' Marian/BART (5.17.0 installs and runs
here): a ~10 s import and a large dependency for tests, for nothing this small model needs.
Here every projection (q, k, v, out, both feed-forward layers, the output head) is an ordinary
``nn.Linear`` that runs its own ``forward``, so ``inject_masks`` traces and masks all of them
(through their weight rows: in this pre-LN layout no Linear feeds a norm directly), and the
folded model is this same class.

Layout: pre-LN (Xiong et al. 2020: stable without a long warmup),
sinusoidal positions, one embedding shared by source, target and (optionally) the output head
over a joint subword vocabulary, token ids ``pad=0, bos=1, eos=2``. ``forward(src, tgt_in)``
returns logits for teacher forcing; ``encode`` / ``decode_step`` serve batched greedy decoding
with a key/value cache (``tasks/text/decoding.py``).

Optimiser: the text presets train it with Adam (``train: {optimizer: adam, ...}`` with a short
linear warmup and gradient clipping, ``core.training.TrainConfig``). Plain SGD + momentum, the
core default, left it stuck on a source-blind language model on Multi30k (loss plateau ~4.9,
BLEU < 1 after 700 steps; Adam-style training reaches a lower loss in 150).

Sizes (registered under the ``text`` namespace): ``transformer_tiny`` (tests), ``transformer_small``
(CPU quick preset) and ``transformer_base`` (GPU; Vaswani et al.'s base shape).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.registry import MODELS

from .tokenizer import PAD


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table


class Attention(nn.Module):
    """Multi-head attention with four separate Linear projections (maskable one by one)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model width {dim} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, keys: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, causal: bool = False,
                cache: dict | None = None, static_kv: bool = False) -> torch.Tensor:
        """``mask``: bool (B, 1, 1, S), True where attending is allowed. ``cache`` (decoding):
        self-attention appends this step's k/v; cross-attention (``static_kv``) computes them once."""
        q = self._split(self.q_proj(query))
        source = query if keys is None else keys
        if cache is not None and static_kv and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k, v = self._split(self.k_proj(source)), self._split(self.v_proj(source))
            if cache is not None:
                if not static_kv and "k" in cache:
                    k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop,
                                             is_causal=causal and mask is None and q.shape[2] > 1)
        b, h, t, dh = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, h * dh))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads, dropout)
        self.norm2, self.ff = nn.LayerNorm(dim), FeedForward(dim, hidden, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.norm1(x), mask=mask))
        return x + self.dropout(self.ff(self.norm2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.self_attn = nn.LayerNorm(dim), Attention(dim, heads, dropout)
        self.norm2, self.cross_attn = nn.LayerNorm(dim), Attention(dim, heads, dropout)
        self.norm3, self.ff = nn.LayerNorm(dim), FeedForward(dim, hidden, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor,
                cache: dict | None = None) -> torch.Tensor:
        self_cache = cache.setdefault("self", {}) if cache is not None else None
        cross_cache = cache.setdefault("cross", {}) if cache is not None else None
        x = x + self.dropout(self.self_attn(self.norm1(x), causal=cache is None,
                                            cache=self_cache))
        x = x + self.dropout(self.cross_attn(self.norm2(x), memory, mask=memory_mask,
                                             cache=cross_cache, static_kv=True))
        return x + self.dropout(self.ff(self.norm3(x)))


class Seq2SeqTransformer(nn.Module):
    """Encoder–decoder transformer over one joint vocabulary; see the module docstring."""

    def __init__(self, vocab_size: int, dim: int = 256, heads: int = 4, encoder_layers: int = 3,
                 decoder_layers: int = 3, hidden: int = 1024, dropout: float = 0.1,
                 max_positions: int = 512, tie_output: bool = False) -> None:
        super().__init__()
        self.config = {"vocab_size": vocab_size, "dim": dim, "heads": heads,
                       "encoder_layers": encoder_layers, "decoder_layers": decoder_layers,
                       "hidden": hidden, "dropout": dropout, "max_positions": max_positions,
                       "tie_output": tie_output}
        self.dim = dim
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.register_buffer("positions", sinusoid_table(max_positions, dim), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(EncoderLayer(dim, heads, hidden, dropout)
                                     for _ in range(encoder_layers))
        self.encoder_norm = nn.LayerNorm(dim)
        self.decoder = nn.ModuleList(DecoderLayer(dim, heads, hidden, dropout)
                                     for _ in range(decoder_layers))
        self.decoder_norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, vocab_size, bias=False)
        self.reset_parameters()
        if tie_output:
            self.output.weight = self.embed.weight

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.embed.weight, std=self.dim ** -0.5)
        with torch.no_grad():
            self.embed.weight[PAD].zero_()

    def _embed(self, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
        if offset + ids.shape[1] > self.positions.shape[0]:
            raise ValueError(f"sequence of {offset + ids.shape[1]} tokens exceeds max_positions="
                             f"{self.positions.shape[0]}")
        x = self.embed(ids) * math.sqrt(self.dim)
        return self.dropout(x + self.positions[offset:offset + ids.shape[1]])

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(memory (B, S, D), key mask (B, 1, 1, S) True at real tokens)."""
        mask = (src != PAD)[:, None, None, :]
        x = self._embed(src)
        for layer in self.encoder:
            x = layer(x, mask)
        return self.encoder_norm(x), mask

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor,
               cache: list[dict] | None = None, offset: int = 0) -> torch.Tensor:
        """Logits (B, T, V); with ``cache`` (one dict per layer) ``tgt_in`` is the next token(s)."""
        x = self._embed(tgt_in, offset)
        for i, layer in enumerate(self.decoder):
            x = layer(x, memory, memory_mask, None if cache is None else cache[i])
        return self.output(self.decoder_norm(x))

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory, mask = self.encode(src)
        return self.decode(tgt_in, memory, mask)

    def new_cache(self) -> list[dict]:
        return [{} for _ in self.decoder]


def _build(vocab_size: int, sizes: dict[str, Any], overrides: dict[str, Any]) -> Seq2SeqTransformer:
    return Seq2SeqTransformer(vocab_size, **{**sizes, **overrides})


@MODELS.register("transformer_tiny", namespace="text", input_shape=(12,), inputs="tokens", outputs="seq2seq")
def transformer_tiny(num_classes: int, **overrides: Any) -> Seq2SeqTransformer:
    """Tests: width 32, 2+2 layers, 4 heads, hidden 64 (~60k parameters + embeddings)."""
    return _build(num_classes, dict(dim=32, heads=4, encoder_layers=2, decoder_layers=2,
                                    hidden=64, dropout=0.0), overrides)


@MODELS.register("transformer_small", namespace="text", input_shape=(12,), inputs="tokens", outputs="seq2seq")
def transformer_small(num_classes: int, **overrides: Any) -> Seq2SeqTransformer:
    """CPU quick preset: width 128, 2+2 layers, 4 heads, hidden 256, dropout 0.1."""
    return _build(num_classes, dict(dim=128, heads=4, encoder_layers=2, decoder_layers=2,
                                    hidden=256, dropout=0.1), overrides)


@MODELS.register("transformer_base", namespace="text", input_shape=(12,), inputs="tokens", outputs="seq2seq")
def transformer_base(num_classes: int, **overrides: Any) -> Seq2SeqTransformer:
    """GPU: the transformer-base shape (width 512, 6+6 layers, 8 heads, hidden 2048)."""
    return _build(num_classes, dict(dim=512, heads=8, encoder_layers=6, decoder_layers=6,
                                    hidden=2048, dropout=0.1), overrides)
