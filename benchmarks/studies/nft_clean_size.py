"""NFT with larger clean sets on the same cached victim (the clean-set-size factor of
results/nft_analysis.md).

    python -m benchmarks.studies.nft_clean_size --run runs/quick_airbench --attack blend \
        [--sizes 0.01,0.05,0.1] [--iterations 300] [--set KEY=VALUE ...] [--out DIR]

The suite holds the defender's clean split out of the attacker's data before training, so a
larger split would mean a different victim. Here the victim stays the cached one and the clean
set grows instead from the attacker's training images the attack did *not* touch (the model saw
them, as in the official ANP/NFT code, whose clean sets are subsets of the training data):
size 0.01 is the run's own held-out split; 0.05 adds 4 % of the training set, class-balanced,
drawn with the seed. NFT runs a fixed number of steps (``--iterations``, default the default
cell's 300 = 100 epochs over 500 images at batch 128), so only the clean data change.
Options of the run's NFT record apply, overridden by ``--set`` (e.g. ``--set lr=0.01``).
Writes ``OUT/clean-size-ATTACK.json`` and ``.md`` with provenance.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch
import yaml

from benchmarks.studies.nft_analysis import add_cell_arguments, load_cell, write_result
from core.data import TensorData, balanced_split
from core.record import git_info, hardware, versions
from core.registry import DEFENSES
from core.seeding import make_generator


def grown_clean(splits, poison_indices: torch.Tensor, size: float, num_classes: int,
                seed: int) -> TensorData:
    """The held-out clean split plus ``size`` − its share of untouched training images."""
    held = splits.clean
    total = len(splits.train) + len(held)
    extra = round(size * total) - len(held)
    if extra <= 0:
        return held
    untouched = torch.ones(len(splits.train), dtype=torch.bool)
    untouched[poison_indices.cpu()] = False
    pool = torch.nonzero(untouched).flatten()
    labels = splits.train.targets.cpu()[pool]
    picked, _ = balanced_split(labels, max(1, extra // num_classes), num_classes,
                               make_generator(seed + 1), leave_one=False)
    index = pool[picked]
    return TensorData(torch.cat([held.inputs.cpu(), splits.train.inputs.cpu()[index]]),
                      torch.cat([held.targets.cpu(), labels[picked]]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_cell_arguments(parser, "runs/nft_analysis")
    parser.add_argument("--sizes", type=lambda s: [float(x) for x in s.split(",")],
                        default=[0.01, 0.05, 0.1])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    record, runner, adapter, splits, state = load_cell(args.run, args.attack, args.seed,
                                                       args.data_root, args.cache_dir)
    options = {k: v for k, v in record["config"]["defense"].items() if k != "name"}
    options.update(iterations=args.iterations, progress=False)
    for item in args.set:
        key, _, value = item.partition("=")
        options[key] = yaml.safe_load(value)
    rows = []
    for size in args.sizes:
        clean = grown_clean(splits, state.poison.indices, size, splits.num_classes, args.seed)
        defense = DEFENSES.get("nft").from_options(options)
        start = time.perf_counter()
        result = defense.purify(state.model, adapter, clean, runner.device, args.seed)
        after = adapter.evaluate(result.model, splits.test, state.attack, runner.device, 1000)
        rows.append({"size": size, "clean_images": len(clean), "after": after,
                     "wall_time_s": time.perf_counter() - start})
        print(json.dumps(rows[-1]), flush=True)
    result = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
              "attack": args.attack, "seed": args.seed, "model": runner.preset.model,
              "before": state.before, "nft_options": options, "rows": rows,
              "versions": versions(), "git": git_info(), "hardware": hardware(runner.device)}
    write_result(args.out, f"clean-size-{args.attack}.json", result)
    lines = [f"NFT clean-set size, {args.attack} on {runner.preset.model} (seed {args.seed}), "
             f"{args.iterations} steps; before {json.dumps(state.before)}", "",
             "| clean share | images | ACC after | ASR after | s |", "|---|---|---|---|---|"]
    lines += [f"| {r['size']:.0%} | {r['clean_images']} | {r['after']['clean_acc']:.2f} | "
              f"{r['after']['asr']:.2f} | {r['wall_time_s']:.0f} |" for r in rows]
    (args.out / f"clean-size-{args.attack}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
