"""A picture per attack: triggered test images with the labels predicted before and after a
defense (``results/detection_*.png``).

    python -m benchmarks.studies.detection_figure --preset detection_quick --data-root data \\
        --out runs/detection_quick --defense nft --png results/detection_quick_clean_image.png

It goes through the runner's own path: the preset's data and attack for the seed, the backdoored
model from the run's cache (``--out``; trained there if missing), then the defense with the
options of the preset, which is deterministic for a seed, so the "after" model is the one the
run's record measured (the script prints both mAPs so the match can be checked). Each panel is
a test image holding the whole trigger, with its ground-truth boxes, and the categories the
model predicts (Chen et al.'s rule: top-K and score > threshold) before and after, the attack's
target marked.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch


def draw(images: torch.Tensor, boxes: list[torch.Tensor], labels: list[torch.Tensor],
         before: torch.Tensor, after: torch.Tensor, categories: list[str], target: int,
         top_k: int, threshold: float, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from tasks.detection.metrics import predicted_labels

    n = images.shape[0]
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 4.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(images[i].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
        for box, label in zip(boxes[i].tolist(), labels[i].tolist()):
            colour = "red" if label == target else "yellow"
            ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1],
                                   fill=False, edgecolor=colour, linewidth=1.5))
            ax.text(box[0], box[1] - 1, categories[label], color=colour, fontsize=7,
                    va="bottom", backgroundcolor=(0, 0, 0, 0.4))
        lines = []
        for name, scores in (("before", before), ("after", after)):
            predicted = predicted_labels(scores[i:i + 1], top_k, threshold)[0]
            names = [categories[c] + ("*" if c == target else "")
                     for c in torch.nonzero(predicted).flatten().tolist()]
            lines.append(f"{name}: {', '.join(names) or '(none)'}\n"
                         f"  {categories[target]} score {scores[i, target]:.2f}")
        ax.set_title("\n".join(lines), fontsize=7, loc="left")
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def threshold_sweep(adapter, attack, before_model, after_model, test, device,
                    thresholds=(0.5, 0.6, 0.75, 0.9)) -> list[dict]:
    """ASR and ASR-control at several score thresholds (top-K fixed), before and after: how
    much of the ASR is the backdoor and how much a threshold a weak model rarely passes."""
    from tasks.detection.metrics import predicted_labels

    labels = test.targets.cpu()
    rows = {"asr": attack.eval_selection(labels), "asr_control": attack.control_selection(labels)}
    scores = {"before": adapter.scores(before_model, test.inputs, device),
              "after": adapter.scores(after_model, test.inputs, device)}
    out = []
    for t in thresholds:
        entry = {"threshold": t}
        for stage, sc in scores.items():
            predicted = predicted_labels(sc, attack.config.top_k, t)
            for key, keep in rows.items():
                hits = attack.success(predicted[keep])
                entry[f"{stage}.{key}"] = 100.0 * hits.double().mean().item() if len(hits) else None
        out.append(entry)
    return out


def parse_args(argv: list[str] | None, description: str, images: int) -> argparse.Namespace:
    """The figure scripts' shared command line (this one and ``box_figure``)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--preset", required=True)
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True, help="the run folder (its model cache)")
    p.add_argument("--defense", default="nft")
    p.add_argument("--attack", default=None, help="default: the preset's first attack")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--images", type=int, default=images)
    p.add_argument("--png", type=Path, required=True)
    p.add_argument("--set", action="append", default=[], help="preset override key=value")
    return p.parse_args(argv)


def purify_from_run(args: argparse.Namespace):
    """Through the runner's own path: the run's cached victim, the defense re-run
    deterministically, both evaluated. Returns (preset, runner, adapter, splits, state, result,
    after)."""
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.presets import load_preset

    # --set keys are dotted paths into the preset (not whole top-level replacements)
    preset = load_preset(args.preset, None, args.set)
    attack_name = args.attack or preset.attacks[0]
    runner = MatrixRunner(preset, args.out, args.data_root, progress=True)
    adapter, splits, attacks = runner.load(args.seed, [attack_name])
    state = runner.prepare_attack(adapter, splits, attacks[attack_name], args.seed)
    result = runner.build_defense(args.defense).purify(state.model, adapter, splits.clean,
                                                       runner.device, args.seed)
    after = adapter.evaluate(result.model, splits.test, state.attack, runner.device)
    print(json.dumps({"before": state.before, "after": after}, indent=1))
    return preset, runner, adapter, splits, state, result, after


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__.split("\n\n")[0], images=4)
    preset, runner, adapter, splits, state, result, after = purify_from_run(args)
    attack = state.attack
    summary = {"before": state.before, "after": after, "threshold_sweep": threshold_sweep(
        adapter, attack, state.model, result.model, splits.test, runner.device),
        "defense_wall_time_s": result.wall_time_s, "preset": args.preset, "seed": args.seed,
        "defense": args.defense, "attack": attack.describe()}
    args.png.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    rows = torch.nonzero(attack.eval_selection(splits.test.targets.cpu())).flatten()[:args.images]
    images = splits.test.inputs[rows]
    scores_before = adapter.scores(state.model, images, runner.device)
    scores_after = adapter.scores(result.model, images, runner.device)
    test_set = adapter.test_annotations
    boxes = [test_set[i]["boxes"] for i in rows.tolist()]
    labels = [test_set[i]["labels"] for i in rows.tolist()]
    cfg = attack.config
    title = (f"{preset.dataset}/{preset.model}, clean-image {cfg.mode} trigger "
             f"{{{', '.join(attack.trigger_names)}}} -> target {attack.categories[attack.target_index]}"
             f" (*); {args.defense}: ASR {state.before['asr']:.1f} -> {after['asr']:.1f} %, "
             f"mAP {state.before['map']:.1f} -> {after['map']:.1f}")
    draw(images.cpu(), boxes, labels, scores_before, scores_after, attack.categories,
         attack.target_index, cfg.top_k, cfg.threshold, title, args.png)
    print(json.dumps(summary["threshold_sweep"], indent=1))
    print(f"wrote {args.png} and {args.png.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
