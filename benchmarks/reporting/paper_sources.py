"""Committed results as record sources for ``reproduce --records``: besides run folders (their
``records/**/seed*.json``), an ``aggregate`` ``cells.csv`` or a ``results/*.md`` written from
records (its "## Cells" table, one row per cell with the mean over its seeds, and its
"### attack / defense / seed N" provenance sections). Each cell becomes one pseudo-record
(``_n`` = seeds averaged) that names the file and, where the file gives it, the commit."""
from __future__ import annotations

import csv
import re
from pathlib import Path

STAGES = ("before", "after")


def _number(text: str) -> float | None:
    try:
        return float(text.split("±")[0].strip())
    except ValueError:
        return None


def _pseudo(row: dict, source: str, commits: dict) -> dict:
    record = {"status": "ok", "task": row["task"], "dataset": row["dataset"],
              "model": row["model"], "attack": row["attack"], "defense": row["defense"],
              "seed": f"mean of {row.get('n') or '?'}", "_n": int(float(row.get("n") or 1)),
              "before": {}, "after": {}, "timings_s": {}, "_path": source}
    for column, value in row.items():
        parts = column.replace(".mean", "").split()
        if len(parts) == 2 and parts[1] in STAGES and "(paper)" not in column:
            number = _number(value or "")
            if number is not None:
                record[parts[1]][parts[0]] = number
        elif column in ("after.asr.mean",) or column.endswith(".mean"):
            stage, metric = column[:-len(".mean")].split(".", 1)
            number = _number(value or "")
            if number is not None and stage in (*STAGES, "timings_s"):
                record[stage][metric] = number
    if "defense s" in row and _number(row["defense s"]) is not None:
        record["timings_s"]["defense"] = _number(row["defense s"])
    found = commits.get((row["attack"], row["defense"]))
    if found:
        record["git"] = {"commit": found[0]}
        record["created"] = found[1]
    return record


def _markdown_cells(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    try:
        start = lines.index("## Cells")
    except ValueError:
        return []
    table = [l for l in lines[start + 1:] if l.startswith("|")]
    rows = []
    for i, line in enumerate(table):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if i == 0:
            head = cells
        elif i > 1:
            if len(cells) != len(head):
                break
            rows.append(dict(zip(head, cells)))
    return rows


def _markdown_commits(path: Path) -> dict:
    """(attack, defense) -> (commit, created) from the provenance sections."""
    out, current = {}, None
    for line in path.read_text().splitlines():
        head = re.match(r"^### (\S+) / (\S+) / seed \d+", line)
        if head:
            current = (head.group(1), head.group(2))
            continue
        if current:
            git = re.match(r"^- git: ([0-9a-f]{7,40})", line)
            created = re.match(r"^- created: (\S+);", line)
            if created:
                out.setdefault(current, ["", ""])[1] = created.group(1)
            if git:
                out.setdefault(current, ["", ""])[0] = git.group(1)
    return {k: tuple(v) for k, v in out.items()}


def table_records(path: Path) -> list[dict]:
    """Pseudo-records of a ``cells.csv`` or a results markdown file (see the module doc)."""
    path = Path(path)
    if path.suffix == ".csv":
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        commits = {}
    else:
        rows, commits = _markdown_cells(path), _markdown_commits(path)
    return [_pseudo(row, str(path), commits) for row in rows
            if all(k in row for k in ("task", "dataset", "model", "attack", "defense"))]
