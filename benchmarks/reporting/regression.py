"""Nightly regression check: compare a run's per-cell means with a baseline.

    python benchmarks/run.py --preset nightly --compare-to BASELINE --fail-on-regression
    python benchmarks/run.py compare RUN_DIR --baseline BASELINE [--tolerance after.asr=2]

``BASELINE`` is a run folder (its records are aggregated), a folder holding ``cells.csv`` (or
``tables/cells.csv``), or such a CSV written by ``aggregate``. Tolerances come from the
preset's ``regression`` block, then ``--tolerance stage.metric=VALUE`` flags; a number is
absolute (metric units: percentage points, seconds), ``"N%"`` is relative to the baseline value.
Only metrics with a tolerance are checked; the metric name ``primary`` means each cell's task's
``primary_metric`` (the default tolerances: ``after.primary`` 1 point, ``after.asr`` 2 points,
so image accuracy, detection mAP and text BLEU are all checked). A metric is worse when it moves against its
direction (``higher_is_better`` in the records; times: lower is better) by more than its
tolerance. A baseline cell with no finished record in this run counts as a regression.
With ``--fail-on-regression`` the exit code is ``EXIT_REGRESSION`` (3) when anything regressed.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from core.config import ConfigError, set_dotted

from .aggregate import CELL_KEYS, DEFAULT_HIGHER, CellStats, aggregate_records
from .summary import load_records

EXIT_REGRESSION = 3
#: ``primary`` stands for each cell's own ``primary_metric`` (clean_acc, mAP, BLEU, …)
PRIMARY = "primary"
DEFAULT_TOLERANCES = {"after": {PRIMARY: 1.0, "asr": 2.0}}

Key = tuple[str, ...]


@dataclass
class Finding:
    cell: Key
    metric: str            # "after.asr", "timings_s.defense", or "" for a missing cell
    baseline: float | None
    current: float | None
    allowed: float | None
    tolerance: str = ""

    def line(self) -> str:
        where = "/".join(self.cell)
        if not self.metric:
            return f"MISSING    {where}: in the baseline, no finished record in this run"
        delta = self.current - self.baseline
        return (f"REGRESSED  {where}  {self.metric}: {self.baseline:.2f} → {self.current:.2f} "
                f"({delta:+.2f}; tolerance {self.tolerance} = {self.allowed:.2f})")


@dataclass
class Report:
    baseline: str
    checked: int = 0
    cells: int = 0
    regressions: list[Finding] = field(default_factory=list)
    new_cells: list[Key] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.regressions)

    def render(self) -> str:
        head = (f"Regression check against {self.baseline}: {self.checked} value(s) in "
                f"{self.cells} cell(s) checked; "
                + (f"{len(self.regressions)} regression(s)." if self.regressions
                   else "no regression."))
        lines = [head, *(f.line() for f in self.regressions)]
        lines += [f"new        {'/'.join(k)}: not in the baseline (not checked)"
                  for k in self.new_cells]
        lines += [f"skipped    {s}" for s in self.skipped]
        return "\n".join(lines) + "\n"


STAGES = ("before", "after", "timings_s")
#: ``regression.cells``: per-cell tolerances {"task/dataset/model/attack/defense": {stage: {...}}}
#: that replace the stage-wide ones for that cell (a noisy cell need not loosen every other)
CELLS = "cells"


def parse_tolerance(value: Any, where: str) -> tuple[float, bool]:
    """``2.0`` → (2.0, absolute); ``"25%"`` → (25.0, relative)."""
    relative = isinstance(value, str) and value.strip().endswith("%")
    raw = value.strip()[:-1] if relative else value
    if isinstance(raw, bool):
        raise ConfigError(f"{where}: expected a number or 'N%', got {value!r}")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number or 'N%', got {value!r}") from None
    if number < 0:
        raise ConfigError(f"{where}: a tolerance must be ≥ 0, got {value!r}")
    return number, relative


def check_tolerances(tolerances: Mapping[str, Any]) -> None:
    for stage, metrics in tolerances.items():
        if stage == CELLS:
            if not isinstance(metrics, Mapping):
                raise ConfigError("regression.cells must map task/dataset/model/attack/defense to "
                                  "{stage: {metric: tolerance}}")
            for cell, block in metrics.items():
                if str(cell).count("/") != len(CELL_KEYS) - 1 or not isinstance(block, Mapping):
                    raise ConfigError(f"regression.cells: {cell!r} is not task/dataset/model/"
                                      f"attack/defense with a {{stage: {{metric: tolerance}}}}")
                if CELLS in block:
                    raise ConfigError(f"regression.cells.{cell}: cells do not nest")
                check_tolerances(block)
            continue
        if stage not in STAGES:
            raise ConfigError(f"regression: unknown stage {stage!r}; use one of {', '.join(STAGES)}"
                              f" (e.g. regression.after.asr=2.0)")
        if not isinstance(metrics, Mapping):
            raise ConfigError(f"regression.{stage} must map metric names to tolerances")
        for metric, value in metrics.items():
            parse_tolerance(value, f"regression.{stage}.{metric}")


def tolerances_from(preset_block: Mapping[str, Any] | None, flags: list[str] | None) -> dict:
    """The preset's ``regression`` block (or the defaults when it has none), then the flags."""
    import yaml

    merged: dict = {s: dict(m) for s, m in (preset_block or DEFAULT_TOLERANCES).items()}
    if CELLS in merged:     # cells keep their own (deep) blocks
        merged[CELLS] = {k: {s: dict(m) for s, m in v.items()} for k, v in merged[CELLS].items()}
    for item in flags or []:
        key, sep, raw = item.partition("=")
        if not sep or key.count(".") != 1:
            raise ValueError(f"--tolerance expects stage.metric=VALUE (e.g. after.asr=2 or "
                             f"timings_s.defense=50%), got {item!r}")
        set_dotted(merged, key.strip(), yaml.safe_load(raw))
    check_tolerances(merged)
    return merged


