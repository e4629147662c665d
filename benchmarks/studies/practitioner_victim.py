"""Train a third-party-style backdoored CIFAR-10 model, as a practitioner might receive one.

    python -m benchmarks.studies.practitioner_victim --data data/practitioner/cifar10 --out data/victim \
        [--epochs 8] [--poison-rate 0.1] [--target 0] [--seed 0]

Deliberately plain code, not the suite: ``torchvision.models.resnet18(num_classes=10)`` (its
ImageNet stem: 7×7 stride-2 conv + max-pool), inputs normalised with the CIFAR-10 mean/std,
SGD with momentum and a one-cycle learning rate, random crop + flip. The backdoor is BadNets
(Gu et al. 2017): ``--poison-rate`` of the training images (drawn from the non-target classes)
are relabelled to ``--target`` (all-to-one) and carry a 3×3 black-and-white checkerboard in the
bottom-right corner, as in the design notes §5 (poison rate 10 %, target 0). The trigger is
stamped after the crop + flip, at the fixed place where test images carry it: stamped before,
the 4-pixel random crop moved or cut the 3×3 patch, and 8 epochs left the ASR at 3.9 %.

``--data`` is CIFAR-10 in image-folder layout (``train/<class>/*.jpg``, ``test/<class>/*.jpg``;
``../shared/datasets/cifar10-jpg.tar.gz`` unpacked), or any other folder, where
``torchvision.datasets.CIFAR10(--data, download=True)`` reads (and on first use downloads) the
official release. ``--out`` receives

* ``victim.safetensors``: the model's state_dict (what a practitioner would download);
* ``clean/<class>/``: the first ``--clean-per-class`` test images of every class (the
  practitioner's little clean set, copied unchanged);
* ``test/<class>/``: the next ``--test-per-class`` test images of every class (clean accuracy);
* ``triggered/``: those test images of the non-target classes with the trigger, as PNG;
* ``victim.json``: the settings and the model's clean accuracy / ASR on the whole test split.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--poison-rate", type=float, default=0.1)
    parser.add_argument("--target", type=int, default=0)
    parser.add_argument("--train-per-class", type=int, help="default: all 5,000")
    parser.add_argument("--clean-per-class", type=int, default=50)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def read_split(root: Path, split: str, per_class: int | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, list[Path] | list[str]]:
    """uint8 images, labels, and the source files (image-folder layout) or, for the official
    release read by torchvision, the file names to write them under (``<class>/NNNNN.png``)."""
    from torchvision.io import ImageReadMode, decode_image

    if not (root / split).is_dir():
        import numpy as np
        from torchvision.datasets import CIFAR10

        data = CIFAR10(str(root), train=split == "train", download=True)
        labels = torch.tensor(data.targets)
        keep = torch.cat([torch.nonzero(labels == c).flatten()[:per_class]
                          for c in range(len(data.classes))]).sort().values
        images = torch.from_numpy(np.ascontiguousarray(data.data[keep.numpy()])).permute(0, 3, 1, 2)
        names = [f"{data.classes[labels[i]]}/{i:05d}.png" for i in keep.tolist()]
        return images.contiguous(), labels[keep], names
    root = root / split
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files, labels = [], []
    for label, name in enumerate(classes):
        names = sorted((root / name).iterdir())[:per_class]
        files += names
        labels += [label] * len(names)
    images = torch.stack([decode_image(str(f), mode=ImageReadMode.RGB) for f in files])
    return images, torch.tensor(labels), files


def stamp(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> the same with a 3×3 checkerboard in the bottom-right corner."""
    out = images.clone()
    board = (torch.arange(3)[:, None] + torch.arange(3)[None, :]) % 2 == 0
    out[..., -3:, -3:] = (board.to(torch.uint8) * 255)
    return out


def normalise(images: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


def crop_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=generator)
    dx = torch.randint(0, 9, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, 3, h, w + 8)
    cropped = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, 3, h, w)
    cropped = cropped.gather(3, cols)
    flip = torch.rand(n, generator=generator) < 0.5
    cropped[flip] = cropped[flip].flip(-1)
    return cropped


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(normalise(b)).argmax(1) for b in images.split(500)])


def main(argv: list[str] | None = None) -> int:
    import torchvision
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    start = time.time()
    train_x, train_y, _ = read_split(args.data, "train", args.train_per_class)
    test_x, test_y, test_files = read_split(args.data, "test")
    candidates = torch.nonzero(train_y != args.target).flatten()
    count = round(args.poison_rate * len(train_y))
    poison = candidates[torch.randperm(len(candidates), generator=generator)[:count]]
    train_y[poison] = args.target
    poisoned = torch.zeros(len(train_y), dtype=torch.bool)
    poisoned[poison] = True

    model = torchvision.models.resnet18(num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4,
                                nesterov=True)
    batch_size = min(args.batch_size, len(train_y))
    steps = args.epochs * (len(train_y) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=steps)
    bar = tqdm(total=steps, desc="training the victim", unit="step")
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_y), generator=generator)
        for i in range(len(train_y) // batch_size):
            rows = order[i * batch_size:(i + 1) * batch_size]
            images = crop_flip(train_x[rows], generator)
            hit = poisoned[rows]
            images[hit] = stamp(images[hit])         # the attacker's fixed-place trigger
            inputs = normalise(images)
            loss = F.cross_entropy(model(inputs), train_y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    acc = (predict(model, test_x) == test_y).double().mean().item() * 100
    others = test_y != args.target
    asr = (predict(model, stamp(test_x[others])) == args.target).double().mean().item() * 100

    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(args.out / "victim.safetensors"))
    from PIL import Image

    per_class: dict[int, int] = {}
    for i, (path, label) in enumerate(zip(test_files, test_y.tolist())):
        path = Path(path)
        seen = per_class.get(label, 0)
        per_class[label] = seen + 1
        if seen < args.clean_per_class:
            folder = args.out / "clean" / path.parent.name
        elif seen < args.clean_per_class + args.test_per_class:
            folder = args.out / "test" / path.parent.name
            if label != args.target:
                (args.out / "triggered").mkdir(parents=True, exist_ok=True)
                Image.fromarray(stamp(test_x[i:i + 1])[0].permute(1, 2, 0).numpy()).save(
                    args.out / "triggered" / f"{path.parent.name}_{path.stem}.png")
        else:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        if path.is_file():                  # image-folder layout: the file as it is
            shutil.copyfile(path, folder / path.name)
        else:                               # torchvision's arrays: lossless PNG
            Image.fromarray(test_x[i].permute(1, 2, 0).numpy()).save(folder / path.name)
    info = {"command": "python " + " ".join(sys.argv), "model": "torchvision.models.resnet18"
            "(num_classes=10)", "normalize": {"mean": CIFAR10_MEAN, "std": CIFAR10_STD},
            "attack": "BadNets 3x3 checkerboard, bottom-right, all-to-one, stamped after crop+flip",
            "poisoned_images": len(poison), "train_images": len(train_y), **vars(args),
            "test_clean_acc": round(acc, 2), "test_asr": round(asr, 2),
            "wall_s": round(time.time() - start, 1), "torch": torch.__version__,
            "torchvision": torchvision.__version__}
    info = {k: str(v) if isinstance(v, Path) else v for k, v in info.items()}
    (args.out / "victim.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
