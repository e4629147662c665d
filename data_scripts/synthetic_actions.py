"""Compose ``moving_objects``, a CPU-trainable action set from real images, in the UCF-101 layout.

    python data_scripts/synthetic_actions.py --data-root DIR \
        --objects ../shared/datasets/cifar10-jpg.tar.gz --backgrounds ../shared/datasets/video

What it is: 10 motion classes (``MoveLeft``, ``MoveRight``, ``MoveUp``, ``MoveDown``, ``ZoomIn``,
``ZoomOut``, ``RotateClockwise``, ``RotateCounterClockwise``, ``Bounce``, ``Shake``; see
``tasks/video/compose.py``). In every clip one real CIFAR-10 photo (any of its 10 object classes,
cut to a soft disc) moves along its class's trajectory over a real background: a random crop of
a frame of the real videos in ``--backgrounds`` (every ``.avi``/``.mp4`` there). The class is
only in the motion: the object's category and the background are drawn independently of it, and
mirrored classes (left/right, up/down, zoom in/out, the two rotations) have the same per-frame
distribution of position, size and angle, so a single frame cannot tell them apart; the model
must use time. Clips are real encoded files (MPEG-4 part 2 ``.avi`` at 25 fps, ``--frames``
frames, ``--size``² pixels), written as ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` with
``ucfTrainTestlist/classInd.txt``, ``trainlist01.txt`` and ``testlist01.txt``. As in UCF-101's
split 1, groups 1–7 are the test split, 8–25 training; a group shares its background source (one
video, one stretch of its frames), and test objects come from CIFAR-10's test images, training
objects from its training images, so no background stretch or object photo is in both splits.

What it is not: human actions, or a stand-in for UCF-101's difficulty or its numbers. Motions are
rigid, the camera is still, one object per clip, few distinct backgrounds (two source videos).
Results on it show whether a pipeline and a defense work on a model that must use time; they are
not comparable with the paper's UCF-101/HMDB-51 figures. Deterministic in ``--seed``.
"""
from __future__ import annotations

import argparse
import io
import sys
import tarfile
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from data_scripts.errors import PrepareError  # noqa: E402
from data_scripts.prepare import install, run  # noqa: E402

NAME = "moving_objects"
GROUPS = 25
TEST_GROUPS = range(1, 8)       # UCF-101 split 1: groups 1-7 are the test set


def read_objects(archive: Path) -> dict[str, list[bytes]]:
    """JPEG bytes of the CIFAR-10 image-folder archive, by split ("train"/"test")."""
    if not archive.is_file():
        raise PrepareError(f"--objects {archive} not found (the CIFAR-10 image-folder archive, "
                           f"e.g. ../shared/datasets/cifar10-jpg.tar.gz)")
    out: dict[str, list[tuple[str, bytes]]] = {"train": [], "test": []}
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and parts[0] in out and member.name.lower().endswith(
                    (".jpg", ".jpeg", ".png")):
                out[parts[0]].append((member.name, tar.extractfile(member).read()))
    if not out["train"] or not out["test"]:
        raise PrepareError(f"{archive} holds no train/<class>/*.jpg and test/<class>/*.jpg images")
    return {k: [b for _, b in sorted(v)] for k, v in out.items()}


def decode_images(blobs: list[bytes], size: int) -> torch.Tensor:
    from PIL import Image

    arrays = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB").resize((size, size)))
              for b in blobs]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255)


def read_background_frames(folder: Path) -> list[torch.Tensor]:
    """Every frame of every video in ``folder``, one float tensor (F, 3, H, W) per video."""
    import av

    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".avi", ".mp4"))
    if not videos:
        raise PrepareError(f"--backgrounds {folder}: no .avi/.mp4 video found")
    out = []
    for path in videos:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        out.append(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div(255))
    return out


