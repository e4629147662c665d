"""``python benchmarks/run.py reproduce``: the paper's tables by one command.

    python benchmarks/run.py reproduce --list [--data-root DIR]
    python benchmarks/run.py reproduce TABLE [TABLE ...] [--data-root DIR] [--out DIR]
    python benchmarks/run.py reproduce table1 --scale quick --render-only \
        --records results/image_quick_airbench          # today's CPU cells, "–" elsewhere
    python benchmarks/run.py reproduce TABLE --smoke --data-root TINY_COPY   # 1-2 steps per phase

TABLE is a table id of ``benchmarks/runner/reproduce_specs/tables.yaml`` (``main1_cifar10``, ``supp9``,
…), an alias (``table1`` = both halves of main Table 1) or ``all``. Each table's runs are
matrices like any other (resumed: finished cells are skipped; backdoored models cached in
``OUT/cache/models`` and shared by every run); then the table is written in the paper's layout to
``OUT/tables/TABLE.md`` (each cell "ours (paper) difference") with ``TABLE.provenance.csv`` (the
run, preset, seeds, record files and commit behind every cell).
Exit codes as ``run.py``: 0 done, 1 some cell failed, 2 bad input, 130 interrupted.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from core.config import ConfigError

from .paper_tables import (COLUMN_METRIC, LABELS, PaperCell, load_specs, ours, paper_cells, resolve_run,
                           run_records, table_ids)
from .reproduce_cost import cost_lines, data_status
from .reproduce_smoke import smoke_assignments, smoke_matrices

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run.py reproduce", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", nargs="*", help="table ids, aliases (table1) or 'all'")
    parser.add_argument("--list", action="store_true", help="tables, presets, data, cells, cost")
    parser.add_argument("--scale", choices=("paper", "quick"), default="paper",
                        help="paper: the paper-scale presets (GPU); quick: the CPU stand-ins")
    parser.add_argument("--smoke", action="store_true",
                        help="1-2 optimisation steps per phase at the paper's model size, on the "
                             "CPU (on a tiny official-layout copy: --data-root)")
    parser.add_argument("--render-only", action="store_true", help="write the tables, run nothing")
    parser.add_argument("--records", type=Path, action="append", default=[],
                        help="also read finished records from this folder (repeatable)")
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--out", type=Path, help="default runs/reproduce/<scale or smoke>")
    parser.add_argument("--device", help="override the presets' device")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--write-costs", type=Path, metavar="SMOKE_OUT",
                        help="measure seconds per training sample from a --smoke run's records "
                             "into reproduce_specs/step_costs.yaml")
    args = parser.parse_args(argv)
    args.argv = list(argv)
    if not args.list and not args.tables and not args.write_costs:
        parser.error("name a table (or 'all'), or give --list")
    return args


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def cell_text(paper: float, mine: float | None, reason: str) -> str:
    if mine is None:
        return f"– ({_fmt(paper)})" if not reason else f"n/a ({_fmt(paper)})"
    return f"{_fmt(mine)} ({_fmt(paper)}) {mine - paper:+.2f}"


class Reproduction:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.specs = load_specs()
        self.mode = "smoke" if args.smoke else args.scale
        self.out = args.out or Path("runs") / "reproduce" / self.mode
        self._presets: dict[str, object] = {}
        self.command = "python benchmarks/run.py reproduce " + " ".join(args.argv)

    def preset(self, run: str):
        if run not in self._presets:
            extra = smoke_assignments(self.specs, run) if self.args.smoke else []
            if self.args.device:
                extra = [*extra, ("device", self.args.device)]
            self._presets[run] = resolve_run(self.specs, run, self.args.scale, extra)
        return self._presets[run]

    def run_sets(self, run: str) -> dict:
        """The run's own overrides (what tells its records from another run's of one preset)."""
        from .paper_tables import RunSpec

        chain, name = [], run
        while name is not None:
            spec: RunSpec = self.specs.runs[name]
            chain.append(spec)
            name = spec.extends
        merged: dict = {}
        for spec in reversed(chain):
            merged.update(spec.set)
        return merged

    # -- running ---------------------------------------------------------------------------------
    def execute(self, runs: list[str]) -> int:
        from .matrix import MatrixRunner
        from benchmarks.reporting.summary import write_summary

        runners = []
        for run in runs:                    # every run resolved and validated before any trains
            preset = self.preset(run)
            if preset is None:
                print(f"run {run}: no CPU stand-in at --scale {self.args.scale}; its cells stay '–'")
                continue
            parts = [preset]
            if self.args.smoke:
                whole = MatrixRunner(preset, self.out / "runs" / run, None, progress=False)
                whole.validate()            # which defenses the task refuses
                parts = smoke_matrices(preset, set(whole.unsupported),
                                       variant=self.specs.runs[run].extends is not None)
            for part in parts:
                runner = MatrixRunner(part, self.out / "runs" / run, self.args.data_root,
                                      self.out / "cache" / "models",
                                      progress=not self.args.no_progress, command=self.command)
                runner.validate()
                runners.append((run, runner))
        code = EXIT_OK
        for i, (run, runner) in enumerate(runners, 1):
            print(f"== {i}/{len(runners)}: run {run} (preset {runner.preset.name}, "
                  f"{'/'.join(runner.preset.attacks)} x {','.join(runner.preset.defenses)}) "
                  f"-> {runner.out}", flush=True)
            try:
                outcome = runner.run()
            except KeyboardInterrupt:
                print("\ninterrupted: finished cells are kept; run the same command again",
                      file=sys.stderr)
                return EXIT_INTERRUPTED
            write_summary(runner.out)
            if outcome.errors:
                code = EXIT_FAILED
        return code

    # -- tables ----------------------------------------------------------------------------------
    def cells_with_ours(self, table: str) -> list[tuple[PaperCell, object]]:
        out = []
        cache: dict[str, list] = {}
        for cell in paper_cells(self.specs, table):
            if cell.run is None:
                out.append((cell, None))
                continue
            preset = self.preset(cell.run)
            if preset is None:
                cell.reason = f"run {cell.run} has no CPU stand-in at --scale {self.args.scale}"
                out.append((cell, None))
                continue
            if cell.run not in cache:
                dirs = [self.out / "runs" / cell.run, *self.args.records]
                cache[cell.run] = run_records(preset, [d for d in dirs if d.exists()],
                                              {} if self.args.smoke else self.run_sets(cell.run))
            out.append((cell, ours(cell, cache[cell.run], self.specs.names)))
        return out

    def render(self, table: str) -> tuple[str, int, int]:
        spec = self.specs.tables[table]
        pairs = self.cells_with_ours(table)
        rows = list(dict.fromkeys(c.row for c, _ in pairs))
        key = lambda c: (c.row, c.column, COLUMN_METRIC.get(c.metric, c.metric))   # noqa: E731
        columns = list(dict.fromkeys(key(c)[1:] for c, _ in pairs))
        grid = {key(c): (c, o) for c, o in pairs}
        first = {}
        for c, _ in pairs:
            first.setdefault(key(c)[1:], c.metric)
        head = [" / ".join(spec.rows)] + [f"{col} {LABELS.get(first[(col, m)], m)}"
                                          for col, m in columns]
        lines = [f"# {spec.title}", "",
                 f"Paper layout (rows and columns as printed); each cell: ours (paper) ours − paper. "
                 f"Mode: {self.mode}; records: {self.out / 'runs'}"
                 + "".join(f", {d}" for d in self.args.records) + ". "
                 "'–': not run yet; 'n/a': the suite cannot produce it (reasons below).", "",
                 "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        done = 0
        for row in rows:
            texts = [row]
            for col, metric in columns:
                if (row, col, metric) not in grid:
                    texts.append("")
                    continue
                cell, mine = grid[(row, col, metric)]
                value = getattr(mine, "value", None)
                done += value is not None
                texts.append(cell_text(cell.paper, value, cell.reason))
            lines.append("| " + " | ".join(texts) + " |")
        reasons = sorted({c.reason for c, _ in pairs if c.reason})
        if reasons:
            lines += ["", "Not produced:"] + [f"- {r}" for r in reasons]
        if self.args.smoke:
            lines += ["", "SMOKE MODE: 1-2 optimisation steps per phase on a tiny copy of the data; "
                      "the numbers only show that every path ran."]
        self.out.joinpath("tables").mkdir(parents=True, exist_ok=True)
        (self.out / "tables" / f"{table}.md").write_text("\n".join(lines) + "\n")
        self.write_provenance(table, pairs)
        return "\n".join(lines), done, len(pairs)

    def write_provenance(self, table: str, pairs: list) -> None:
        path = self.out / "tables" / f"{table}.provenance.csv"
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["table", "row", "column", "metric", "paper", "ours", "seeds", "run",
                             "preset", "records", "git_commit", "created", "reason", "paper_note"])
            for cell, mine in pairs:
                records = getattr(mine, "records", []) or []
                preset = self.preset(cell.run) if cell.run else None
                commits = sorted({str((r.get("git") or {}).get("commit", "?"))[:12] for r in records})
                writer.writerow([table, cell.row, cell.column, cell.metric, cell.paper,
                                 "" if mine is None or mine.value is None else f"{mine.value:.4f}",
                                 getattr(mine, "seeds", 0), cell.run or "",
                                 getattr(preset, "name", ""), ";".join(r["_path"] for r in records),
                                 ";".join(commits), ";".join(sorted({r.get("created", "") for r in records})),
                                 cell.reason or getattr(mine, "reason", ""), cell.csv.get("note", "")])

    # -- --list ----------------------------------------------------------------------------------
    def listing(self) -> str:
        lines = [f"Tables of the paper the suite can run ({len(self.specs.tables)}); cells done / "
                 f"total from {self.out / 'runs'}; cost: see the footnote.", ""]
        for table, spec in self.specs.tables.items():
            pairs = self.cells_with_ours(table)
            runs = list(dict.fromkeys(c.run for c, _ in pairs if c.run))
            presets = list(dict.fromkeys(p.name for p in map(self.preset, runs) if p is not None))
            done = sum(1 for _, o in pairs if getattr(o, "value", None) is not None)
            runnable = sum(1 for c, _ in pairs if c.run)
            lines.append(f"{table}: {spec.title}")
            lines.append(f"  presets: {', '.join(presets) or '–'} ({len(runs)} run(s): "
                         f"{', '.join(runs[:6])}{' …' if len(runs) > 6 else ''})")
            lines.append(f"  data: {data_status([p for p in map(self.preset, runs) if p], self.args.data_root)}")
            lines.append(f"  cells: {done} done / {runnable} runnable / {len(pairs)} printed")
            lines.append(f"  cost: {cost_lines(self.specs, [p for p in map(self.preset, runs) if p])}")
            reasons = sorted({c.reason for c, _ in pairs if c.reason})
            lines += [f"  MISSING: {r} ({sum(1 for c, _ in pairs if c.reason == r)} cells)" for r in reasons]
        from .reproduce_cost import COST_NOTE

        return "\n".join(lines + ["", COST_NOTE()])


def yaml_dump(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=True)


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        job = Reproduction(args)
        if args.write_costs:
            from .reproduce_cost import write_costs

            data = write_costs(args.write_costs, "python benchmarks/run.py reproduce " + " ".join(argv))
            print(yaml_dump(data))
            return EXIT_OK
        if args.list:
            print(job.listing())
            return EXIT_OK
        tables = table_ids(job.specs, args.tables)
        runs = list(dict.fromkeys(c.run for t in tables for c in paper_cells(job.specs, t) if c.run))
        code = EXIT_OK if args.render_only else job.execute(runs)
        if code == EXIT_INTERRUPTED:
            return code
        for table in tables:
            text, done, total = job.render(table)
            print(text + f"\n\n{done} / {total} cells have our number; "
                  f"{job.out / 'tables' / (table + '.md')}\n")
        return code
    except (ConfigError, ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
