"""The ideal-loss control of NFT (results/nft_analysis.md): masks trained knowing the trigger.

    python -m benchmarks.studies.nft_ideal --run runs/hi94_e20 --attack blend [--seed 0] \
        [--data-root data] [--cache-dir DIR] [--out runs/nft_ideal]

NFT trains multiplicative masks on a clean set. The paper's ideal objective (its Eq. 3) asks the
masked network to classify *triggered* inputs by their true label as well; a defender never has
those, but if masks trained on them cannot bring ASR down under NFT's own constraints, masks on
these units cannot express the removal at all. This script takes the cached backdoored model of
one matrix cell (nothing is retrained) and runs the run's own ``nft`` defense — same config
(iterations, lr, clamp μ(l), regulariser η_c, BN mode, mixing augmentation), same seed — once on
the clean set (the control, as the matrix cell ran it) and once on the clean set plus a
triggered copy of every clean image with its true label (twice the data, the same number of
steps and batch size). Both are evaluated like the matrix (full test set).

``--crop-padding N [--crop-padding-mode zeros]`` changes the crop padding of NFT's augmentation
for both variants (the cached victim is the one the run trained, whatever its own padding):
the control of the official code's ``RandomCrop(32, padding=4)`` on a victim trained with 2.
``--only-control`` skips the ideal variant.

Writes ``OUT/ideal-ATTACK-seedS.json`` and prints a markdown row per variant.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace

import torch

from benchmarks.studies.nft_analysis import add_cell_arguments, load_cell, write_result
from core.data import TensorData


def with_true_label_triggers(clean: TensorData, attack) -> TensorData:
    """``clean`` plus a triggered copy of each of its images keeping the true label."""
    triggered = attack.apply_trigger(clean.inputs)
    return TensorData(torch.cat([clean.inputs, triggered]),
                      torch.cat([clean.targets, clean.targets]))


def run(args: argparse.Namespace) -> dict:
    record, runner, adapter, splits, state = load_cell(args.run, args.attack, args.seed,
                                                       args.data_root, args.cache_dir)
    defense = runner.build_defense("nft")
    if args.crop_padding is not None:       # NFT's augmentation only; the victim is cached
        if not hasattr(getattr(adapter, "options", None), "crop_padding"):
            raise SystemExit(f"--crop-padding: the {adapter.name} task has no crop padding")
        adapter.options = replace(adapter.options, crop_padding=args.crop_padding,
                                  crop_padding_mode=args.crop_padding_mode)   # checked there
    variants = {"clean set (NFT as run)": splits.clean,
                "clean + triggered, true labels (ideal)":
                    with_true_label_triggers(splits.clean, state.attack)}
    if args.only_ideal and args.only_control:
        raise SystemExit("--only-ideal and --only-control exclude each other")
    if args.only_ideal:
        variants.pop("clean set (NFT as run)")
    if args.only_control:
        variants.pop("clean + triggered, true labels (ideal)")
    rows = []
    for name, data in variants.items():
        start = time.perf_counter()
        result = defense.purify(state.model, adapter, data, runner.device, args.seed)
        metrics = adapter.evaluate(result.model, splits.test, state.attack, runner.device,
                                   runner.preset.eval_batch_size)
        masks = torch.cat([torch.tensor(m) for m in result.diagnostics["masks"].values()])
        rows.append({"variant": name, "samples": len(data), "after": metrics,
                     "wall_time_s": time.perf_counter() - start,
                     "mask_min": masks.min().item(), "mask_mean": masks.mean().item(),
                     "masks_below_0.5": int((masks < 0.5).sum())})
        print(f"| {name} | {len(data)} | {metrics['clean_acc']:.2f} | {metrics['asr']:.2f} | "
              f"{masks.min().item():.3f} | {rows[-1]['wall_time_s']:.0f} |", flush=True)
    options = getattr(adapter, "options", None)
    return {"attack": args.attack, "seed": args.seed, "run": str(args.run),
            "model": runner.preset.model, "before": state.before,
            "nft_config": defense.describe(), "variants": rows,
            "nft_crop_padding": [getattr(options, "crop_padding", None),
                                 getattr(options, "crop_padding_mode", None)],
            "record_nft_after": record.get("after"),
            "command": " ".join(sys.argv), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cpu": platform.processor()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_cell_arguments(parser, "runs/nft_ideal")
    parser.add_argument("--only-ideal", action="store_true",
                        help="skip the control (the matrix's nft record already has it)")
    parser.add_argument("--only-control", action="store_true",
                        help="skip the ideal variant (e.g. for a --crop-padding control)")
    parser.add_argument("--crop-padding", type=int, default=None,
                        help="crop padding of NFT's augmentation (default: the run's)")
    parser.add_argument("--crop-padding-mode", default="zeros",
                        help="with --crop-padding: zeros, reflect or replicate")
    args = parser.parse_args(argv)
    print("| masks trained on | samples | ACC | ASR | min mask | s |\n|---|---|---|---|---|---|")
    result = run(args)
    print(f"wrote {write_result(args.out, f'ideal-{args.attack}-seed{args.seed}.json', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
