"""Purify one image classifier with NFT, for practitioners.

    python benchmarks/purify.py --arch preact_resnet18 --weights model.safetensors \
        --num-classes 10 --clean-dir my_clean_images --out purified.safetensors \
        [--trigger-dir triggered_images --target 0] [--image-size 32] [--holdout 0.2] \
        [--set nft.epochs=100] [--device cuda]

``--clean-dir`` holds one sub-folder per class (``0/``, ``1/``, … or names: class index = the
folder's number when every name is an integer, else its position in sorted order). A class-
balanced ``--holdout`` share is kept aside to measure clean accuracy before and after; NFT
(``core/defenses/nft.py``) runs on the rest. ``--trigger-dir`` (images directly inside, or in
class sub-folders) measures the attack success rate: the share predicted as ``--target``
(images in the target's own class folder are not counted). The model must be one of the
image zoo's architectures (``--arch``) and take images in [0, 1] without normalisation.

Weights: ``.safetensors``, a ``torch.save``'d state_dict that loads with
``torch.load(weights_only=True)`` (anything needing code to unpickle is refused), or a
TorchScript archive (``--torchscript``) whose ``state_dict`` fits ``--arch``. The purified
model is written as safetensors with the same keys as the input: it loads into ``--arch``
without this library. Exit codes: 0 done, 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script from a checkout: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.checkpoint import UnsafeCheckpointError, load_state_dict, save_model  # noqa: E402
from core.config import ConfigError  # noqa: E402
from core.data import TensorData  # noqa: E402

NFT_DEFAULT_BATCH = 128


class PurifyInputError(ValueError):
    """Bad input to the purify command (exit code 2)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", required=True, help="image model name, e.g. preact_resnet18")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", type=Path, help=".safetensors (or a weights-only .pt/.pth)")
    source.add_argument("--torchscript", type=Path, help="TorchScript archive of the same --arch")
    parser.add_argument("--num-classes", type=int, required=True)
    parser.add_argument("--clean-dir", type=Path, required=True, help="clean images, <class>/*")
    parser.add_argument("--trigger-dir", type=Path, help="triggered images (measures ASR)")
    parser.add_argument("--target", type=int, default=0, help="the attacker's target class")
    parser.add_argument("--out", type=Path, required=True, help="purified .safetensors")
    parser.add_argument("--image-size", type=int, help="resize every image to this square size")
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="share of each class kept aside to measure accuracy (0 = none)")
    parser.add_argument("--no-flip", action="store_true", help="no horizontal flips in NFT")
    parser.add_argument("--set", action="append", default=[], metavar="nft.KEY=VALUE",
                        help="NFT option, e.g. nft.epochs=50 or nft.augmentation=cutmix")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


# -- inputs -------------------------------------------------------------------------------------
def class_folders(root: Path, num_classes: int,
                  known: dict[str, int] | None = None) -> list[tuple[int, str]]:
    """(label, folder name) per class folder of ``root``; with ``known`` (the clean folder's
    name -> label) every folder must be one of those names."""
    from tasks.image.datasets.common import list_subdirs

    if not root.is_dir():
        raise PurifyInputError(f"{root} is not a folder")
    names = list_subdirs(root)
    if not names:
        raise PurifyInputError(f"{root} has no class sub-folders: put the images of class k "
                               f"under {root}/k/ (or one named folder per class)")
    if known is not None:
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise PurifyInputError(f"{root}: folder(s) {unknown[:5]} are not class folders of "
                                   f"--clean-dir")
        return [(known[n], n) for n in names]
    if all(n.isdigit() for n in names):
        pairs = [(int(n), n) for n in names]
    else:
        pairs = list(enumerate(sorted(names)))
    bad = [n for label, n in pairs if not 0 <= label < num_classes]
    if bad:
        raise PurifyInputError(f"{root}: class folder(s) {bad} do not map to a class index in "
                               f"0..{num_classes - 1} (--num-classes {num_classes})")
    return pairs


def read_folder(root: Path, num_classes: int, image_size: int | None,
                known: dict[str, int] | None = None, labelled: bool = True) -> TensorData:
    """Images of ``root`` as float [0, 1] tensors; labels from class folders (-1 if flat)."""
    from tasks.image.datasets.common import ImageDecodeError, decode_images, list_images

    paths, labels = [], []
    if labelled or any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        for label, name in class_folders(root, num_classes, known):
            files = list_images(root / name)
            paths += [root / name / f for f in files]
            labels += [label] * len(files)
    else:
        paths = [root / f for f in list_images(root)]
        labels = [-1] * len(paths)
    if not paths:
        raise PurifyInputError(f"no images found under {root}")
    try:
        images = decode_images(paths, image_size)
    except (ImageDecodeError, ValueError, OSError) as exc:
        raise PurifyInputError(f"{root}: {exc}") from None
    return TensorData(images.float().div_(255.0), torch.tensor(labels, dtype=torch.long))


