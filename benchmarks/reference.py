"""Paper reference numbers: YAML files in ``benchmarks/reference/`` (format in its README.md).

A file holds a table's metadata, ``defaults`` shared by its entries, and ``entries``; each entry
names the cell it belongs to (``task``, ``dataset``, ``model``, ``attack``, ``defense``; a
missing or null key matches any value), the ``stage`` (``before`` = no defense, ``after``, or
``timings_s``), the ``metric`` and the ``value``. Unknown keys are errors.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from core.config import ConfigError, from_dict

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
MATCH_KEYS = ("task", "dataset", "model", "attack", "defense")


@dataclass(frozen=True)
class ReferenceEntry:
    stage: str
    metric: str
    value: float
    task: str | None = None
    dataset: str | None = None
    model: str | None = None
    attack: str | None = None
    defense: str | None = None
    unit: str = "%"
    note: str = ""

    def __post_init__(self) -> None:
        if self.stage not in ("before", "after", "timings_s"):
            raise ConfigError(f"reference entry stage must be before, after or timings_s, "
                              f"got {self.stage!r}")


@dataclass(frozen=True)
class ReferenceTable:
    table: str
    caption: str
    paper: str
    source: str
    checked_against_paper: bool
    entries: list = field(default_factory=list)
    hardware: str = ""
    defaults: dict = field(default_factory=dict)
    notes: str = ""
    file: str = ""


def norm(name: Any) -> str:
    """Names compare without case and punctuation: ``I-BAU`` = ``i_bau`` = ``ibau``."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def load_table(path: Path) -> ReferenceTable:
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path} must hold a mapping")
    data = {**data, "file": Path(path).name}
    table = from_dict(ReferenceTable, data)
    entries = [from_dict(ReferenceEntry, {**table.defaults, **entry}) for entry in table.entries]
    return ReferenceTable(**{**table.__dict__, "entries": entries})


def load_references(directory: Path = REFERENCE_DIR) -> list[ReferenceTable]:
    return [load_table(p) for p in sorted(Path(directory).glob("*.yaml"))]


def matches(entry: ReferenceEntry, key: Mapping[str, Any], exact_attack: bool = False) -> bool:
    """Whether ``entry`` applies to the cell ``key`` (a dict of MATCH_KEYS)."""
    for name in MATCH_KEYS:
        want = getattr(entry, name)
        if want is None:
            if name == "attack" and exact_attack:
                return False
            continue
        if norm(want) != norm(key.get(name)):
            return False
    return True