def background_crops(sources: list[torch.Tensor], group: int, count: int, size: int,
                     generator: torch.Generator) -> torch.Tensor:
    """``count`` random square crops, resized to ``size``, from the group's stretch of frames."""
    import torch.nn.functional as F

    video = sources[group % len(sources)]
    stretches = GROUPS // len(sources) + 1
    part = group // len(sources)
    lo = part * len(video) // stretches
    hi = max(lo + 1, (part + 1) * len(video) // stretches)
    frames = torch.randint(lo, hi, (count,), generator=generator)
    h, w = video.shape[-2:]
    side = torch.randint(min(h, w) // 2, min(h, w) + 1, (count,), generator=generator)
    crops = []
    for f, s in zip(frames.tolist(), side.tolist()):
        top = int(torch.randint(0, h - s + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - s + 1, (1,), generator=generator))
        crop = video[f, :, top:top + s, left:left + s][None]
        crops.append(F.interpolate(crop, size=(size, size), mode="bilinear",
                                   align_corners=False, antialias=True))
    return torch.cat(crops)


def build_set(target: Path, objects: dict[str, list[bytes]], sources: list[torch.Tensor],
              args: argparse.Namespace) -> None:
    from tqdm.auto import tqdm

    from tasks.video.compose import MOTIONS, render
    from tasks.video.io import write_video

    generator = torch.Generator().manual_seed(args.seed)
    videos, lists = target / "UCF-101", target / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(MOTIONS)))
    pools = {k: torch.randperm(len(v), generator=generator) for k, v in objects.items()}
    used = {"train": 0, "test": 0}
    train_lines, test_lines = [], []
    sprite = max(16, args.size // 2)
    for group in tqdm(range(1, GROUPS + 1), desc="groups", unit="group"):
        split = "test" if group in TEST_GROUPS else "train"
        n = len(MOTIONS) * args.clips_per_group
        picks = pools[split][used[split]:used[split] + n]
        if len(picks) < n:
            raise PrepareError(f"not enough {split} object images for {args.clips_per_group} "
                               f"clips per group and class")
        used[split] += n
        sprites = decode_images([objects[split][i] for i in picks.tolist()], sprite)
        backgrounds = background_crops(sources, group, n, args.size, generator)
        labels = torch.arange(len(MOTIONS)).repeat_interleave(args.clips_per_group)
        clips = render(sprites, backgrounds, labels, args.frames, generator)
        clips = clips.mul(255).round().to(torch.uint8).permute(0, 1, 3, 4, 2)   # (N,T,H,W,3)
        for k, (clip, label) in enumerate(zip(clips, labels.tolist())):
            name = MOTIONS[label]
            rel = f"{name}/v_{name}_g{group:02d}_c{k % args.clips_per_group + 1:02d}.avi"
            (videos / name).mkdir(parents=True, exist_ok=True)
            write_video(videos / rel, clip, fps=25)
            if split == "test":
                test_lines.append(f"{rel}\n")
            else:
                train_lines.append(f"{rel} {label + 1}\n")
    (lists / "trainlist01.txt").write_text("".join(train_lines))
    (lists / "testlist01.txt").write_text("".join(test_lines))


def describe(folder: Path) -> str:
    from tasks.video.datasets import ucf101 as ucf_loader

    counts = ucf_loader.validate(folder, splits=(1,))   # every listed clip exists, none empty
    classes = ucf_loader.read_class_index(folder / "ucfTrainTestlist" / "classInd.txt")
    return (f"{len(classes)} classes, {counts['trainlist01']} training / "
            f"{counts['testlist01']} test clips")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--objects", type=Path, required=True,
                    help="CIFAR-10 image-folder archive (train/<class>/, test/<class>/)")
    ap.add_argument("--backgrounds", type=Path, required=True,
                    help="a folder of real videos whose frames become backgrounds")
    ap.add_argument("--clips-per-group", type=int, default=8,
                    help="clips per class and group (25 groups; default 8: 144 train / 56 test "
                         "clips per class)")
    ap.add_argument("--frames", type=int, default=40, help="frames per clip (default 40: 8 "
                    "after sampling one in five)")
    ap.add_argument("--size", type=int, default=64, help="frame side in pixels (default 64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    if args.clips_per_group < 1 or args.frames < 2 or args.size < 16 or args.size % 2:
        raise PrepareError("need --clips-per-group ≥ 1, --frames ≥ 2 and an even --size ≥ 16")
    torch.set_num_threads(1)

    def build(staging: Path) -> Path:
        if not args.backgrounds.is_dir():
            raise PrepareError(f"--backgrounds {args.backgrounds} is not a folder of videos")
        sources = read_background_frames(args.backgrounds)
        objects = read_objects(args.objects)
        ready = staging / "ready"
        build_set(ready, objects, sources, args)
        return ready

    source = (f"composed from {args.objects} and {args.backgrounds} (seed {args.seed}, "
              f"{args.clips_per_group} clips/group/class, {args.frames} frames, {args.size} px)")
    return install(args.data_root, NAME, build, describe, source, force=args.force)


if __name__ == "__main__":
    sys.exit(run(main))
