"""One contract for bad data files, shared by every loader (generic: no modality here).

* ``BadDataError`` — an unreadable, truncated or malformed file. Its message is one line that
  starts with the file (``path`` or ``path:line`` for text, CSV and split files) and says what is
  wrong. It is a ``ValueError``, so the runner turns it into ``error: …`` and exit 2 while it
  loads the data, before anything trains.
* ``BadFiles`` — what a loader does with such a file under the ``on_error`` data option:
  ``"raise"`` (default) stops at the first one; ``"skip"`` leaves it out and counts it. The
  loader puts ``BadFiles.info()`` into its split info; ``report`` prints the count and the first
  few names on the console, and the record keeps the full list. The checks every listing-driven
  loader makes are here once: an entry listed twice (``listed_once``), an entry naming a file
  that is not there (``present``), nothing usable left after skipping (``require_any``).
* ``data_fingerprint`` — per-split counts and a hash of the sorted file list, so two users can
  tell whether they ran the same data.

The per-format reading (what "malformed" means for a JPEG, an XML file, a video) stays in each
task; a task calls ``BadFiles.attempt(path, read)`` (or raises ``BadDataError`` itself).
"""
from __future__ import annotations

import hashlib
import re
import struct
import zlib
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence, TypeVar

T = TypeVar("T")

ON_ERROR = ("raise", "skip")
#: how many bad files the console line names (the record lists them all)
SHOWN = 5
#: exceptions a reader may raise on a damaged file (each becomes a ``BadDataError``);
#: ``SyntaxError`` covers XML parse errors, ``UnicodeDecodeError`` is a ``ValueError``
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, SyntaxError, EOFError,
                                                KeyError, IndexError, TypeError, struct.error,
                                                zlib.error, RuntimeError)


def one_line(text: object, limit: int = 300) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed, cut to ``limit``."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


