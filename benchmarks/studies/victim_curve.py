"""Victim accuracy against training minutes, from the runner's own records.

Every victim the runner trains leaves its training wall time in the first record written after
training (``timings_s.attack_train``, with ``model_cache.cache_hit`` false); its clean accuracy and
ASR are that record's ``before`` metrics. This script collects those victims from one or more run
directories (e.g. the same preset run with ``--set train.epochs=5/10/20``) and writes a markdown
table and a PNG of clean accuracy against minutes (one point per victim, labelled with its epoch
budget). Wall times depend on what else the machine ran: the table keeps each record's git commit,
thread count and creation time so that can be checked.

    python -m benchmarks.studies.victim_curve runs/quick_airbench runs/quick_airbench_e20 \
        --out results/image_quick_airbench/victim_curve
"""
from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.reporting.summary import load_records


def trained_victims(records: list[dict]) -> list[dict]:
    """One row per victim that was trained (not loaded from the cache) in these records."""
    rows, seen = [], set()
    for record in sorted(records, key=lambda r: r.get("created", "")):
        cache = record.get("model_cache", {})
        seconds = record.get("timings_s", {}).get("attack_train", 0.0)
        if cache.get("cache_hit", True) or not seconds:
            continue
        key = cache.get("cache_key")
        if key in seen:
            continue
        seen.add(key)
        rows.append({
            "model": record["model"], "attack": record["attack"], "seed": record["seed"],
            "epochs": record["config"]["train"]["epochs"], "minutes": seconds / 60.0,
            "clean_acc": record["before"][record.get("primary_metric", "clean_acc")],
            "asr": record["before"].get("asr"),
            "threads": record.get("hardware", {}).get("torch_threads"),
            "commit": record.get("git", {}).get("commit", "")[:7],
            "created": record.get("created", ""), "cache_key": key,
        })
    return rows


def render(rows: list[dict]) -> str:
    head = ["model", "attack", "seed", "epochs", "minutes", "clean ACC", "ASR", "threads",
            "commit", "trained (record created, UTC)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rows, key=lambda r: (r["model"], r["epochs"], r["attack"])):
        asr = "–" if r["asr"] is None else f"{r['asr']:.2f}"
        lines.append(f"| {r['model']} | {r['attack']} | {r['seed']} | {r['epochs']} | "
                     f"{r['minutes']:.1f} | {r['clean_acc']:.2f} | {asr} | {r['threads']} | "
                     f"{r['commit']} | {r['created'][:16]} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> Path:
    from benchmarks.reporting.plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for attack in sorted({r["attack"] for r in rows}):
        pts = [r for r in rows if r["attack"] == attack]
        ax.scatter([r["minutes"] for r in pts], [r["clean_acc"] for r in pts], label=attack)
        for r in pts:
            ax.annotate(f"{r['epochs']} ep", (r["minutes"], r["clean_acc"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("training wall time (min)")
    ax.set_ylabel("clean accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (--out of run.py)")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix")
    args = parser.parse_args(argv)
    records = []
    for run in args.runs:
        if not (run / "records").is_dir():
            parser.error(f"{run} has no records/ folder: pass a run.py --out directory")
        records += load_records(run)[0]
    rows = trained_victims(records)
    if not rows:
        parser.error("no trained victims in these runs (every record loaded its model from the "
                     "cache); the first run of an attack records its training time")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table = render(rows)
    args.out.with_suffix(".md").write_text(table)
    print(table)
    print(plot(rows, args.out.with_suffix(".png")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
