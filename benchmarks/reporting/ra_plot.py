"""Figure of post-purification robustness: per defense, the attack metric (ASR) before the
defense → after it → after the Retuning Attack (``benchmarks/runner/post_purification.py``), one panel
per attack, with the two reference rows dashed (RA on a clean model: the backdoor implanted
fresh; RA on the backdoored model). ``python benchmarks/run.py plot RUN_DIR`` draws it when the
run's records carry ``after_ra``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .plots import _pyplot, _save
from ..runner.post_purification import CONTROL_ROWS

STEPS = ("before", "after", "after_ra")
LABELS = ("backdoored", "after defense", "after RA")


def ra_lines(cells: Sequence, path: Path, metric: str = "asr", title: str = "") -> Path:
    """One panel per attack; one line per defense over ``STEPS`` of ``metric`` (cell means)."""
    plt = _pyplot()
    attacks = list(dict.fromkeys(c.key["attack"] for c in cells))
    fig, axes = plt.subplots(1, len(attacks), figsize=(4.2 * len(attacks), 3.8), squeeze=False)
    refs = set(CONTROL_ROWS.values())
    for ax, attack in zip(axes[0], attacks):
        for cell in (c for c in cells if c.key["attack"] == attack):
            values = [cell.mean(f"{step}.{metric}") for step in STEPS]
            values = [np.nan if v is None else v for v in values]
            ref = cell.key["defense"] in refs
            ax.plot(range(len(STEPS)), values, "--" if ref else "-o", label=cell.key["defense"],
                    color="grey" if cell.key["defense"] == CONTROL_ROWS["clean"] else None,
                    alpha=0.8 if ref else 1.0)
        ax.set_xticks(range(len(STEPS)))
        ax.set_xticklabels(LABELS)
        ax.set_ylim(-2, 102)
        ax.set_ylabel(f"{metric} (%)")
        ax.set_title(attack)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title)
    path = _save(fig, path)
    plt.close(fig)
    return path


def ra_plots(cells: Sequence, out: Path) -> list[Path]:
    """``ra-<task>-<dataset>-<model>.png`` for every group whose cells carry ``after_ra``."""
    written = []
    for group in dict.fromkeys((c.key["task"], c.key["dataset"], c.key["model"]) for c in cells):
        members = [c for c in cells if (c.key["task"], c.key["dataset"], c.key["model"]) == group
                   and c.mean(f"after_ra.{_metric(c)}") is not None]
        if members:
            written.append(ra_lines(members, Path(out) / f"ra-{'-'.join(group)}.png",
                                    _metric(members[0]), " / ".join(group)))
    return written


def _metric(cell) -> str:
    names = cell.attack_metrics()
    return "asr" if "asr" in names or not names else names[0]