class BadDataError(ValueError):
    """A data file that cannot be used; the one-line message names the file (and line)."""

    def __init__(self, path: object, reason: object, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = one_line(reason)
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {self.reason}")

    @classmethod
    def wrap(cls, path: object, exc: BaseException, line: int | None = None) -> "BadDataError":
        """``exc`` (raised while reading ``path``) as a ``BadDataError`` naming the file; an
        error that already names it keeps its reason."""
        if isinstance(exc, BadDataError):
            return exc
        text = one_line(exc) or "unreadable"
        path_text = str(path)
        if text.startswith(path_text):   # a reader's own message that already names the file
            return cls(path, text[len(path_text):].lstrip(": ") or "unreadable", line)
        return cls(path, f"{type(exc).__name__}: {text}", line)


def check_on_error(value: str) -> str:
    if value not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {value!r}")
    return value


class BadFiles:
    """Bad files met while loading: raised (``on_error="raise"``) or skipped and counted."""

    def __init__(self, on_error: str = "raise") -> None:
        self.on_error = check_on_error(on_error)
        self.errors: list[BadDataError] = []

    def __len__(self) -> int:
        return len(self.errors)

    @property
    def files(self) -> list[str]:
        return [f"{e.path}:{e.line}" if e.line is not None else e.path for e in self.errors]

    def handle(self, exc: BadDataError) -> None:
        """Raise ``exc`` or count it, by ``on_error``."""
        if self.on_error == "raise":
            raise exc
        self.errors.append(exc)

    def attempt(self, path: object, read: Callable[[], T], line: int | None = None) -> T | None:
        """``read()``; a damaged file (any of ``READ_ERRORS``) is raised as a ``BadDataError``
        naming ``path`` or, when skipping, counted and None returned."""
        try:
            return read()
        except READ_ERRORS as exc:
            self.handle(BadDataError.wrap(path, exc, line))
            return None

    def extend(self, messages: Iterable[BadDataError]) -> None:
        for exc in messages:
            self.handle(exc)

    def listed_once(self, entries: Iterable[T], where: object,
                    keys: Callable[[T], Iterable[Hashable]], name: Callable[[T], str],
                    line: Callable[[T], int | None] = lambda entry: None) -> list[T]:
        """The ``entries`` of a listing (a split file, an annotation file's image list) in order,
        each kept at its first listing: an entry sharing one of its ``keys`` with an earlier
        entry is a bad entry of ``where`` (``NAME is listed twice (first on line N)``), raised
        or skipped and counted."""
        first: dict[Hashable, int | None] = {}
        out = []
        for entry in entries:
            own = list(keys(entry))
            repeated = [key for key in own if key in first]
            if repeated:
                earlier = first[repeated[0]]
                note = f" (first on line {earlier})" if earlier is not None else ""
                self.handle(BadDataError(where, f"{name(entry)} is listed twice{note}",
                                         line(entry)))
                continue
            first.update((key, line(entry)) for key in own)
            out.append(entry)
        return out

    def present(self, files: Iterable[object], where: object, name: str,
                line: int | None = None, fix: str = "") -> bool:
        """Whether every one of ``files`` (those an entry ``name`` of the listing ``where``
        needs) exists; else the entry is bad (``NAME: FILE is missing; FIX``): raised, or
        counted and False."""
        absent = next((f for f in files if not Path(str(f)).is_file()), None)
        if absent is None:
            return True
        self.handle(BadDataError(where, f"{name}: {absent} is missing" + (f"; {fix}" if fix
                                                                          else ""), line))
        return False

    def require_any(self, count: int, where: object, what: str) -> None:
        """A ``BadDataError`` naming ``where`` when nothing is left (``count`` 0) after the bad
        files were skipped: ``no usable WHAT``, with the first of them."""
        if not count:
            raise BadDataError(where, f"no usable {what} ({self.brief()})")

    def brief(self, shown: int = 3) -> str:
        """``N bad file(s) skipped: first names`` (for errors about what was left)."""
        names = "; ".join(str(e) for e in self.errors[:shown])
        return f"{len(self.errors)} bad file(s) skipped" + (f": {names}" if names else "")

    def info(self) -> dict[str, Any]:
        """What the record keeps: the policy, the count and every skipped file with its reason."""
        return {"on_error": self.on_error, "bad_files": len(self.errors),
                "bad_file_list": [str(e) for e in self.errors]}

    def summary(self, name: str, shown: int = SHOWN) -> str | None:
        """One console line: how many files were skipped and the first ``shown`` names."""
        return skipped_summary(name, self.info(), shown)


def skipped_summary(name: str, info: Mapping[str, Any], shown: int = SHOWN) -> str | None:
    """The console line for a split info holding ``BadFiles.info()`` (None when nothing was
    skipped)."""
    listed = list(info.get("bad_file_list") or [])
    if not listed:
        return None
    names = "; ".join(listed[:shown]) + (f"; … {len(listed) - shown} more" if len(listed) > shown
                                         else "")
    return (f"{name}: skipped {len(listed)} bad file(s) (data.on_error=skip; full list in the "
            f"record under data.bad_file_list): {names}")


def text_lines(path: object) -> list[tuple[int, str]]:
    """(1-based line number, line) of a UTF-8 text file (split lists, class indexes); a file
    that is not UTF-8 raises a ``BadDataError`` naming the file and the line of the bad byte."""
    from pathlib import Path

    data = Path(str(path)).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise BadDataError(path, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line) from None
    return list(enumerate(text.splitlines(), 1))


def check_splits(folder: object, counts: Mapping[str, int]) -> None:
    """A ``BadDataError`` naming ``folder`` and the split(s) that hold nothing."""
    empty = [split for split, count in counts.items() if count == 0]
    if empty:
        raise BadDataError(folder, f"empty split(s): {', '.join(empty)} hold no sample")


def data_fingerprint(splits: Mapping[str, Sequence[object]]) -> dict[str, Any]:
    """Per-split counts and one sha256 over every split's sorted file names (relative names keep
    it the same across machines)."""
    digest = hashlib.sha256()
    counts = {}
    for split in sorted(splits):
        names = sorted(str(n) for n in splits[split])
        counts[split] = len(names)
        for name in names:
            digest.update(f"{split}\t{name}\n".encode("utf-8", "surrogateescape"))
    return {"counts": counts, "files_sha256": digest.hexdigest()[:20]}


def content_fingerprint(splits: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprint of data without a file list (in-memory or single-archive sets): per-split
    counts and one sha256 over every split's input tensor (``TensorData``-like ``.inputs``)."""
    digest = hashlib.sha256()
    counts = {}
    for split in sorted(splits):
        inputs = splits[split].inputs.detach().cpu().contiguous()
        counts[split] = int(inputs.shape[0])
        digest.update(split.encode() + b"\n" + inputs.numpy().tobytes())
    return {"counts": counts, "inputs_sha256": digest.hexdigest()[:20]}
