"""The paper's tables as runs of the suite (``benchmarks/runner/reproduce_specs/tables.yaml``).

A *table* names the transcribed CSV it prints (``benchmarks/reporting/reference/paper/``), the CSV columns
that label its printed rows and columns, the *runs* (a preset plus overrides) that give its cells
(``routes``: first match on the CSV row wins), the paper's names for the suite's, and the cells the
suite cannot produce (``missing``, with the reason). Every printed number of the paper becomes one
``PaperCell``; ``ours`` finds the records behind it and ``render`` writes the table in the
paper's layout, each cell "ours (paper) difference", with the provenance of every cell.
"""
from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.config import ConfigError, from_dict

from .presets import Preset, load_preset
from benchmarks.reporting.reference import REFERENCE_DIR

SPEC_DIR = Path(__file__).resolve().parent / "reproduce_specs"
SPEC_FILE = SPEC_DIR / "tables.yaml"
#: the paper's metric -> (stage of our record, our metric); "drop" rows are computed
METRICS = {"asr": "asr", "clean_acc": "clean_acc", "map": "map", "lcr": "lcr", "at": "asr",
           "bleu_clean": "clean_bleu", "runtime_s": "defense", "asr_drop": "asr",
           "clean_acc_drop": "clean_acc"}
LABELS = {"asr": "ASR", "clean_acc": "ACC", "map": "mAP", "lcr": "LCR", "runtime_s": "time (s)",
          "at": "AT", "bleu_clean": "CT", "asr_drop": "ASR drop", "clean_acc_drop": "ACC drop"}
#: an "Avg. Drop" row prints its pair under the ASR / ACC columns, as in the paper
COLUMN_METRIC = {"asr_drop": "asr", "clean_acc_drop": "clean_acc"}
CSV_FIELDS = ("dataset", "attack", "defense", "setting", "model", "metric")


@dataclass(frozen=True)
class RunSpec:
    preset: str | None = None
    extends: str | None = None
    attacks: list | None = None
    defenses: list | None = None
    model: str | None = None
    set: dict = field(default_factory=dict)
    quick: str | None = None


@dataclass(frozen=True)
class Route:
    run: str
    where: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Missing:
    reason: str
    where: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TableSpec:
    title: str
    paper: str
    rows: list
    columns: list
    routes: list = field(default_factory=list)
    where: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)


@dataclass(frozen=True)
class Specs:
    names: dict
    runs: dict
    tables: dict
    aliases: dict = field(default_factory=dict)
    missing_everywhere: list = field(default_factory=list)


@dataclass
class PaperCell:
    table: str
    row: str
    column: str
    metric: str
    paper: float
    csv: dict
    run: str | None = None          # None: missing (reason) or no route
    reason: str = ""


def matches(where: dict, row: dict) -> bool:
    for key, want in where.items():
        if key not in CSV_FIELDS:
            raise ConfigError(f"unknown field {key!r} in a where; use one of {', '.join(CSV_FIELDS)}")
        options = want if isinstance(want, list) else [want]
        if row[key] not in [str(o) for o in options]:
            return False
    return True


def load_specs(path: Path = SPEC_FILE) -> Specs:
    data = yaml.safe_load(Path(path).read_text())
    specs = from_dict(Specs, data)
    runs = {k: from_dict(RunSpec, v) for k, v in specs.runs.items()}
    tables = {}
    for key, value in specs.tables.items():
        table = from_dict(TableSpec, value)
        routes = [from_dict(Route, r) for r in table.routes]
        unknown = [r.run for r in routes if r.run not in runs]
        if unknown:
            raise ConfigError(f"table {key}: unknown run(s) {unknown}")
        missing = [from_dict(Missing, m) for m in table.missing]
        tables[key] = TableSpec(table.title, table.paper, list(table.rows), list(table.columns),
                                routes, table.where, missing)
    everywhere = [from_dict(Missing, m) for m in specs.missing_everywhere]
    return Specs(specs.names, runs, tables, specs.aliases, everywhere)


def table_ids(specs: Specs, names: list[str]) -> list[str]:
    """Table ids from names or aliases (``table1`` → both halves of main Table 1; ``all``)."""
    out: list[str] = []
    for name in names:
        if name == "all":
            out += list(specs.tables)
        elif name in specs.aliases:
            out += specs.aliases[name]
        elif name in specs.tables:
            out.append(name)
        else:
            import difflib
            close = difflib.get_close_matches(name, [*specs.tables, *specs.aliases], n=3)
            raise ConfigError(f"unknown table {name!r}" + (f"; did you mean {', '.join(close)}?"
                              if close else f"; known: {', '.join([*specs.aliases, *specs.tables])}"))
    return list(dict.fromkeys(out))


