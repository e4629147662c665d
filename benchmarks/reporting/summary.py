"""``summary.md``: one table row per finished cell, the cells whose defense cannot serve the
task (``unsupported``, with the reason) and a list of failed cells."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_records(out: Path) -> tuple[list[dict], list[dict]]:
    """(records with status ok, every other record: errors and unsupported cells)."""
    ok, errors = [], []
    for path in sorted((Path(out) / "records").rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        record["_path"] = str(path.relative_to(out))
        (ok if record.get("status") == "ok" else errors).append(record)
    return ok, errors


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "–"


def render(ok: list[dict], errors: list[dict]) -> str:
    metrics: list[str] = []
    for record in ok:
        for name in list(record.get("before", {})) + list(record.get("after", {})):
            if name not in metrics:
                metrics.append(name)
    head = ["task", "dataset", "model", "attack", "defense", "seed"]
    for name in metrics:
        head += [f"{name} before", f"{name} after"]
    head += ["defense s", "attack train s"]
    lines = ["# Benchmark summary", "",
             "Metrics in percent; `defense s` is the defense's own wall time.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    key = lambda r: (r["task"], r["dataset"], r["model"], r["attack"], r["defense"], r["seed"])
    for r in sorted(ok, key=key):
        row = [r["task"], r["dataset"], r["model"], r["attack"], r["defense"], str(r["seed"])]
        for name in metrics:
            row += [_fmt(r["before"].get(name)), _fmt(r["after"].get(name))]
        timings = r.get("timings_s", {})
        row += [_fmt(timings.get("defense")), _fmt(timings.get("attack_train"))]
        lines.append("| " + " | ".join(row) + " |")
    refused = [r for r in errors if r.get("status") == "unsupported"]
    failed = [r for r in errors if r.get("status") != "unsupported"]
    if refused:
        lines += ["", "## Unsupported cells (the defense cannot serve this task)", ""]
        for r in refused:
            lines.append(f"- {r.get('attack')}/{r.get('defense')}/seed{r.get('seed')}: "
                         f"{r.get('reason')}")
    if failed:
        lines += ["", "## Failed cells", ""]
        for r in failed:
            err = r.get("error", {})
            lines.append(f"- {r.get('attack')}/{r.get('defense')}/seed{r.get('seed')} "
                         f"({r.get('phase')}): {err.get('type')}: {err.get('message')} "
                         f"— `{r['_path']}`")
    return "\n".join(lines) + "\n"


def write_summary(out: Path) -> Path:
    ok, errors = load_records(out)
    path = Path(out) / "summary.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(render(ok, errors))
    tmp.replace(path)
    return path
