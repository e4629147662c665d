"""Seconds per victim-training step in both CPU numeric paths (float32 and bf16 autocast).

    python -m benchmarks.studies.victim_step_speed                                   # airbench_cpu, airbench
    ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI python -m benchmarks.studies.victim_step_speed   # bf16 emulated

One step of ``core.training.fit`` as the ``quick`` preset trains its victim (the preset's train
options: batch 1024, Nesterov SGD, lookahead, label smoothing; translate 2 px + flip), on
random 32×32 images, one thread; ``cpu_bf16`` forced to false, then to true. The time of a step
is the gap between two consecutive calls of the task loss; the first ``--warmup`` gaps of each
run are dropped, the table gives the median (and min/max) over ``--repeats`` interleaved runs.
Both clocks are printed: the process's CPU time (the fair one on a shared machine) and the wall
time. The header names the CPU, its native-bf16 flags and what ``cpu_bf16: auto`` resolves to
here, so a reader sees which path the suite takes on this machine and what it costs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

from benchmarks.studies.nft_step_speed import step_times
from benchmarks.runner.presets import load_preset
from core.config import from_dict
from core.cpu_numerics import resolve_cpu_bf16
from core.data import TensorData
from core.registry import AUGMENTATIONS, MODELS, TASKS
from core.training import TrainConfig, fit
import tasks  # noqa: F401  (registers the image task and its models)


def measure(name: str, preset: str, steps: int, warmup: int, repeats: int) -> list[dict]:
    options = {**load_preset(preset).train, "progress": False}
    batch = int(options.get("batch_size", 128))
    adapter = TASKS.get("image")()
    adapter.num_classes = 10
    augmentation = AUGMENTATIONS.get("crop_flip", namespace="image")(adapter, padding=2,
                                                                      flip=True)
    count = steps + warmup + 1                       # count calls give count - 1 gaps
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.rand(batch * count, 3, 32, 32, generator=g),
                      torch.arange(batch * count) % 10)
    times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(repeats):
        for bf16 in (False, True):
            torch.manual_seed(0)
            model = MODELS.get(name, namespace="image")(num_classes=10, in_channels=3,
                                                        image_size=32)
            config = from_dict(TrainConfig, {**options, "epochs": 1, "cpu_bf16": bf16})
            gaps = step_times(lambda: fit(model, adapter, data, config, "cpu", 0,
                                          augmentation=augmentation), adapter)
            times[bf16] += gaps[warmup:]
    rows = []
    for bf16, gaps in times.items():
        cpu, wall = [t[0] for t in gaps], [t[1] for t in gaps]
        rows.append({"model": name, "batch": batch, "path": "bf16" if bf16 else "float32",
                     "cpu_s": statistics.median(cpu), "cpu_min_s": min(cpu),
                     "cpu_max_s": max(cpu), "wall_s": statistics.median(wall),
                     "steps_timed": len(gaps)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="airbench_cpu,airbench")
    parser.add_argument("--preset", default="quick", help="whose train options to time")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each path")
    parser.add_argument("--json", type=Path, help="also write the rows and the machine here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    auto = resolve_cpu_bf16("auto").as_record()
    print(f"CPU: {auto['cpu']}; native bf16 flags: {auto['native_bf16_flags'] or 'none'}; "
          f"oneDNN cap: {auto['onednn_max_cpu_isa'] or 'none'}; ATen: "
          f"{auto['aten_cpu_capability']}; torch {torch.__version__}; 1 thread")
    print(f"cpu_bf16 auto -> {auto['path']} ({auto['reason']})")
    rows = [r for m in args.models.split(",")
            for r in measure(m, args.preset, args.steps, args.warmup, args.repeats)]
    print("| model | batch | path | CPU s/step (median) | CPU min-max | wall s/step | steps |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['path']} | {r['cpu_s']:.2f} | "
              f"{r['cpu_min_s']:.2f}-{r['cpu_max_s']:.2f} | {r['wall_s']:.2f} | "
              f"{r['steps_timed']} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": auto, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