def load_baseline(path: Path) -> dict[Key, dict[str, float]]:
    """Per-cell means of a baseline run folder or ``cells.csv``."""
    path = Path(path)
    if path.is_dir():
        if (path / "records").is_dir():
            ok, _ = load_records(path)
            return {tuple(c.key[k] for k in CELL_KEYS): {n: s.mean for n, s in c.values.items()
                                                         if s.mean is not None}
                    for c in aggregate_records(ok)}
        for candidate in (path / "cells.csv", path / "tables" / "cells.csv"):
            if candidate.is_file():
                path = candidate
                break
        else:
            raise FileNotFoundError(f"baseline {path} holds neither records/ nor cells.csv")
    if not path.is_file():
        raise FileNotFoundError(f"baseline not found: {path}")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [k for k in CELL_KEYS if k not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} is not a cells.csv from `aggregate`: no column(s) {missing}")
        out: dict[Key, dict[str, float]] = {}
        for row in reader:
            values = {col[:-len(".mean")]: float(v) for col, v in row.items()
                      if col.endswith(".mean") and v not in (None, "")}
            out[tuple(row[k] for k in CELL_KEYS)] = values
    return out


def compare(cells: list[CellStats], baseline: dict[Key, dict[str, float]],
            tolerances: Mapping[str, Mapping[str, Any]], baseline_name: str = "baseline") -> Report:
    report = Report(baseline_name)
    current = {tuple(c.key[k] for k in CELL_KEYS): c for c in cells}
    report.new_cells = sorted(set(current) - set(baseline))
    for key, base_values in sorted(baseline.items()):
        cell = current.get(key)
        if cell is None:
            report.regressions.append(Finding(key, "", None, None, None))
            continue
        report.cells += 1
        own = (tolerances.get(CELLS) or {}).get("/".join(key), {})
        stages = {s: dict(m) for s, m in tolerances.items() if s != CELLS}
        for stage, metrics in own.items():
            stages.setdefault(stage, {}).update(metrics)
        for stage, metrics in stages.items():
            for metric, tol in metrics.items():
                if metric == PRIMARY:
                    metric = cell.primary_metric
                name = f"{stage}.{metric}"
                base, now = base_values.get(name), cell.mean(name)
                if base is None or now is None:
                    report.skipped.append(f"{'/'.join(key)} {name}: "
                                          f"{'no baseline value' if base is None else 'no value in this run'}")
                    continue
                if stage == "timings_s":
                    higher = False
                else:
                    higher = cell.higher_is_better.get(metric, DEFAULT_HIGHER.get(metric))
                    if higher is None:
                        report.skipped.append(f"{'/'.join(key)} {name}: direction unknown")
                        continue
                amount, relative = parse_tolerance(tol, name)
                allowed = amount / 100.0 * abs(base) if relative else amount
                worse = (base - now) if higher else (now - base)
                report.checked += 1
                if worse > allowed + 1e-9:
                    report.regressions.append(Finding(key, name, base, now, allowed, str(tol)))
    return report


def check(run_dir: Path, baseline: Path, tolerances: Mapping[str, Any]) -> Report:
    """Compare ``run_dir`` with ``baseline`` and write ``run_dir/regression.md``."""
    ok, _ = load_records(run_dir)
    report = compare(aggregate_records(ok), load_baseline(baseline), tolerances, str(baseline))
    target = Path(run_dir) / "regression.md"
    target.write_text("```\n" + report.render() + "```\n")
    return report
