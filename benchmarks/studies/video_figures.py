"""A strip of frames of clean and triggered clips (the picture the results keep).

    python -m benchmarks.studies.video_figures --preset video_quick --data-root data \
        --run runs/video_quick --out results/video_quick/clip_strip.png

Rows: a clean target-class training clip; the same clip as the clean-label attack poisons it
(PGD feature erasure + trigger; label unchanged); a clean test clip of another class; the same
test clip with the trigger (what ASR measures). The trigger is read from the run's artifact
cache (``<run>/cache/models``), so the picture shows the trigger the run used; without a cache
it is learned again.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch


def save_strip(rows: list[torch.Tensor], path: Path, scale: int = 3) -> Path:
    """Save clips (T, 3, H, W) as rows of frames (uint8 or [0, 1] float), upscaled ``scale``×."""
    from torchvision.utils import save_image

    frames = []
    for clip in rows:
        clip = clip.float().div(255.0) if clip.dtype == torch.uint8 else clip.float()
        frames.append(torch.nn.functional.interpolate(clip, scale_factor=scale, mode="nearest"))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat(frames), path, nrow=rows[0].shape[0], padding=2, pad_value=1.0)
    return path


def main(argv: list[str] | None = None) -> int:
    import importlib

    from benchmarks.runner.presets import load_preset
    from core.registry import TASKS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="video_quick")
    ap.add_argument("--data-root", type=Path, default=Path("data"))
    ap.add_argument("--run", type=Path, required=True, help="run folder (its cache holds the trigger)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    importlib.import_module("tasks")
    preset = load_preset(args.preset)
    adapter = TASKS.get("video")()
    splits = adapter.load_splits(preset.dataset, args.data_root, preset.data, args.seed)
    attack = adapter.build_attack("clean_label_video",
                                  preset.attack_options.get("clean_label_video"), splits)
    attack.artifact_dir = args.run / "cache" / "models"
    attack.prepare(splits.train, adapter, torch.device("cpu"), args.seed)
    poison = attack.poison(splits.train, torch.Generator().manual_seed(args.seed))
    i = int(poison.indices[0])
    test_i = int(torch.nonzero(splits.test.targets != attack.config.target).flatten()[0])
    test_clip = splits.test.inputs[test_i:test_i + 1]
    rows = [splits.train.inputs[i], poison.data.inputs[i], test_clip[0],
            attack.apply_trigger(test_clip)[0]]
    save_strip(rows, args.out)
    print(f"wrote {args.out} (train clip {i}, class {int(splits.train.targets[i])}; test clip "
          f"{test_i}, class {int(splits.test.targets[test_i])}; trigger cache: "
          f"{attack.artifacts})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
