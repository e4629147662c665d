"""Figures from a run (matplotlib, PNG), like the paper's:

* ``mask_heatmap``: final NFT mask values per layer (paper Figs. 4-5), from the ``masks`` that
  NFT's records keep in ``diagnostics``;
* ``tsne_plot``: t-SNE of penultimate features before and after purification (paper Fig. 1),
  from features + labels (the runner saves them with ``save_features: N``);
* ``metric_bars``: the task's primary metric (accuracy, mAP, BLEU, …) and its attack metrics
  (those where lower is better: ASR, …) per attack, before and after each defense;
* ``ra_lines``: ASR before → after the defense → after the Retuning
  Attack, per defense, when the records carry ``after_ra``.

    python benchmarks/run.py plot RUN_DIR [--out DIR]      (default DIR = RUN_DIR/plots)

Needs the ``plots`` extra (matplotlib, scikit-learn).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from core.retuning import REFERENCE_ROWS


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("plots need matplotlib and scikit-learn: pip install -e \".[plots]\"") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    tmp.replace(path)
    return path


def mask_matrix(masks: Mapping[str, Sequence[float]], sort: bool = False) -> np.ndarray:
    """(layers, max units) array of mask values, NaN where a layer has fewer units."""
    if not masks:
        raise ValueError("no masks to plot")
    width = max(len(v) for v in masks.values())
    grid = np.full((len(masks), width), np.nan)
    for i, values in enumerate(masks.values()):
        row = np.asarray(values, dtype=float)
        grid[i, :len(row)] = np.sort(row)[::-1] if sort else row
    return grid


def mask_heatmap(masks: Mapping[str, Sequence[float]], path: Path, title: str = "",
                 sort: bool = False) -> Path:
    """One row per masked layer (depth order), one column per unit; colour = mask value."""
    plt = _pyplot()
    grid = mask_matrix(masks, sort)
    names = list(masks)
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.25 * len(names) + 1.5)))
    image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", interpolation="nearest",
                      cmap="viridis", vmin=0.0, vmax=1.0)
    step = max(1, math.ceil(len(names) / 40))
    ax.set_yticks(range(0, len(names), step))
    ax.set_yticklabels(names[::step], fontsize=7)
    ax.set_xlabel("unit (sorted by mask value)" if sort else "unit (channel / neuron)")
    ax.set_ylabel("layer")
    ax.set_title(title or "NFT masks per layer")
    fig.colorbar(image, ax=ax, label="mask value")
    path = _save(fig, path)
    plt.close(fig)
    return path


def tsne_embed(features: np.ndarray, seed: int = 0, perplexity: float | None = None) -> np.ndarray:
    """2-D t-SNE of (N, D) features (sklearn; perplexity ≤ 30 and < N/3)."""
    import torch
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    features = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    if len(features) < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {len(features)}")
    perplexity = perplexity or max(2.0, min(30.0, (len(features) - 1) / 3.0))
    # OpenMP oversubscription makes sklearn's t-SNE ~40x slower on a busy machine: use as many
    # threads as torch does
    with threadpool_limits(limits=max(1, torch.get_num_threads())):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                    max_iter=500).fit_transform(features)


def tsne_plot(before: np.ndarray, after: np.ndarray, labels: Sequence[int], path: Path,
              triggered: Sequence[bool] | None = None, title: str = "", seed: int = 0) -> Path:
    """Side-by-side t-SNE of the same inputs' features before and after purification; colour =
    true class, triggered inputs drawn as black crosses."""
    plt = _pyplot()
    labels = np.asarray(labels)
    trig = np.zeros(len(labels), bool) if triggered is None else np.asarray(triggered, bool)
    if not len(before) == len(after) == len(labels) == len(trig):
        raise ValueError("before, after, labels and triggered must have the same length")
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, feats, name in zip(axes, (before, after), ("before purification", "after purification")):
        xy = tsne_embed(feats, seed)
        ax.scatter(xy[~trig, 0], xy[~trig, 1], c=labels[~trig], cmap="tab10", s=8, alpha=0.8,
                   vmin=labels.min(), vmax=max(labels.max(), labels.min() + 1))
        if trig.any():
            ax.scatter(xy[trig, 0], xy[trig, 1], c="black", marker="x", s=12, label="triggered")
            ax.legend(loc="best", fontsize=8)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    path = _save(fig, path)
    plt.close(fig)
    return path


def bar_metrics(cells: Sequence) -> list[str]:
    """The primary metric of the cells' task, then its attack metrics (lower is better)."""
    names = [cells[0].primary_metric]
    for cell in cells:
        names += [m for m in cell.attack_metrics() if m not in names]
    return names


