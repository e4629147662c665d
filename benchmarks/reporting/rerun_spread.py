"""Tolerances of a regression preset from the spread of its reruns, not guesses.

    python -m benchmarks.reporting.rerun_spread RUN_DIR RUN_DIR RUN_DIR [...] [--metrics before.asr,...]

Each RUN_DIR is one run of the same preset (e.g. with ``--seeds 1``, ``--seeds 2``, …: what a
harmless change of the random streams does to the numbers). For every cell and checked metric it
prints the range (max − min) over the runs, and per ``stage.metric`` the tolerance: the largest
range over the cells, rounded up to the next 0.5 (at least 0.5), in the preset's ``regression``
format, and per cell its own range rounded the same way (``regression.cells``: a noisy cell does
not loosen the check of the others). ``primary`` stands for each cell's task's primary metric, as in the regression check.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .aggregate import CELL_KEYS, aggregate_records
from .summary import load_records

DEFAULT_METRICS = ("before.primary", "before.asr", "after.primary", "after.asr")


def cell_means(run_dir: Path) -> dict[tuple, dict]:
    ok, _ = load_records(run_dir)
    out = {}
    for cell in aggregate_records(ok):
        values = {name: stat.mean for name, stat in cell.values.items() if stat.mean is not None}
        values["_primary"] = cell.primary_metric
        out[tuple(cell.key[k] for k in CELL_KEYS)] = values
    return out


def spread(runs: list[Path], metrics: tuple[str, ...] = DEFAULT_METRICS) -> tuple[list, dict]:
    """(rows of cell, metric, values, range) and {stage: {metric: tolerance}}."""
    tables = [cell_means(r) for r in runs]
    cells = sorted(set.intersection(*(set(t) for t in tables)))
    rows, worst, per_cell = [], {}, {}
    for key in cells:
        for name in metrics:
            stage, metric = name.split(".", 1)
            real = tables[0][key]["_primary"] if metric == "primary" else metric
            values = [t[key].get(f"{stage}.{real}") for t in tables]
            if any(v is None for v in values):
                continue
            width = max(values) - min(values)
            rows.append(("/".join(key), f"{stage}.{real}", values, width))
            worst[name] = max(worst.get(name, 0.0), width)
            per_cell.setdefault("/".join(key), {}).setdefault(stage, {})[metric] = _round(width)
    tolerances: dict = {}
    for name, width in worst.items():
        stage, metric = name.split(".", 1)
        tolerances.setdefault(stage, {})[metric] = _round(width)
    if per_cell:
        tolerances["cells"] = per_cell
    return rows, tolerances


def _round(width: float) -> float:
    """Up to the next 0.5, at least 0.5."""
    return max(0.5, math.ceil(width * 2 - 1e-9) / 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reporting.rerun_spread",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS))
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        print("error: give at least two run folders (three or more for a spread)", file=sys.stderr)
        return 2
    rows, tolerances = spread(args.runs, tuple(args.metrics.split(",")))
    print("| cell | metric | " + " | ".join(r.name for r in args.runs) + " | range |")
    print("|---|---|" + "---|" * len(args.runs) + "---|")
    for cell, metric, values, width in rows:
        print(f"| {cell} | {metric} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {width:.2f} |")
    print("\nregression:")
    for stage, metrics in tolerances.items():
        if stage != "cells":
            print(f"  {stage}: {{" + ", ".join(f"{m}: {v}" for m, v in metrics.items()) + "}")
    if tolerances.get("cells"):
        print("  cells:")
    for cell, block in tolerances.get("cells", {}).items():
        print(f"    {cell}: {{" + ", ".join(f"{s}: {{" + ", ".join(f"{m}: {v}" for m, v in ms.items())
                                            + "}" for s, ms in block.items()) + "}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
