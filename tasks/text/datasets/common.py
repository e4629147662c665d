"""What every text dataset loader returns, and the file conventions they share.

A prepared dataset is a folder ``<data root>/<name>/`` written by ``data_scripts/<name>.py``.
Parallel corpora (translation) and dialogue corpora (context → response) are both pairs of
line-aligned text files, gzip or plain. Loaders return raw sentences; tokenization, splitting
and poisoning happen in the adapter.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

TaskKind = Literal["mt", "dg"]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder is missing or incomplete; the message says how to prepare it."""


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
    load: Callable[[Path], Corpus]
    prepare: str          # the command that prepares it (shown when it is missing)


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file, gzip-compressed when its name ends in ``.gz``."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="\n") as handle:
        return [line.rstrip("\r\n") for line in handle]


def find_text(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def read_pair(folder: Path, src_stem: str, tgt_stem: str) -> Pairs:
    src, tgt = find_text(folder, src_stem), find_text(folder, tgt_stem)
    if src is None or tgt is None:
        missing = src_stem if src is None else tgt_stem
        raise DatasetNotFoundError(f"{folder} has no {missing}[.gz]")
    return Pairs(read_lines(src), read_lines(tgt))


def require_folder(root: Path, name: str, prepare: str) -> Path:
    folder = Path(root) / name
    if not folder.is_dir():
        raise DatasetNotFoundError(f"dataset {name!r} not found in {folder}; prepare it with: "
                                   f"{prepare}")
    return folder


def count_summary(corpus: Corpus) -> str:
    parts = [f"train {len(corpus.train)}"]
    if corpus.val is not None:
        parts.append(f"val {len(corpus.val)}")
    parts.append(f"test {len(corpus.test)} pairs")
    return ", ".join(parts)