def metric_bars(cells: Sequence, path: Path, metrics: Sequence[str] | None = None,
                title: str = "") -> Path:
    """Grouped bars per attack: the backdoored model ("no defense") and each defense after,
    mean ± std over seeds. ``cells`` are ``benchmarks.reporting.aggregate.CellStats``; ``metrics``
    default to ``bar_metrics(cells)``."""
    plt = _pyplot()
    if not cells:
        raise ValueError("no cells to plot")
    metrics = list(metrics) if metrics else bar_metrics(cells)
    attacks = list(dict.fromkeys(c.key["attack"] for c in cells))
    defenses = list(dict.fromkeys(c.key["defense"] for c in cells))
    series = ["no defense", *defenses]
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(6, 1.6 * len(attacks)) * len(metrics) / 1.4, 4),
                             squeeze=False)
    width = 0.8 / len(series)
    for ax, metric in zip(axes[0], metrics):
        for j, name in enumerate(series):
            means, stds = [], []
            for attack in attacks:
                hit = [c for c in cells if c.key["attack"] == attack
                       and (name == "no defense" or c.key["defense"] == name)]
                stat = hit[0].values.get(f"{'before' if name == 'no defense' else 'after'}.{metric}") if hit else None
                means.append(np.nan if stat is None or stat.mean is None else stat.mean)
                stds.append(0.0 if stat is None or stat.std is None else stat.std)
            ax.bar(np.arange(len(attacks)) + (j - (len(series) - 1) / 2) * width, means, width,
                   yerr=stds, label=name, capsize=2)
        ax.set_xticks(range(len(attacks)))
        ax.set_xticklabels(attacks, rotation=30, ha="right")
        ax.set_ylabel(f"{metric} (%)")
        ax.set_ylim(0, 100)
        ax.set_title(metric)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    path = _save(fig, path)
    plt.close(fig)
    return path


# -- post-purification robustness (the Retuning Attack, benchmarks/runner/post_purification.py) --
RA_STEPS = ("before", "after", "after_ra")
RA_LABELS = ("backdoored", "after defense", "after RA")

def ra_lines(cells: Sequence, path: Path, metric: str = "asr", title: str = "") -> Path:
    """One panel per attack; one line per defense over ``RA_STEPS`` of ``metric`` (cell means)."""
    plt = _pyplot()
    attacks = list(dict.fromkeys(c.key["attack"] for c in cells))
    fig, axes = plt.subplots(1, len(attacks), figsize=(4.2 * len(attacks), 3.8), squeeze=False)
    refs = set(REFERENCE_ROWS.values())
    for ax, attack in zip(axes[0], attacks):
        for cell in (c for c in cells if c.key["attack"] == attack):
            values = [cell.mean(f"{step}.{metric}") for step in RA_STEPS]
            values = [np.nan if v is None else v for v in values]
            ref = cell.key["defense"] in refs
            ax.plot(range(len(RA_STEPS)), values, "--" if ref else "-o", label=cell.key["defense"],
                    color="grey" if cell.key["defense"] == REFERENCE_ROWS["clean"] else None,
                    alpha=0.8 if ref else 1.0)
        ax.set_xticks(range(len(RA_STEPS)))
        ax.set_xticklabels(RA_LABELS)
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
                   and c.mean(f"after_ra.{_ra_metric(c)}") is not None]
        if members:
            written.append(ra_lines(members, Path(out) / f"ra-{'-'.join(group)}.png",
                                    _ra_metric(members[0]), " / ".join(group)))
    return written


def _ra_metric(cell) -> str:
    names = cell.attack_metrics()
    return "asr" if "asr" in names or not names else names[0]


def plot_run(run_dir: Path, out: Path | None = None) -> list[Path]:
    """Every figure a run's records allow, under ``out`` (default ``RUN_DIR/plots``)."""
    from .aggregate import aggregate_records
    from .features import load_features
    from .summary import load_records

    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "plots"
    ok, _ = load_records(run_dir)
    if not ok:
        raise FileNotFoundError(f"no finished records under {run_dir / 'records'}")
    written: list[Path] = []
    cells = aggregate_records(ok)
    for group in dict.fromkeys((c.key["task"], c.key["dataset"], c.key["model"]) for c in cells):
        members = [c for c in cells if (c.key["task"], c.key["dataset"], c.key["model"]) == group]
        written.append(metric_bars(members, out / f"bars-{'-'.join(group)}.png",
                                   title=" / ".join(group)))
    if any("after_ra" in r for r in ok):          # post-purification robustness (RA)
        written += ra_plots(cells, out)
    for record in ok:
        stem = "-".join(str(record[k]) for k in ("task", "dataset", "model", "attack", "defense"))
        stem += f"-seed{record['seed']}"
        masks = record.get("diagnostics", {}).get("masks")
        if masks:
            written.append(mask_heatmap(masks, out / f"masks-{stem}.png",
                                        title=f"NFT masks: {stem}"))
        features = (run_dir / record["_path"]).with_suffix(".features.npz")
        if features.is_file():
            data = load_features(features)
            written.append(tsne_plot(data["before"], data["after"], data["labels"],
                                     out / f"tsne-{stem}.png", data["triggered"],
                                     title=f"t-SNE of penultimate features: {stem}"))
    return written
