"""Where a backdoor lives in a victim, and where NFT's masks go (results/nft_analysis.md).

    python -m benchmarks.studies.nft_analysis --run runs/quick_airbench --attack blend \
        [--seed 0] [--records REC.json ...] [--data-root data] [--out DIR] [--test 1000]

For the cached backdoored model of one matrix cell (taken from the run's model cache: nothing is
trained here) and the clean test images whose label is not the attack's target:

1. **Backdoor units.** At every layer NFT masks (the record's ``layers``: the normalisation layer
   or the conv whose output channels carry one mask each), the per-channel response to
   triggered vs. clean inputs: ``score = (mean_triggered − mean_clean) / (std_clean + 1e-6)``,
   means over images and positions. Large positive scores mark the channels the trigger drives.
2. **Where the masks went.** For every NFT record given (default: the run's ``nft`` record of
   this cell), the mean final mask of the top-5 % backdoor channels of each layer beside the
   mean of the other channels, and the Spearman correlation of mask and score per layer.
3. **Oracle pruning.** The ``k`` highest-scoring channels over all layers (score normalised per
   layer by its standard deviation) are zeroed (their γ and β, or their weight rows) for k in
   ``--prune``; ACC and ASR after each: if a few channels carry the backdoor, this removes it.
4. **Pruning by NFT's masks** (``--mask-prune``, no trigger knowledge: what a defender can do):
   the units of the victim whose final NFT mask (first record) is below τ are zeroed, the
   others left as they were, for each τ; ANP's prune-by-threshold rule applied to NFT's masks.

Writes ``OUT/units-ATTACK.json`` and ``OUT/units-ATTACK.md`` (+ a PNG with matplotlib).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch
from torch import nn

from benchmarks.runner.matrix import MatrixRunner
from benchmarks.runner.presets import Preset
from core.config import from_dict

TOP_SHARE = 0.05


def channel_stats(model: nn.Module, names: list[str], inputs: torch.Tensor,
                  batch_size: int = 250) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-channel (mean, std over images) of each named module's output (N, C, ...)."""
    modules = dict(model.named_modules())
    sums: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    hooks = [modules[n].register_forward_hook(
        lambda m, i, o, n=n: sums[n].append(o.detach().float().flatten(2).mean(-1)
                                            if o.dim() > 2 else o.detach().float()))
        for n in names]
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), batch_size):
                model(inputs[start:start + batch_size])
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for n in names:
        per_image = torch.cat(sums[n])            # (N, C): the mean over positions
        out[n] = (per_image.mean(0), per_image.std(0))
    return out


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra = a.argsort().argsort().float()
    rb = b.argsort().argsort().float()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = (ra.norm() * rb.norm()).item()
    return float((ra @ rb).item() / denom) if denom else float("nan")


def zero_channels(model: nn.Module, layer: str, channels: torch.Tensor) -> None:
    """Silence ``channels`` of ``layer`` (a norm layer: γ = β = 0; a conv/linear: weight rows
    and bias entries = 0)."""
    module = dict(model.named_modules())[layer]
    with torch.no_grad():
        module.weight[channels] = 0.0
        if getattr(module, "bias", None) is not None:
            module.bias[channels] = 0.0


def add_cell_arguments(parser: argparse.ArgumentParser, out: str) -> None:
    """The arguments every study of one cached matrix cell takes (``load_cell``'s)."""
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--attack", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(out))


