"""Figure of the detection_boxes task: triggered test images with the boxes detected before and
after a defense, one PNG per attack.

    python -m benchmarks.studies.detection_box_figure --preset detection_boxes_quick --data-root data \\
        --out runs/detection_boxes_quick --attack baddet_oga --defense nft \\
        --png results/detection_quick_boxes/baddet_oga_nft.png

It goes through the runner's own path (as ``figure.py``): the preset's data and attack for the
seed, the backdoored model from the run's cache (``--out``; trained there if missing), then the
defense with the preset's options, deterministic for a seed, so the "after" model is the one the
run's record measured (the script prints both metric sets to check). Each row is one triggered
test image (objects the ASR rule counts, first ``--images`` of them): left the backdoored
model's detections, right the purified one's, detections with score ≥ the attack's
``score_threshold``; the attacker's target class (ODA: the victim class) in red, others yellow, the
triggered object / trigger box dashed cyan.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch


def draw(images: torch.Tensor, before: list[dict], after: list[dict], items: list[list],
         categories: list[str], target: int, threshold: float, title: str,
         path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = images.shape[0]
    fig, axes = plt.subplots(n, 2, figsize=(5.6, 2.9 * n), squeeze=False)
    for row in range(n):
        for col, (name, dets) in enumerate((("before", before), ("after", after))):
            ax = axes[row][col]
            ax.imshow(images[row].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            for box in items[row]:
                x1, y1, x2, y2 = (box - 0.5).tolist()      # pixel i spans i-0.5..i+0.5 in imshow
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, linestyle="--",
                                       edgecolor="cyan", linewidth=1.0))
            d = dets[row]
            keep = d["scores"] >= threshold
            for box, label, score in zip((d["boxes"][keep] - 0.5).tolist(),
                                         d["labels"][keep].tolist(), d["scores"][keep].tolist()):
                colour = "red" if label == target else "yellow"
                ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1],
                                       fill=False, edgecolor=colour, linewidth=1.3))
                ax.text(box[0], box[1] - 0.5, f"{categories[label]} {score:.2f}", color=colour,
                        fontsize=6, va="bottom", backgroundcolor=(0, 0, 0, 0.45))
            ax.set_title(name, fontsize=8)
            ax.axis("off")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    from tasks.detection.box_models import detect

    from .detection_figure import parse_args, purify_from_run

    args = parse_args(argv, __doc__.split("\n\n")[0], images=3)
    preset, runner, adapter, splits, state, result, after = purify_from_run(args)

    attack = state.attack
    triggered, items = attack.trigger_test(splits.test.inputs.cpu(), splits.test.targets)
    rows = list(dict.fromkeys(item.image for item in items))[:args.images]
    boxes = [[it.box for it in items if it.image == r] for r in rows]
    images = triggered[rows]
    det_before = detect(state.model, images, runner.device)
    det_after = detect(result.model, images, runner.device)
    cfg = attack.config
    # ODA has no target class: its victim class is the one to watch
    oda = attack.kind == "oda" and attack.source_index is not None
    highlight = attack.source_index if oda else attack.target_index
    role = "victim" if oda else "target"
    title = (f"{preset.dataset}/{preset.model}, {attack.name} ({role} "
             f"{attack.categories[highlight]}, "
             f"{cfg.patch_size}px patch, blend {cfg.blend});\n{args.defense}: "
             f"ASR@0.5 {state.before['asr']:.1f} -> {after['asr']:.1f} %, "
             f"mAP@0.5 {state.before['map']:.1f} -> {after['map']:.1f}")
    draw(images, det_before, det_after, boxes, attack.categories, highlight,
         cfg.score_threshold, title, args.png)
    summary = {"before": state.before, "after": after, "preset": args.preset, "seed": args.seed,
               "defense": args.defense, "attack": attack.describe(), "test_images": rows,
               "defense_wall_time_s": result.wall_time_s}
    args.png.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.png} and {args.png.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
