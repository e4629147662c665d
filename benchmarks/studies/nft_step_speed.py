"""Seconds per step of NFT against plain fine-tuning (FT), through the suite's own loops.

    python -m benchmarks.studies.nft_step_speed          # ResNet-18 and PreActResNet-18
    python -m benchmarks.studies.nft_step_speed --models preact_resnet18 --steps 6 --repeats 2

Both loops run as the runner runs them (``core.purify.nft_purify`` with the task's crop + flip
and MixUp; the ``ft`` defense with crop + flip), on random 32×32 images (10 classes), batch 128,
one CPU thread. The time of a step is the time between two consecutive calls of the task loss
(one per step in both loops: augmentation, forward, backward, optimiser step, NFT's clamp); the
first ``--warmup`` steps of every run are dropped; the table reports the median over
``--repeats`` interleaved runs of each loop. Two clocks: the process's CPU time (what the
ratio is taken from: on a shared machine the wall time of a step also counts the time other
jobs hold the core, which changes by 2-4× within minutes) and the wall time.
This script imports only ``core`` and ``tasks``, so run as a file it measures whichever
checkout is first on the path: ``PYTHONPATH=/path/to/checkout python
benchmarks/studies/nft_step_speed.py`` times another checkout's code (how the "before" row of
``results/nft_step_speed.md`` was taken, at f8af062, then with ``NFT_REPO=`` doing the job of
``PYTHONPATH=``).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

import core
from core.data import TensorData
from core.defenses.ft import FT, FTConfig
from core.defenses.nft import NFT
from core.registry import MODELS, TASKS
import tasks  # noqa: F401  (registers the image task and its models)


def step_times(run, adapter) -> list[tuple[float, float]]:
    """Run ``run()`` with the adapter's loss timed; (CPU, wall) seconds between consecutive
    calls."""
    stamps: list[tuple[float, float]] = []
    loss = type(adapter).loss

    def timed(model, inputs, targets):
        stamps.append((time.process_time(), time.perf_counter()))
        return loss(adapter, model, inputs, targets)

    adapter.loss = timed
    try:
        run()
    finally:
        del adapter.loss
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps, stamps[1:])]


def measure(name: str, batch: int, steps: int, warmup: int, repeats: int) -> dict:
    torch.manual_seed(0)
    adapter = TASKS.get("image")()
    adapter.num_classes = 10
    model = MODELS.get(name, namespace="image")(num_classes=10, in_channels=3, image_size=32)
    count = steps + warmup + 1                       # count calls give count - 1 gaps
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.rand(batch * count, 3, 32, 32, generator=g),
                      torch.arange(batch * count) % 10)
    nft = NFT.from_options({"iterations": count, "batch_size": batch, "progress": False})
    ft = FT(FTConfig(epochs=1, batch_size=batch, progress=False))
    times: dict[str, list[tuple[float, float]]] = {"nft": [], "ft": []}
    for _ in range(repeats):
        for label, defense in (("nft", nft), ("ft", ft)):
            gaps = step_times(lambda: defense.purify(model, adapter, data, "cpu", 0), adapter)
            times[label] += gaps[warmup:]
    cpu = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    wall = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    return {"model": name, "nft_cpu_s": cpu["nft"], "ft_cpu_s": cpu["ft"],
            "ratio": cpu["nft"] / cpu["ft"], "nft_wall_s": wall["nft"], "ft_wall_s": wall["ft"],
            "wall_ratio": wall["nft"] / wall["ft"], "nft_steps": len(times["nft"]),
            "ft_steps": len(times["ft"])}


def breakdown(name: str, batch: int, repeats: int = 3) -> dict:
    """CPU seconds (median of ``repeats``) of one forward pass in train mode without autograd,
    of forward + backward for NFT's masks only (``core.flat_masks``, weights frozen), and of
    forward + backward for all weights (FT), on one batch, without augmentation or optimiser."""
    import copy

    import torch.nn.functional as F
    from core.flat_masks import inject_flat_masks

    TASKS.get("image")        # registers the image models
    torch.manual_seed(0)
    model = MODELS.get(name, namespace="image")(num_classes=10, in_channels=3, image_size=32)
    x, y = torch.rand(batch, 3, 32, 32), torch.arange(batch) % 10
    ft, nft = copy.deepcopy(model).train(), copy.deepcopy(model).train()
    for p in nft.parameters():
        p.requires_grad_(False)
    masks = inject_flat_masks(nft, x[:2])

    def forward() -> None:
        with torch.no_grad():
            ft(x)

    def ft_step() -> None:
        ft.zero_grad(set_to_none=True)
        F.cross_entropy(ft(x), y).backward()

    def nft_step() -> None:
        masks.vector.grad = None
        (F.cross_entropy(nft(x), y) + masks.l1()).backward()

    out = {"model": name}
    for label, fn in (("forward", forward), ("nft_fwd_bwd", nft_step), ("ft_fwd_bwd", ft_step)):
        fn()
        times = []
        for _ in range(repeats):
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
        out[label] = statistics.median(times)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="resnet18,preact_resnet18")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each loop")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--breakdown", action="store_true",
                        help="instead: CPU s of forward, NFT fwd+bwd and FT fwd+bwd on one batch")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.breakdown:
        print("| model | forward (no grad) | NFT forward + backward | FT forward + backward | "
              "NFT / FT |")
        print("|---|---|---|---|---|")
        for m in args.models.split(","):
            r = breakdown(m, args.batch_size)
            print(f"| {m} | {r['forward']:.3f} | {r['nft_fwd_bwd']:.3f} | {r['ft_fwd_bwd']:.3f} | "
                  f"{r['nft_fwd_bwd'] / r['ft_fwd_bwd']:.2f}× |")
        return 0
    rows = [measure(m, args.batch_size, args.steps, args.warmup, args.repeats)
            for m in args.models.split(",")]
    code = Path(core.__file__).resolve().parent.parent
    print(f"code: {code}; torch {torch.__version__}; {platform.processor() or platform.machine()}; "
          f"{torch.get_num_threads()} thread; batch {args.batch_size}")
    print("| model | NFT CPU s/step | FT CPU s/step | NFT / FT (CPU) | NFT wall s/step | "
          "FT wall s/step | NFT / FT (wall) | steps timed (NFT, FT) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['nft_cpu_s']:.3f} | {r['ft_cpu_s']:.3f} | {r['ratio']:.2f}× | "
              f"{r['nft_wall_s']:.3f} | {r['ft_wall_s']:.3f} | {r['wall_ratio']:.2f}× | "
              f"{r['nft_steps']}, {r['ft_steps']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
