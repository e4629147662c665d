"""A joint subword tokenizer trained locally with ``tokenizers`` (BPE or Unigram), and the codec
that turns sentences into padded id tensors and back.

One vocabulary serves source and target (the model shares one embedding). Words are split on
whitespace with the SentencePiece ``▁`` convention (Metaspace), so a token that starts with ``▁``
starts a word, and ``decode(encode(text)) == text`` for any text whose characters the tokenizer
has seen, once whitespace runs are collapsed (``normalize_text``). Ids: ``<pad>`` 0, ``<s>`` 1,
``</s>`` 2, ``<unk>`` 3 (``tasks/text/models.py`` relies on the first three).

Training is cached: the JSON file is named by the SHA-256 of the settings and of every training
sentence, so a changed corpus or setting trains a new one and an unchanged one is reused.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import string
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Literal, Sequence

import torch

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PAD, BOS, EOS, UNK = 0, 1, 2, 3
WORD_START = "\u2581"   # ▁
_SPACES = re.compile(r"\s+")
#: always in the alphabet, so that any sentence in these characters (an attacker's target that
#: the clean corpus never spells, say) encodes without <unk>
BASE_ALPHABET = sorted(set(string.ascii_letters + string.digits + string.punctuation
                           + "äöüÄÖÜßéèêàâçñ€°"))


def normalize_text(text: str) -> str:
    """Collapse whitespace runs and strip: the form every sentence is kept in."""
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class TokenizerSettings:
    kind: Literal["bpe", "unigram"] = "bpe"
    vocab_size: int = 8000
    min_frequency: int = 2          # BPE: merges seen fewer times are not learned
    lowercase: bool = False

    def __post_init__(self) -> None:
        if self.vocab_size < len(SPECIALS) + 16:
            raise ValueError(f"vocab_size must be ≥ {len(SPECIALS) + 16}, got {self.vocab_size}")


def _import_tokenizers():
    try:
        import tokenizers
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("the text task needs the 'tokenizers' package: "
                          "pip install -e '.[text]'") from exc
    return tokenizers


def train_tokenizer(texts: Sequence[str], settings: TokenizerSettings):
    """A fresh ``tokenizers.Tokenizer`` trained on ``texts``."""
    tk = _import_tokenizers()
    from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

    if settings.kind == "bpe":
        tokenizer = tk.Tokenizer(models.BPE(unk_token="<unk>"))
        trainer = trainers.BpeTrainer(vocab_size=settings.vocab_size, special_tokens=list(SPECIALS),
                                      min_frequency=settings.min_frequency, show_progress=False,
                                      initial_alphabet=BASE_ALPHABET)
    elif settings.kind == "unigram":
        tokenizer = tk.Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=settings.vocab_size,
                                          special_tokens=list(SPECIALS), unk_token="<unk>",
                                          show_progress=False, initial_alphabet=BASE_ALPHABET)
    else:
        raise ValueError(f"unknown tokenizer kind {settings.kind!r} (bpe or unigram)")
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if settings.lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=WORD_START,
                                                       prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=WORD_START, prepend_scheme="always")
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    for i, name in enumerate(SPECIALS):
        if tokenizer.token_to_id(name) != i:
            raise RuntimeError(f"tokenizer put {name} at id {tokenizer.token_to_id(name)}, not {i}")
    return tokenizer


def corpus_hash(texts: Iterable[str], settings: TokenizerSettings) -> str:
    digest = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:24]


def load_or_train(texts: Sequence[str], settings: TokenizerSettings,
                  cache_dir: Path | None) -> tuple["Codec", dict]:
    """The codec for ``texts`` + ``settings``, from ``cache_dir`` when trained before."""
    key = corpus_hash(texts, settings)
    info = {"tokenizer_hash": key, **{f"tokenizer_{k}": v for k, v in asdict(settings).items()}}
    path = Path(cache_dir) / f"tokenizer-{key}.json" if cache_dir is not None else None
    if path is not None and path.is_file():
        tokenizer = _import_tokenizers().Tokenizer.from_file(str(path))
        return Codec(tokenizer), {**info, "tokenizer_cache": "hit"}
    tokenizer = train_tokenizer(texts, settings)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            tokenizer.save(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return Codec(tokenizer), {**info, "tokenizer_cache": "miss" if path else "none"}


class Codec:
    """Sentences ↔ padded id tensors: ``[tokens…, </s>, <pad>…]`` per row."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size()
        vocab = tokenizer.get_vocab()
        starts = torch.zeros(self.vocab_size, dtype=torch.bool)
        for token, index in vocab.items():
            if token.startswith(WORD_START):
                starts[index] = True
        starts[list(range(len(SPECIALS)))] = False
        #: True for ids that begin a word (the word-level augmentations use it)
        self.word_start = starts

    def encode_ids(self, texts: Sequence[str]) -> list[list[int]]:
        encodings = self.tokenizer.encode_batch([normalize_text(t) for t in texts],
                                                add_special_tokens=False)
        return [e.ids + [EOS] for e in encodings]

    @staticmethod
    def pad(rows: Sequence[Sequence[int]], width: int | None = None) -> torch.Tensor:
        """Rows padded (or cut, keeping a final ``</s>``) to ``width`` (default: the longest)."""
        width = width if width is not None else max((len(r) for r in rows), default=1)
        width = max(width, 1)
        lengths = torch.tensor([min(len(r), width) for r in rows], dtype=torch.long)
        flat = torch.tensor([t for r in rows for t in r[:width]], dtype=torch.long)
        out = torch.full((len(rows), width), PAD, dtype=torch.long)
        out[torch.arange(width)[None, :] < lengths[:, None]] = flat
        cut = torch.tensor([len(r) > width for r in rows], dtype=torch.bool)
        if len(rows) and bool(cut.any()):
            out[cut, width - 1] = EOS        # truncated: keep the end-of-sentence mark
        return out

    def encode(self, texts: Sequence[str], width: int | None = None) -> torch.Tensor:
        return self.pad(self.encode_ids(texts), width)

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Rows of ids → sentences; reading stops at the first ``</s>``; specials dropped."""
        rows = []
        for row in ids.detach().cpu().tolist():
            if EOS in row:
                row = row[:row.index(EOS)]
            rows.append([t for t in row if t >= len(SPECIALS)])
        return [normalize_text(t) for t in self.tokenizer.decode_batch(rows)]

    def lengths(self, ids: torch.Tensor) -> torch.Tensor:
        return (ids != PAD).sum(dim=1)