def resolve_run(specs: Specs, name: str, scale: str = "paper",
                extra_sets: list | None = None) -> Preset | None:
    """The preset of run ``name`` (``extends`` followed); None when ``scale`` is ``quick`` and
    the run has no CPU stand-in."""
    chain, seen = [], set()
    while name is not None:
        if name in seen or name not in specs.runs:
            raise ConfigError(f"run {name!r}: unknown or circular extends")
        seen.add(name)
        chain.append(specs.runs[name])
        name = specs.runs[name].extends
    merged: dict[str, Any] = {"set": {}}
    for spec in reversed(chain):
        for key in ("preset", "attacks", "defenses", "model", "quick"):
            if getattr(spec, key) is not None:
                merged[key] = getattr(spec, key)
        merged["set"] = {**merged["set"], **spec.set}
    preset = merged.get("preset")
    if scale == "quick":
        preset = merged.get("quick")
        if preset is None:
            return None
    if preset is None:
        raise ConfigError(f"run {name!r} names no preset")
    overrides = {"attacks": merged.get("attacks"), "defenses": merged.get("defenses"),
                 "model": merged.get("model")}
    return load_preset(preset, overrides, None,
                       assignments=[*merged["set"].items(), *(extra_sets or [])])


def paper_cells(specs: Specs, table_id: str) -> list[PaperCell]:
    """Every printed number of the table, routed to a run (or marked missing)."""
    table = specs.tables[table_id]
    with open(REFERENCE_DIR / "paper" / table.paper, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if matches(table.where, r)]
    cells = []
    for row in rows:
        label = lambda keys: " / ".join(row[k] for k in keys)      # noqa: E731
        cell = PaperCell(table_id, label(table.rows), label(table.columns), row["metric"],
                         float(row["value"]), dict(row))
        gap = next((m for m in [*table.missing, *specs.missing_everywhere]
                    if matches(m.where, row)), None)
        route = next((r for r in table.routes if matches(r.where, row)), None)
        if gap is not None:
            cell.reason = gap.reason
        elif route is None:
            cell.reason = "no run routes to this cell (tables.yaml)"
        else:
            cell.run = route.run
        cells.append(cell)
    return cells


# -- our numbers --------------------------------------------------------------------------------
def _get(record: dict, dotted: str) -> Any:
    node: Any = record
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def run_records(preset: Preset, dirs: list[Path], sets: dict) -> list[dict]:
    """Finished records of ``preset`` in ``dirs`` whose config agrees with ``sets``."""
    from benchmarks.reporting.paper_sources import table_records

    found, seen = [], set()
    for folder in dirs:
        if Path(folder).is_file():        # a committed cells.csv / results markdown
            if not sets:                  # their config cannot be checked: default runs only
                found += [r for r in table_records(folder) if (r["task"], r["dataset"],
                          r["model"]) == (preset.task, preset.dataset, preset.model)]
            continue
        for path in sorted(Path(folder).rglob("records/**/seed*.json")):
            if ".error-" in path.name or path.resolve() in seen:
                continue
            seen.add(path.resolve())
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if record.get("status") != "ok" or (record.get("task"), record.get("dataset"),
                                                 record.get("model"), record.get("preset")) != (
                    preset.task, preset.dataset, preset.model, preset.name):
                continue
            config = _get(record, "config.preset") or {}
            if any(_get(config, k) != v for k, v in sets.items()):
                continue
            record["_path"] = str(path)
            found.append(record)
    return found


@dataclass
class Ours:
    value: float | None
    seeds: int = 0
    records: list = field(default_factory=list)
    reason: str = ""


def _seeds(records: list[dict]) -> int:
    """Seeds behind ``records`` (a committed cell stands for the ``_n`` seeds it averaged)."""
    return len({r["seed"] for r in records if "_n" not in r}) + sum(r.get("_n", 0) for r in records)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def ours(cell: PaperCell, records: list[dict], names: dict) -> Ours:
    """Our number for ``cell`` from the records of its run (mean over seeds)."""
    row = cell.csv
    attack = names.get("attack", {}).get(row["attack"], row["attack"])
    defense = names.get("defense", {}).get(row["defense"], row["defense"])
    metric = METRICS.get(row["metric"])
    if metric is None:
        return Ours(None, reason=f"metric {row['metric']!r} has no counterpart")
    if row["metric"] in ("asr_drop", "clean_acc_drop"):       # an "Avg. Drop" row
        mine = [r for r in records if r["defense"] == defense]
        drops = [r["before"][metric] - r["after"][metric] for r in mine
                 if metric in r.get("before", {}) and metric in r.get("after", {})]
        return Ours(_mean(drops), _seeds(mine), mine)
    if row["metric"] == "runtime_s":                          # attack not stated: over all
        mine = [r for r in records if r["defense"] == defense]
        mine = [r for r in mine if "defense" in r.get("timings_s", {})]
        return Ours(_mean([r["timings_s"]["defense"] for r in mine]), _seeds(mine), mine)
    if defense == "no_defense":               # the backdoored model: one "before" per seed
        by_seed = {}
        for r in records:
            if r["attack"] == attack and metric in r.get("before", {}):
                by_seed.setdefault(r["seed"], r)
        mine = list(by_seed.values())
        return Ours(_mean([r["before"][metric] for r in mine]), _seeds(mine), mine)
    mine = [r for r in records if r["attack"] == attack and r["defense"] == defense
            and metric in r.get("after", {})]
    return Ours(_mean([r["after"][metric] for r in mine]), _seeds(mine), mine)