def write_result(out: Path, name: str, result: dict) -> Path:
    """``result`` as ``OUT/NAME`` (indented JSON); the folder is made if needed."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(result, indent=1))
    return path


def load_cell(run: Path, attack: str, seed: int, data_root: Path | None,
              cache_dir: Path | None, defense: str = "nft") -> tuple:
    rec_path = record_path_of(run, attack, defense, seed)
    record = json.loads(rec_path.read_text())
    preset = from_dict(Preset, {**record["config"]["preset"], "attacks": [attack],
                                "defenses": ["nft"], "seeds": [seed], "save_features": 0})
    runner = MatrixRunner(preset, run, data_root, cache_dir=cache_dir, progress=False)
    adapter, splits, attacks = runner.load(seed, [attack])
    state = runner.prepare_attack(adapter, splits, attacks[attack], seed)
    if not state.train_info.get("cache_hit"):
        raise SystemExit("the backdoored model was not in the cache: run the matrix first")
    return record, runner, adapter, splits, state


def record_path_of(run: Path, attack: str, defense: str, seed: int) -> Path:
    found = sorted(run.glob(f"records/**/{attack}/{defense}/seed{seed}.json"))
    if not found:
        raise SystemExit(f"no {defense} record for {attack}/seed{seed} under {run}/records")
    return found[0]


def analyse(args: argparse.Namespace) -> dict:
    record, runner, adapter, splits, state = load_cell(args.run, args.attack, args.seed,
                                                       args.data_root, args.cache_dir)
    attack, model = state.attack, state.model.cpu().eval()
    labels = splits.test.targets.cpu()
    keep = torch.nonzero(attack.eval_selection(labels)).flatten()[:args.test]
    clean = splits.test.inputs[keep].cpu()
    triggered = attack.apply_trigger(clean)
    layers = [layer["target"] for layer in record["diagnostics"]["layers"]]
    c_stats = channel_stats(model, layers, clean)
    t_stats = channel_stats(model, layers, triggered)
    scores = {n: (t_stats[n][0] - c_stats[n][0]) / (c_stats[n][1] + 1e-6) for n in layers}

    records = [Path(p) for p in args.records] or [record_path_of(args.run, args.attack, "nft",
                                                                  args.seed)]
    mask_rows = []
    for path in records:
        rec = json.loads(Path(path).read_text())
        masks = rec["diagnostics"]["masks"]
        by_target = {layer["target"]: layer["name"] for layer in rec["diagnostics"]["layers"]}
        for target in layers:
            if by_target.get(target) not in masks:
                continue
            m = torch.tensor(masks[by_target[target]])
            s = scores[target]
            k = max(1, round(TOP_SHARE * len(s)))
            top = s.topk(k).indices
            rest = torch.ones(len(s), dtype=torch.bool)
            rest[top] = False
            mask_rows.append({"record": str(path), "layer": target, "units": len(s),
                              "top_mask": m[top].mean().item(), "rest_mask": m[rest].mean().item(),
                              "spearman": spearman(m, s), "max_score": s.max().item(),
                              "after_asr": rec["after"].get("asr")})

    pooled = torch.cat([scores[n] / (scores[n].std() + 1e-6) for n in layers])
    owners = [(n, c) for n in layers for c in range(len(scores[n]))]
    order = pooled.argsort(descending=True)
    prune_rows = []
    for k in args.prune:
        pruned = copy.deepcopy(model)
        chosen: dict[str, list[int]] = {}
        for idx in order[:k].tolist():
            n, c = owners[idx]
            chosen.setdefault(n, []).append(c)
        for n, chans in chosen.items():
            zero_channels(pruned, n, torch.tensor(chans))
        metrics = adapter.evaluate(pruned, splits.test, attack, torch.device("cpu"), 1000)
        prune_rows.append({"k": k, **metrics, "layers": {n: len(c) for n, c in chosen.items()}})
    mask_prune_rows = []
    first = json.loads(Path(records[0]).read_text())["diagnostics"]
    by_target = {layer["target"]: layer["name"] for layer in first["layers"]}
    for tau in args.mask_prune:
        pruned = copy.deepcopy(model)
        counts = {}
        for target, name in by_target.items():
            low = torch.nonzero(torch.tensor(first["masks"][name]) < tau).flatten()
            if len(low):
                zero_channels(pruned, target, low)
                counts[target] = len(low)
        metrics = adapter.evaluate(pruned, splits.test, attack, torch.device("cpu"), 1000)
        mask_prune_rows.append({"tau": tau, **metrics, "layers": counts})
    return {"attack": args.attack, "seed": args.seed, "model": runner.preset.model,
            "test_images": len(keep), "before": state.before,
            "top_channels": [{"layer": owners[i][0], "channel": owners[i][1],
                              "score": pooled[i].item()} for i in order[:10].tolist()],
            "layer_max_score": {n: scores[n].max().item() for n in layers},
            "masks": mask_rows, "pruning": prune_rows, "mask_pruning": mask_prune_rows}


def markdown(result: dict) -> str:
    lines = [f"## Backdoor units: {result['attack']} on {result['model']} (seed {result['seed']})",
             "", f"Before: {json.dumps(result['before'])}; {result['test_images']} non-target "
             "test images.", "", "Oracle pruning (k channels with the highest normalised "
             "trigger score, over all masked layers, zeroed):", "",
             "| k | ACC | ASR | layers hit |", "|---|---|---|---|"]
    for row in result["pruning"]:
        hit = ", ".join(f"{n}:{c}" for n, c in row["layers"].items())
        lines.append(f"| {row['k']} | {row['clean_acc']:.2f} | {row['asr']:.2f} | {hit} |")
    if result.get("mask_pruning"):
        lines += ["", "Pruning by NFT's final masks (units with mask < τ zeroed, no trigger "
                  "knowledge):", "", "| τ | units zeroed | ACC | ASR |", "|---|---|---|---|"]
        for row in result["mask_pruning"]:
            lines.append(f"| {row['tau']} | {sum(row['layers'].values())} | "
                         f"{row['clean_acc']:.2f} | {row['asr']:.2f} |")
    lines += ["", "Final NFT masks on the top-5 % trigger channels of each layer vs. the rest:",
              "", "| record | layer | units | max score | mask top 5 % | mask rest | Spearman(mask, score) |",
              "|---|---|---|---|---|---|---|"]
    for r in result["masks"]:
        lines.append(f"| {Path(r['record']).parent.parent.parent.name}/{Path(r['record']).parent.name} "
                     f"| {r['layer']} | {r['units']} | {r['max_score']:.2f} | "
                     f"{r['top_mask']:.3f} | {r['rest_mask']:.3f} | {r['spearman']:+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_cell_arguments(parser, "runs/nft_analysis")
    parser.add_argument("--records", nargs="*", default=[])
    parser.add_argument("--test", type=int, default=1000, help="non-target test images used")
    parser.add_argument("--prune", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--mask-prune", type=lambda s: [float(x) for x in s.split(",")],
                        default=[], help="thresholds τ: zero the units whose NFT mask < τ")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = analyse(args)
    write_result(args.out, f"units-{args.attack}.json", result)
    (args.out / f"units-{args.attack}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