def holdout_split(targets: torch.Tensor, share: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced (train, held-out) indices: ``share`` of every class held out (at least
    one image of a class with two or more when ``share`` > 0)."""
    from core.seeding import make_generator

    generator = make_generator(seed)
    train, held = [], []
    for c in torch.unique(targets).tolist():
        members = torch.nonzero(targets == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        k = round(share * len(members))
        if share > 0 and len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)
        held.append(members[:k])
        train.append(members[k:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(held)).values


def load_weights(args: argparse.Namespace, model: torch.nn.Module) -> None:
    if args.torchscript is not None:
        if not args.torchscript.is_file():
            raise PurifyInputError(f"--torchscript {args.torchscript} not found")
        try:
            scripted = torch.jit.load(str(args.torchscript), map_location="cpu")
        except Exception as exc:
            raise PurifyInputError(f"{args.torchscript} is not a TorchScript archive: "
                                   f"{str(exc).splitlines()[0]}") from None
        state = scripted.state_dict()
        where = args.torchscript
    else:
        state = load_state_dict(args.weights)       # refuses code-executing pickles
        where = args.weights
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise PurifyInputError(
            f"{where} does not fit --arch {args.arch} with {args.num_classes} classes: "
            f"{len(result.missing_keys)} missing key(s) {result.missing_keys[:3]}, "
            f"{len(result.unexpected_keys)} unexpected {result.unexpected_keys[:3]}")


def nft_options(items: list[str]) -> dict:
    import yaml

    options = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.startswith("nft.") or len(key) <= 4:
            raise PurifyInputError(f"--set expects nft.KEY=VALUE, got {item!r}")
        options[key[4:]] = yaml.safe_load(raw)
    return options


# -- the command --------------------------------------------------------------------------------
def purify(args: argparse.Namespace) -> dict:
    import importlib

    importlib.import_module("tasks")   # registers the image task
    from core.defenses.nft import NFT
    from core.registry import MODELS
    from tasks.image.adapter import ImageDataOptions, ImageTask

    if args.num_classes < 2:
        raise PurifyInputError("--num-classes must be at least 2")
    if not 0.0 <= args.holdout < 1.0:
        raise PurifyInputError(f"--holdout must lie in [0, 1), got {args.holdout}")
    if args.out.suffix != ".safetensors":
        raise PurifyInputError(f"--out must end in .safetensors, got {args.out}")
    if args.image_size is not None and args.image_size < 8:
        raise PurifyInputError("--image-size must be at least 8")
    if not 0 <= args.target < args.num_classes:
        raise PurifyInputError(f"--target {args.target} is not a class of {args.num_classes}")
    options = nft_options(args.set)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    factory = MODELS.get(args.arch, namespace="image")

    if not args.clean_dir.is_dir():
        raise PurifyInputError(f"--clean-dir {args.clean_dir} is not a folder")
    classes = {name: label for label, name in class_folders(args.clean_dir, args.num_classes)}
    data = read_folder(args.clean_dir, args.num_classes, args.image_size, classes)
    size = int(data.inputs.shape[-1])
    if data.inputs.shape[-2] != size:
        raise PurifyInputError(f"images are {data.inputs.shape[-1]}×{data.inputs.shape[-2]}, "
                               f"not square: pass --image-size")
    model = factory(num_classes=args.num_classes, in_channels=3, image_size=size)
    load_weights(args, model)
    model = model.to(device).eval()

    train_idx, held_idx = holdout_split(data.targets, args.holdout, args.seed)
    clean, held = data.subset(train_idx), data.subset(held_idx)
    adapter = ImageTask()
    adapter.num_classes = args.num_classes
    adapter.options = ImageDataOptions(image_size=size, flip=not args.no_flip)
    adapter.dataset = "image_folder"
    if "batch_size" not in options and len(clean) < NFT_DEFAULT_BATCH:
        options["batch_size"] = len(clean)
        print(f"note: {len(clean)} clean images for NFT, fewer than a batch of "
              f"{NFT_DEFAULT_BATCH}; using batch_size={len(clean)}", file=sys.stderr)
    defense = NFT.from_options({"progress": not args.no_progress, **options})

    trigger = None
    if args.trigger_dir is not None:
        if not args.trigger_dir.is_dir():
            raise PurifyInputError(f"--trigger-dir {args.trigger_dir} is not a folder")
        trigger = read_folder(args.trigger_dir, args.num_classes, size, classes, labelled=False)
        if tuple(trigger.inputs.shape[1:]) != tuple(data.inputs.shape[1:]):
            raise PurifyInputError(f"trigger images are {tuple(trigger.inputs.shape[1:])}, clean "
                                   f"ones {tuple(data.inputs.shape[1:])}: pass --image-size")
        trigger = trigger.subset(torch.nonzero(trigger.targets != args.target).flatten())

    def scores(net: torch.nn.Module) -> dict:
        from core.classification import percent, predict

        out = {}
        if len(held):
            out["clean_acc"] = adapter.evaluate(net, held, None, device)["clean_acc"]
        if trigger is not None and len(trigger):
            out["asr"] = percent(predict(net, trigger.inputs, device) == args.target)
        return out

    before = scores(model)
    result = defense.purify(model, adapter, clean, device, args.seed)
    after = scores(result.model)
    save_model(result.model, args.out, metadata={
        "arch": args.arch, "num_classes": args.num_classes, "image_size": size,
        "source": str(args.weights or args.torchscript), "defense": defense.describe(),
        "clean_images": len(clean), "holdout_images": len(held), "before": before,
        "after": after})
    return {"out": str(args.out), "clean_images": len(clean), "holdout_images": len(held),
            "trigger_images": 0 if trigger is None else len(trigger), "before": before,
            "after": after, "defense_s": round(result.wall_time_s, 3), "device": str(device)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = purify(args)
    except (PurifyInputError, UnsafeCheckpointError, ConfigError, ValueError, KeyError,
            FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"held-out clean images: {summary['holdout_images']}, NFT on {summary['clean_images']}"
          f", triggered images: {summary['trigger_images']}, NFT {summary['defense_s']:.1f} s on "
          f"{summary['device']}")
    for metric in sorted(set(summary["before"]) | set(summary["after"])):
        print(f"{metric:>9}: before {summary['before'].get(metric, float('nan')):6.2f} %   "
              f"after {summary['after'].get(metric, float('nan')):6.2f} %")
    if not summary["before"]:
        print("(no held-out part and no --trigger-dir: nothing measured)")
    print(f"purified model written to {summary['out']}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
