"""Aggregate a run's records: mean ± std over seeds per (task, dataset, model, attack, defense),
the paper's "Avg. drop" per defense, and the paper's numbers beside ours.

    python benchmarks/run.py aggregate RUN_DIR [--out DIR]

writes ``DIR/aggregate.md`` and ``DIR/cells.csv``, ``DIR/avg_drop.csv``, ``DIR/reference.csv``
(default ``DIR`` = ``RUN_DIR/tables``). Std is the sample standard deviation (ddof 1); with a
single seed it is left empty. ``attack_train`` time is averaged over the seeds whose
backdoored model was trained in that run (a model loaded from the cache took no training).
"""
from __future__ import annotations

import csv
import io
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .reference import REFERENCE_DIR, ReferenceTable, load_references, matches
from .summary import load_records

CELL_KEYS = ("task", "dataset", "model", "attack", "defense")
GROUP_KEYS = ("task", "dataset", "model", "defense")
TIME_KEYS = ("defense", "attack_train", "eval")
DEFAULT_HIGHER = {"clean_acc": True, "asr": False, "lcr": True}
DEFAULT_PRIMARY = "clean_acc"      # records written before they carried ``primary_metric``


@dataclass
class Stat:
    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable[Any]) -> "Stat":
        vals = [float(v) for v in values
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
        if not vals:
            return cls(None, None, 0)
        return cls(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None,
                   len(vals))

    def text(self, digits: int = 2) -> str:
        if self.mean is None:
            return "–"
        if self.std is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


@dataclass
class CellStats:
    key: dict[str, str]
    seeds: list[int]
    values: dict[str, Stat]                       # "before.asr", "timings_s.defense", …
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    hardware: str = ""
    primary_metric: str = DEFAULT_PRIMARY    # the task's headline clean metric (mAP, BLEU, ACC)

    def attack_metrics(self) -> list[str]:
        """Metrics of this cell where lower is better (ASR and the like), in record order."""
        names = [n.split(".", 1)[1] for n in self.values if n.startswith("before.")]
        return [n for n in names if self.higher_is_better.get(n) is False]

    def mean(self, name: str) -> float | None:
        stat = self.values.get(name)
        return stat.mean if stat else None


def key_of(record: dict, keys: tuple[str, ...] = CELL_KEYS) -> tuple[str, ...]:
    return tuple(str(record.get(k)) for k in keys)


#: metric stages of a record; ``after_ra`` (after the Retuning Attack, benchmarks/
#: post_purification.py) only where some record of the run has it
STAGES = ("before", "after", "after_ra")


def record_stages(records: list[dict]) -> tuple[str, ...]:
    return tuple(s for s in STAGES if s != "after_ra" or any(s in r for r in records))


def metric_names(records: list[dict]) -> list[str]:
    names: list[str] = []
    for record in records:
        for stage in ("before", "after"):
            for name in record.get(stage, {}):
                if name not in names:
                    names.append(name)
    return names


def _hardware(record: dict) -> str:
    hw = record.get("hardware", {})
    return hw.get("gpu") or f"{hw.get('device')} ({hw.get('cpu_count')} CPUs)"


def aggregate_records(records: list[dict]) -> list[CellStats]:
    """One ``CellStats`` per cell key, over its seeds (ok records only)."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for record in records:
        if record.get("status") == "ok":
            groups.setdefault(key_of(record), []).append(record)
    metrics = metric_names([r for rs in groups.values() for r in rs])
    stages = record_stages([r for rs in groups.values() for r in rs])
    cells = []
    for key, rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r.get("seed", 0))
        values = {}
        for stage in stages:
            for name in metrics:
                values[f"{stage}.{name}"] = Stat.of(r.get(stage, {}).get(name) for r in rs)
        for name in dict.fromkeys(n for r in rs for n in r.get("after_qra", {})):   # QRA probe
            values[f"after_qra.{name}"] = Stat.of(r.get("after_qra", {}).get(name) for r in rs)
        for name in TIME_KEYS + (("ra",) if "after_ra" in stages else ()):
            pick = rs if name != "attack_train" else [
                r for r in rs if not r.get("model_cache", {}).get("cache_hit")]
            values[f"timings_s.{name}"] = Stat.of(r.get("timings_s", {}).get(name) for r in pick)
        higher = dict(DEFAULT_HIGHER)
        for r in rs:
            higher.update(r.get("higher_is_better", {}))
        primary = next((r["primary_metric"] for r in rs if r.get("primary_metric")),
                       DEFAULT_PRIMARY)
        cells.append(CellStats(dict(zip(CELL_KEYS, key)), [r.get("seed") for r in rs], values,
                               higher, "; ".join(sorted({_hardware(r) for r in rs})), primary))
    return cells


def avg_drop(cells: list[CellStats]) -> list[dict]:
    """Per (task, dataset, model, defense): mean over attacks of (before − after) of each
    metric's per-cell mean (the paper's "Avg. drop")."""
    groups: dict[tuple[str, ...], list[CellStats]] = {}
    for cell in cells:
        groups.setdefault(tuple(cell.key[k] for k in GROUP_KEYS), []).append(cell)
    rows = []
    for key, members in sorted(groups.items()):
        metrics = sorted({n.split(".", 1)[1] for c in members for n in c.values
                          if n.startswith("before.")})
        drops = {}
        for name in metrics:
            diffs = [c.mean(f"before.{name}") - c.mean(f"after.{name}") for c in members
                     if c.mean(f"before.{name}") is not None and c.mean(f"after.{name}") is not None]
            drops[name] = statistics.fmean(diffs) if diffs else None
        rows.append({**dict(zip(GROUP_KEYS, key)), "attacks": [c.key["attack"] for c in members],
                     "drop": drops})
    return rows


def runtime_rows(cells: list[CellStats], tables: list[ReferenceTable]) -> list[dict]:
    """The shape of paper Table 6: per (task, dataset, model, defense), the defense's wall time
    as mean ± std over every ok record of every attack, with the paper's figure where a
    reference entry applies to those cells."""
    groups: dict[tuple[str, ...], list[CellStats]] = {}
    for cell in cells:
        groups.setdefault(tuple(cell.key[k] for k in GROUP_KEYS), []).append(cell)
    rows = []
    for key, members in sorted(groups.items()):
        times = [c.values.get("timings_s.defense") for c in members]
        # re-expand per-cell means into one pooled mean weighted by seeds; std over cell means
        pooled = [(t.mean, t.n) for t in times if t is not None and t.mean is not None]
        if not pooled:
            continue
        total = sum(n for _, n in pooled)
        mean = sum(m * n for m, n in pooled) / total
        spread = Stat.of(m for m, _ in pooled).std
        group = {**dict(zip(GROUP_KEYS, key)), "attack": None}
        paper = next((e.value for t in tables for e in t.entries
                      if e.attack is None and f"{e.stage}.{e.metric}" == "timings_s.defense"
                      and matches(e, group)), None)
        primary = members[0].primary_metric
        after = [c.mean(f"after.{primary}") for c in members]
        after = [a for a in after if a is not None]
        rows.append({**dict(zip(GROUP_KEYS, key)), "attacks": [c.key["attack"] for c in members],
                     "records": total, "mean": mean, "std": spread, "paper": paper,
                     "primary_metric": primary,
                     "primary_after": statistics.fmean(after) if after else None,
                     "hardware": "; ".join(sorted({c.hardware for c in members}))})
    return rows


def reference_rows(cells: list[CellStats], tables: list[ReferenceTable]) -> list[dict]:
    """Each reference entry that applies to at least one of our cells, with our mean beside it
    (over every matching cell when the entry leaves the attack open)."""
    rows = []
    for table in tables:
        for entry in table.entries:
            hits = [c for c in cells if matches(entry, c.key)]
            name = f"{entry.stage}.{entry.metric}"
            ours = [c.mean(name) for c in hits if c.mean(name) is not None]
            if not hits:
                continue
            rows.append({"file": table.file, "table": table.table, "source": table.source,
                         "checked": table.checked_against_paper, "entry": entry,
                         "paper_hardware": table.hardware, "paper": entry.value,
                         "ours": statistics.fmean(ours) if ours else None, "cells": len(ours),
                         "our_hardware": "; ".join(sorted({c.hardware for c in hits}))})
    return rows


def _paper_columns(cells: list[CellStats], tables: list[ReferenceTable]) -> list[str]:
    names = []
    for table in tables:
        for entry in table.entries:
            name = f"{entry.stage}.{entry.metric}"
            if name not in names and any(matches(entry, c.key, exact_attack=True) for c in cells):
                names.append(name)
    return names


def paper_value(cell: CellStats, name: str, tables: list[ReferenceTable]) -> float | None:
    for table in tables:
        for entry in table.entries:
            if f"{entry.stage}.{entry.metric}" == name and matches(entry, cell.key, exact_attack=True):
                return entry.value
    return None


def _label(name: str) -> str:
    stage, metric = name.split(".", 1)
    return f"{metric.replace('_', ' ')} s" if stage == "timings_s" else f"{metric} {stage}"


def cell_columns(cells: list[CellStats]) -> list[str]:
    metrics = []
    for c in cells:
        for n in c.values:
            if n.startswith("before.") and n.split(".", 1)[1] not in metrics:
                metrics.append(n.split(".", 1)[1])
    ra = any(n.startswith("after_ra.") for c in cells for n in c.values)
    stages = ("before", "after", "after_ra") if ra else ("before", "after")
    cols = [f"{stage}.{m}" for m in metrics for stage in stages]
    cols += list(dict.fromkeys(n for c in cells for n in c.values if n.startswith("after_qra.")))
    return cols + [f"timings_s.{t}" for t in TIME_KEYS + (("ra",) if ra else ())]


def render_markdown(cells: list[CellStats], drops: list[dict], refs: list[dict],
                    tables: list[ReferenceTable], title: str) -> str:
    cols = cell_columns(cells)
    paper_cols = _paper_columns(cells, tables)
    head = [*CELL_KEYS, "n", *(_label(c) for c in cols), *(f"{_label(c)} (paper)" for c in paper_cols)]
    lines = [f"# {title}", "",
             "Mean ± sample std over seeds (± omitted when n = 1); metrics in percent, times in "
             "seconds (`defense s`: the defense alone; `attack train s`: seeds whose backdoored "
             "model was trained in this run, not loaded from the cache).", "",
             "## Cells", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        row = [c.key[k] for k in CELL_KEYS] + [str(len(c.seeds))]
        row += [c.values[n].text() if n in c.values else "–" for n in cols]
        row += [_num(paper_value(c, n, tables)) for n in paper_cols]
        lines.append("| " + " | ".join(row) + " |")
    if drops:
        metrics = sorted({m for d in drops for m in d["drop"]})
        head = [*GROUP_KEYS, "attacks", *(f"{m} drop" for m in metrics)]
        lines += ["", "## Avg. drop", "",
                  "Mean over attacks of (before − after) of the per-cell means, per defense: "
                  "a positive ASR drop is a removed backdoor, a positive drop of the clean metric "
                  "(accuracy, mAP, BLEU) is lost clean performance.", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for d in drops:
            lines.append("| " + " | ".join([d[k] for k in GROUP_KEYS] + [str(len(d["attacks"]))]
                                           + [_num(d["drop"].get(m)) for m in metrics]) + " |")
    runtimes = runtime_rows(cells, tables)
    if runtimes:
        head = [*GROUP_KEYS, "attacks", "records", "defense s", "defense s (paper)",
                "primary metric", "after", "hardware"]
        lines += ["", "## Runtime", "",
                  "Wall time of the defense alone, as in paper Table 6: the mean over every "
                  "record of every attack (± the std of the per-attack means). The paper's "
                  "figure, where we keep one, is from other hardware. Beside it, the task's "
                  "primary clean metric after the defense (mean over attacks).", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in runtimes:
            spread = "" if r["std"] is None else f" ± {r['std']:.2f}"
            lines.append("| " + " | ".join([r[k] for k in GROUP_KEYS] + [
                str(len(r["attacks"])), str(r["records"]), f"{r['mean']:.2f}{spread}",
                _num(r["paper"]), r["primary_metric"], _num(r["primary_after"]),
                r["hardware"]]) + " |")
    if refs:
        head = ["table", "dataset", "model", "attack", "defense", "metric", "paper", "ours",
                "our cells", "paper hardware", "our hardware", "source"]
        lines += ["", "## Beside the paper", "",
                  "Reference numbers from `benchmarks/reporting/reference/`; an open attack (`any`) is "
                  "compared with the mean over our attacks. Times on different hardware are not "
                  "comparable in absolute terms.", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in refs:
            e = r["entry"]
            lines.append("| " + " | ".join([
                r["table"], str(e.dataset or "any"), str(e.model or "any"), str(e.attack or "any"),
                str(e.defense or "any"), _label(f"{e.stage}.{e.metric}"), _num(r["paper"]),
                _num(r["ours"]), str(r["cells"]), r["paper_hardware"] or "–", r["our_hardware"],
                r["source"]]) + " |")
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def cells_csv(cells: list[CellStats], tables: list[ReferenceTable]) -> str:
    cols = cell_columns(cells)
    paper_cols = _paper_columns(cells, tables)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*CELL_KEYS, "n", "seeds", *(f"{c}.{s}" for c in cols for s in ("mean", "std")),
                     *(f"paper.{c}" for c in paper_cols)])
    for c in cells:
        row: list[Any] = [c.key[k] for k in CELL_KEYS] + [len(c.seeds),
                                                          " ".join(map(str, c.seeds))]
        for n in cols:
            stat = c.values.get(n, Stat(None, None, 0))
            row += [_csv_num(stat.mean), _csv_num(stat.std)]
        row += [_csv_num(paper_value(c, n, tables)) for n in paper_cols]
        writer.writerow(row)
    return buf.getvalue()


def _csv_num(value: float | None) -> str:
    return "" if value is None else repr(round(value, 6))


def drop_csv(drops: list[dict]) -> str:
    metrics = sorted({m for d in drops for m in d["drop"]})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*GROUP_KEYS, "attacks", *(f"{m}.drop" for m in metrics)])
    for d in drops:
        writer.writerow([d[k] for k in GROUP_KEYS] + [" ".join(d["attacks"])]
                        + [_csv_num(d["drop"].get(m)) for m in metrics])
    return buf.getvalue()


def reference_csv(refs: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["file", "table", "task", "dataset", "model", "attack", "defense", "stage",
                     "metric", "unit", "paper", "ours", "our_cells", "paper_hardware",
                     "our_hardware", "checked_against_paper", "source"])
    for r in refs:
        e = r["entry"]
        writer.writerow([r["file"], r["table"], e.task or "", e.dataset or "", e.model or "",
                         e.attack or "", e.defense or "", e.stage, e.metric, e.unit,
                         _csv_num(r["paper"]), _csv_num(r["ours"]), r["cells"],
                         r["paper_hardware"], r["our_hardware"], r["checked"], r["source"]])
    return buf.getvalue()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


@dataclass
class Aggregate:
    cells: list[CellStats]
    drops: list[dict]
    refs: list[dict]
    markdown: str
    files: list[Path]


def aggregate(run_dir: Path, out: Path | None = None,
              reference_dir: Path = REFERENCE_DIR) -> Aggregate:
    """Aggregate ``run_dir``'s records and write the tables under ``out``."""
    run_dir = Path(run_dir)
    if not (run_dir / "records").is_dir():
        raise FileNotFoundError(f"{run_dir} has no records/ folder: is it a run folder "
                                f"(python benchmarks/run.py --out {run_dir} ...)?")
    ok, _ = load_records(run_dir)
    cells = aggregate_records(ok)
    tables = load_references(reference_dir)
    drops, refs = avg_drop(cells), reference_rows(cells, tables)
    markdown = render_markdown(cells, drops, refs, tables, f"Aggregate: {run_dir}")
    out = Path(out) if out is not None else run_dir / "tables"
    files = [_write(out / "aggregate.md", markdown), _write(out / "cells.csv", cells_csv(cells, tables)),
             _write(out / "avg_drop.csv", drop_csv(drops)),
             _write(out / "reference.csv", reference_csv(refs))]
    return Aggregate(cells, drops, refs, markdown, files)


def terminal_table(cells: list[CellStats]) -> str:
    """A compact fixed-width table for the end of a matrix run."""
    cols = [c for c in cell_columns(cells) if not c.startswith("timings_s.")] + ["timings_s.defense"]
    head = ["task/dataset/model", "attack", "defense", "n", *(_label(c) for c in cols)]
    rows = [["/".join(c.key[k] for k in ("task", "dataset", "model")), c.key["attack"],
             c.key["defense"], str(len(c.seeds)),
             *(c.values[n].text() if n in c.values else "–" for n in cols)] for c in cells]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    fmt = lambda r: "  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip()   # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, rows)])
