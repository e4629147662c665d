"""What every text dataset loader returns (``Corpus`` of ``Pairs``) and how a dataset is
registered (``TextDataset``).

A prepared dataset is a folder ``<data root>/<name>/`` written by ``data_scripts/<name>.py``.
Parallel corpora (translation) and dialogue corpora (context → response) are both pairs of
line-aligned sentences. Loaders return raw sentences; tokenization, splitting and poisoning
happen in the adapter.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

TaskKind = Literal["mt", "dg"]


@dataclass
class Pairs:
    src: list[str]
    tgt: list[str]

    def __post_init__(self) -> None:
        if len(self.src) != len(self.tgt):
            raise ValueError(f"{len(self.src)} source lines but {len(self.tgt)} target lines")

    def __len__(self) -> int:
        return len(self.src)


@dataclass
class Corpus:
    name: str
    kind: TaskKind
    train: Pairs
    test: Pairs
    val: Pairs | None = None
    languages: tuple[str, str] = ("en", "de")
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TextDataset:
    """A registered dataset: its task kind, its loader and how to prepare it."""

    name: str
    kind: TaskKind
    load: Callable[..., Corpus]       # load(root, on_error="raise")
    prepare: str          # the command that prepares it (shown when it is missing)


def count_summary(corpus: Corpus) -> str:
    """``train N, val N, test N pairs``; an empty split is an error naming it."""
    from core.bad_data import check_splits

    check_splits(corpus.name, {"train": len(corpus.train), "test": len(corpus.test),
                               **({"val": len(corpus.val)} if corpus.val is not None else {})})
    parts = [f"train {len(corpus.train)}"]
    if corpus.val is not None:
        parts.append(f"val {len(corpus.val)}")
    parts.append(f"test {len(corpus.test)} pairs")
    return ", ".join(parts)
