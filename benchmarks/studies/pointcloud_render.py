"""Pictures of each attack's trigger: a clean test shape and its triggered copy side by side.

    python -m benchmarks.studies.pointcloud_render --preset pointcloud_quick --data-root data \\
        --cache runs/pointcloud_quick/cache/models --out results/pointcloud_quick_modelnet10

draws ``trigger-<attack>.png`` for every attack of the preset (matplotlib 3-D scatter; the
points a trigger inserted are drawn red). Learned triggers (3DPC-BA's cluster) are read from
the runner's artifact cache when ``--cache`` holds them, else learned again (minutes on a CPU).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

CLEAN, INSERTED = "#4c72b0", "#d62728"


def render_pair(clean: torch.Tensor, triggered: torch.Tensor, path: Path, title: str,
                up_axis: int = 2) -> Path:
    """Save a two-panel figure: ``clean`` (N, 3) and ``triggered`` (N, 3), inserted points red."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = [a for a in range(3) if a != up_axis] + [up_axis]      # draw the up axis upward
    inserted = ~(triggered[:, None, :] == clean[None, :, :]).all(-1).any(1)
    moved = bool(inserted.float().mean() > 0.5)     # a transform (rotation), not an insertion
    fig = plt.figure(figsize=(8, 4.2))
    for i, (cloud, name) in enumerate(((clean, "clean"), (triggered, "triggered"))):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        pts = cloud[:, order].numpy()
        if i == 1 and moved:          # the clean shape in grey behind the moved one
            ax.scatter(*clean[:, order].numpy().T, s=1, c="#bbbbbb", depthshade=False)
            ax.scatter(*pts.T, s=2, c=INSERTED, depthshade=False)
            heading = f"{name} (red; clean in grey)"
        else:
            red = inserted.numpy() if i == 1 else torch.zeros(len(cloud), dtype=torch.bool).numpy()
            ax.scatter(*pts[~red].T, s=2, c=CLEAN, depthshade=False)
            if red.any():
                ax.scatter(*pts[red].T, s=6, c=INSERTED, depthshade=False)
            heading = name if not red.any() else f"{name} ({int(red.sum())} inserted points red)"
        ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=0, azim=0) if moved else ax.view_init(elev=20, azim=-60)
        ax.set_title(heading, fontsize=9)
        ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    from benchmarks.runner.presets import load_preset
    from core.registry import TASKS
    import tasks  # noqa: F401  (registration)

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="pointcloud_quick")
    p.add_argument("--attacks", help="comma-separated (default: the preset's)")
    p.add_argument("--data-root", type=Path)
    p.add_argument("--cache", type=Path, help="the runner's cache/models folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--class-name", default="chair", help="draw a test shape of this class "
                   "(when it is an ASR shape of the attack; else the first one)")
    args = p.parse_args(argv)
    preset = load_preset(args.preset)
    names = args.attacks.split(",") if args.attacks else preset.attacks
    adapter = TASKS.get(preset.task)()
    splits = adapter.load_splits(preset.dataset, args.data_root, preset.data, args.seed)
    classes = splits.info.get("classes")
    for name in names:
        attack = adapter.build_attack(name, preset.attack_options.get(name), splits)
        attack.artifact_dir = args.cache
        attack.prepare(splits.train, adapter, torch.device("cpu"), args.seed)
        keep = attack.eval_selection(splits.test.targets)
        if classes and args.class_name in classes:
            wanted = keep & (splits.test.targets == classes.index(args.class_name))
            keep = wanted if wanted.any() else keep
        i = int(torch.nonzero(keep).flatten()[0])
        clean = splits.test.inputs[i:i + 1]
        label = int(splits.test.targets[i])
        title = (f"{name}: test shape {i} ({classes[label] if classes else label}) → "
                 f"target {attack.config.target}")
        out = render_pair(clean[0], attack.apply_trigger(clean)[0], args.out / f"trigger-{name}.png",
                          title, up_axis=adapter.up_axis)
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
