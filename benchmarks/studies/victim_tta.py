"""What test-time augmentation would add to a cached victim's clean accuracy (issue 24).

    python -m benchmarks.studies.victim_tta --run runs/hiacc --attack blend [--seed 0] \
        [--defense nft] [--data-root data] [--cache-dir DIR] [--out runs/victim_tta]

The suite evaluates every model without TTA (victims and defenses alike). airbench94's published
~94 % is with its flip + translate TTA, so comparing our victims to that figure needs the same
evaluation. This loads the cached backdoored model of one matrix cell (nothing is retrained; any
defense's record of that cell locates it) and reports clean accuracy and ASR on the full test set
at three levels, following airbench94's ``tta_level`` (read from its public code, not copied):

- ``none``: the logits of the image (what every table in the suite reports);
- ``flip``: the mean of the logits of the image and its left-right mirror;
- ``flip_translate``: ½ · flip(image) + ¼ · flip(image shifted 1 px up-left) + ¼ · flip(image
  shifted 1 px down-right), the shifts cut from a 1-px reflect-padded copy.

Writes ``OUT/tta-ATTACK-seedS.json`` and prints one markdown row per level.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time

import torch
import torch.nn.functional as F

from benchmarks.studies.nft_analysis import add_cell_arguments, load_cell, write_result
from core.classification import percent

LEVELS = ("none", "flip", "flip_translate")


def _mirror_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (model(x) + model(x.flip(-1)))


@torch.no_grad()
def tta_logits(model: torch.nn.Module, x: torch.Tensor, level: str) -> torch.Tensor:
    """Logits of a batch ``x`` (N, C, H, W) under one of ``LEVELS``."""
    if level == "none":
        return model(x)
    if level == "flip":
        return _mirror_logits(model, x)
    if level == "flip_translate":
        h, w = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        up_left, down_right = padded[..., :h, :w], padded[..., 2:, 2:]
        return (0.5 * _mirror_logits(model, x) + 0.25 * _mirror_logits(model, up_left)
                + 0.25 * _mirror_logits(model, down_right))
    raise ValueError(f"unknown TTA level {level!r}; choose from {LEVELS}")


@torch.no_grad()
def predict_tta(model: torch.nn.Module, inputs: torch.Tensor, level: str,
                batch_size: int) -> torch.Tensor:
    model.eval()
    return torch.cat([tta_logits(model, inputs[i:i + batch_size].float(), level).argmax(1)
                      for i in range(0, len(inputs), batch_size)])


def run(args: argparse.Namespace) -> dict:
    _, runner, _, splits, state = load_cell(args.run, args.attack, args.seed, args.data_root,
                                            args.cache_dir, args.defense)
    model, attack = state.model.cpu().eval(), state.attack
    labels = splits.test.targets.cpu()
    keep = attack.eval_selection(labels)
    triggered = attack.apply_trigger(splits.test.inputs[keep].cpu())
    target = attack.attack_labels(labels[keep])
    rows = []
    for level in args.levels:
        start = time.perf_counter()
        acc = percent(predict_tta(model, splits.test.inputs.cpu(), level, args.batch_size)
                      == labels)
        asr = None if args.clean_only else percent(
            predict_tta(model, triggered, level, args.batch_size) == target)
        rows.append({"level": level, "clean_acc": acc, "asr": asr,
                     "wall_time_s": time.perf_counter() - start})
        shown = "not run" if asr is None else f"{asr:.2f}"
        print(f"| {level} | {acc:.2f} | {shown} | {rows[-1]['wall_time_s']:.0f} |", flush=True)
    return {"attack": args.attack, "seed": args.seed, "run": str(args.run),
            "model": runner.preset.model, "before_as_recorded": state.before,
            "test_images": len(labels), "triggered_images": len(target), "levels": rows,
            "command": " ".join(sys.argv), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cpu": platform.processor()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_cell_arguments(parser, "runs/victim_tta")
    parser.add_argument("--defense", default="nft",
                        help="any defense whose record for this cell exists (locates the victim)")
    parser.add_argument("--levels", default=",".join(LEVELS),
                        help=f"comma-separated subset of {', '.join(LEVELS)}")
    parser.add_argument("--clean-only", action="store_true",
                        help="clean accuracy only (skip the triggered test images' ASR)")
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    args.levels = [lv.strip() for lv in args.levels.split(",") if lv.strip()]
    unknown = [lv for lv in args.levels if lv not in LEVELS]
    if unknown:
        parser.error(f"unknown TTA level(s) {unknown}; choose from {', '.join(LEVELS)}")
    print("| TTA | clean ACC | ASR | s |\n|---|---|---|---|")
    result = run(args)
    print(f"wrote {write_result(args.out, f'tta-{args.attack}-seed{args.seed}.json', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
