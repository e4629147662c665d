"""Curate a run into ``results/``: its table plus the provenance of every cell.

    python -m benchmarks.reporting.export runs/smoke results/synthetic_smoke.md

The table is the run's summary; below it, per cell: the exact command, seed, git commit and
dirty flag, versions, hardware and wall time of each phase, and the resolved configs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.reporting.summary import load_records, render


def provenance(record: dict) -> str:
    t = record.get("timings_s", {})
    v, g, h = record.get("versions", {}), record.get("git", {}), record.get("hardware", {})
    lines = [
        f"### {record['attack']} / {record['defense']} / seed {record['seed']}", "",
        f"- command: `{record.get('command')}`",
        f"- created: {record.get('created')}; preset `{record.get('preset')}`",
        f"- git: {g.get('commit')} (dirty: {g.get('dirty')})",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- hardware: {h.get('device')} on {h.get('machine')}, {h.get('cpu_count')} CPUs, "
        f"{h.get('torch_threads')} torch threads" + (f", GPU {h['gpu']}" if h.get("gpu") else ""),
        f"- wall time (s): attack_train {t.get('attack_train', 0):.2f}"
        f"{' (cached model)' if record.get('model_cache', {}).get('cache_hit') else ''}, "
        f"defense {t.get('defense', 0):.2f}, eval {t.get('eval', 0):.2f}",
        f"- poison index hash: `{record.get('poison_index_hash')}`",
        "", "<details><summary>resolved config</summary>", "", "```json",
        json.dumps(record.get("config", {}), indent=1), "```", "</details>", ""]
    return "\n".join(lines)


def export(run_dir: Path, target: Path, title: str | None = None) -> Path:
    ok, errors = load_records(run_dir)
    if not ok:
        raise SystemExit(f"no finished records under {run_dir / 'records'}")
    body = render(ok, errors).replace("# Benchmark summary", f"# {title or target.stem}", 1)
    body += "\n## Provenance\n\n" + "\n".join(provenance(r) for r in ok)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Curate a run's records into a results table")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--title")
    args = parser.parse_args(argv)
    print(export(args.run_dir, args.target, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
