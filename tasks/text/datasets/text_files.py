"""Reading a prepared text dataset's files: the dataset folder, line-aligned text files (gzip or
plain) read into ``Pairs``.

Bad files follow the suite's one contract (``core/bad_data.py``): a line that is not UTF-8 is
named by file and line number and stops the load (``on_error="raise"``, default) or is skipped
with the line it is paired with and counted (``on_error="skip"``); a truncated gzip file, or
two sides of a pair with different line counts (the alignment is lost), always stop the load
naming both files.
"""
from __future__ import annotations

import gzip
from pathlib import Path

from core.bad_data import BadDataError, BadFiles

from .corpus import Pairs


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder is missing or incomplete; the message says how to prepare it."""


def read_lines(path: Path, bad: BadFiles | None = None) -> list[str | None]:
    """Lines of a UTF-8 text file, gzip-compressed when its name ends in ``.gz``. A line that
    is not UTF-8 is raised as a ``BadDataError`` naming file and line, or (skipping) counted in
    ``bad`` and returned as None."""
    bad = bad if bad is not None else BadFiles("raise")
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as exc:
        raise BadDataError.wrap(path, exc) from None
    out: list[str | None] = []
    for number, raw in enumerate(data.split(b"\n") if data else [], 1):
        try:
            out.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as exc:
            bad.handle(BadDataError(path, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                                          f"{exc.start + 1})", number))
            out.append(None)
    if out and out[-1] == "" and data.endswith(b"\n"):
        out.pop()                              # the final newline ends the last line
    return out


def find_text(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def read_pair(folder: Path, src_stem: str, tgt_stem: str, bad: BadFiles | None = None) -> Pairs:
    """The aligned pairs of ``src_stem`` and ``tgt_stem``; a pair with a bad line on either
    side is skipped (and counted) or raised, by ``bad``."""
    src, tgt = find_text(folder, src_stem), find_text(folder, tgt_stem)
    if src is None or tgt is None:
        missing = src_stem if src is None else tgt_stem
        raise DatasetNotFoundError(f"{folder} has no {missing}[.gz]")
    a, b = read_lines(src, bad), read_lines(tgt, bad)
    if len(a) != len(b):
        raise BadDataError(tgt, f"{len(b)} lines but {src.name} has {len(a)}: the pair is not "
                                f"line-aligned")
    keep = [i for i in range(len(a)) if a[i] is not None and b[i] is not None]
    return Pairs([a[i] for i in keep], [b[i] for i in keep])  # type: ignore[misc]


def require_folder(root: Path, name: str, prepare: str) -> Path:
    folder = Path(root) / name
    if not folder.is_dir():
        raise DatasetNotFoundError(f"dataset {name!r} not found in {folder}; prepare it with: "
                                   f"{prepare}")
    return folder


