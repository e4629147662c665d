"""Named sweeps: a YAML file in ``benchmarks/runner/sweeps/`` that expands into several matrix runs.

    python benchmarks/run.py sweep eta_c --preset quick --data-root data [--dry-run]

File format (unknown keys are errors)::

    # header: what the sweep reproduces, hardware, expected numbers, number of runs
    description: NFT regulariser strength
    paper: "Table 18"            # free text
    task: image                  # optional: the preset must be of this task
    base: {defense_options.nft.epochs: 100}        # optional, applied to every run
    runs:                        # explicit runs …
      - name: eta_1e-2
        set: {defense_options.nft.eta_c: 1.0e-2}
    grid:                        # … and/or a grid: every combination becomes a run
      defense_options.nft.mu_alpha: [0.9, 0.8, 0.7]

Keys are the dotted preset keys of ``--set``. ``attack_options.*.KEY`` / ``defense_options.*.KEY``
apply KEY to every attack / defense of the run. Order: preset file < flags < ``--set`` < sweep
``base`` < run ``set``; a ``--set`` of a key the sweep varies is an error. Every run is resolved
and validated (names, option keys and values) before the first one starts. Run ``NAME`` writes
to ``OUT/NAME/``; ``OUT/sweep.md`` and ``OUT/sweep.csv`` put all runs side by side.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.config import ConfigError, from_dict

from .presets import Preset, load_preset, parse_sets, read_named_yaml

SWEEP_DIR = Path(__file__).resolve().parent / "sweeps"
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+,-]*$")


@dataclass(frozen=True)
class SweepRunSpec:
    name: str
    set: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SweepFile:
    description: str
    runs: list = field(default_factory=list)
    grid: dict = field(default_factory=dict)
    base: dict = field(default_factory=dict)
    task: str | None = None
    paper: str = ""


@dataclass
class SweepRun:
    name: str
    assignments: list[tuple[str, Any]]
    preset: Preset


def available() -> list[str]:
    return sorted(p.stem for p in SWEEP_DIR.glob("*.yaml"))


def read_sweep(name_or_path: str) -> tuple[str, SweepFile]:
    path, data = read_named_yaml(name_or_path, SWEEP_DIR, "sweep")
    spec = from_dict(SweepFile, data)
    if not spec.runs and not spec.grid:
        raise ConfigError(f"{path}: a sweep needs `runs` or `grid`")
    return path.stem, spec


def _value_label(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return re.sub(r"[^A-Za-z0-9_.+-]", "", text) or "x"


def run_specs(spec: SweepFile) -> list[SweepRunSpec]:
    runs = [from_dict(SweepRunSpec, r) if isinstance(r, dict) else r for r in spec.runs]
    for key, values in spec.grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid key {key!r} needs a non-empty list of values")
    if spec.grid:
        keys = list(spec.grid)
        for combo in itertools.product(*(spec.grid[k] for k in keys)):
            name = ",".join(f"{k.rsplit('.', 1)[-1]}={_value_label(v)}" for k, v in zip(keys, combo))
            runs.append(SweepRunSpec(name, dict(zip(keys, combo))))
    names = [r.name for r in runs]
    for name in names:
        if not RUN_NAME.match(name):
            raise ConfigError(f"sweep run name {name!r}: use letters, digits and _.=+,- only")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"sweep run names repeat: {duplicates}")
    return runs


def _expand_wildcards(items: list[tuple[str, Any]], preset: Preset) -> list[tuple[str, Any]]:
    out = []
    for key, value in items:
        parts = key.split(".")
        if len(parts) >= 3 and parts[1] == "*" and parts[0] in ("attack_options", "defense_options"):
            names = preset.attacks if parts[0] == "attack_options" else preset.defenses
            out += [(".".join([parts[0], n, *parts[2:]]), value) for n in names]
        elif "*" in parts:
            raise ConfigError(f"sweep key {key!r}: '*' only stands for an attack or defense name "
                              f"(attack_options.*.KEY, defense_options.*.KEY)")
        else:
            out.append((key, value))
    return out


def expand(name_or_path: str, preset_name: str, overrides: dict[str, Any] | None = None,
           sets: list[str] | None = None) -> tuple[str, SweepFile, list[SweepRun]]:
    """Resolve every run of a sweep into a typed preset (raises on any bad key or value)."""
    sweep_name, spec = read_sweep(name_or_path)
    cli = parse_sets(sets)
    runs = []
    for run in run_specs(spec):
        varied = set(spec.base) | set(run.set)
        clash = sorted(k for k, _ in cli if k in varied)
        if clash:
            raise ConfigError(f"--set {', '.join(clash)}: sweep {sweep_name!r} sets "
                              f"{'this key' if len(clash) == 1 else 'these keys'} itself")
        items = [*spec.base.items(), *run.set.items()]
        plain = [(k, v) for k, v in items if "*" not in k.split(".")]
        first = load_preset(preset_name, overrides, sets, plain)
        try:
            preset = load_preset(preset_name, overrides, sets, _expand_wildcards(items, first))
        except ConfigError as exc:
            raise ConfigError(f"sweep {sweep_name!r}, run {run.name!r}: {exc}") from None
        if spec.task is not None and preset.task != spec.task:
            raise ConfigError(f"sweep {sweep_name!r} is for the {spec.task!r} task, but preset "
                              f"{preset_name!r} runs {preset.task!r}")
        preset.name = f"{preset.name}+{sweep_name}.{run.name}"
        runs.append(SweepRun(run.name, items, preset))
    return sweep_name, spec, runs


def sweep_tables(out: Path, runs: list[SweepRun]) -> tuple[Path, Path]:
    """``sweep.md`` / ``sweep.csv``: every run's aggregated cells with a ``run`` column."""
    import csv
    import io

    from ..reporting.aggregate import CELL_KEYS, aggregate_records, cell_columns
    from ..reporting.summary import load_records

    rows = []
    for run in runs:
        run_dir = out / run.name
        ok, _ = load_records(run_dir) if (run_dir / "records").is_dir() else ([], [])
        rows += [(run, c) for c in aggregate_records(ok)]
    cols = cell_columns([c for _, c in rows]) if rows else []
    head = ["run", "settings", *CELL_KEYS, "n", *cols]
    md = ["# Sweep " + out.name, "", "Mean ± sample std over seeds, per run.", "",
          "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["run", "settings", *CELL_KEYS, "n",
                     *(f"{c}.{s}" for c in cols for s in ("mean", "std"))])
    for run, cell in rows:
        settings = "; ".join(f"{k}={v}" for k, v in run.assignments)
        md.append("| " + " | ".join([run.name, settings, *(cell.key[k] for k in CELL_KEYS),
                                     str(len(cell.seeds)),
                                     *(cell.values[c].text() if c in cell.values else "–"
                                       for c in cols)]) + " |")
        values = []
        for c in cols:
            stat = cell.values.get(c)
            values += ["" if stat is None or stat.mean is None else repr(round(stat.mean, 6)),
                       "" if stat is None or stat.std is None else repr(round(stat.std, 6))]
        writer.writerow([run.name, settings, *(cell.key[k] for k in CELL_KEYS), len(cell.seeds),
                         *values])
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.md").write_text("\n".join(md) + "\n")
    (out / "sweep.csv").write_text(buf.getvalue())
    return out / "sweep.md", out / "sweep.csv"
