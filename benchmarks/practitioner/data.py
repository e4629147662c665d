"""Inputs of the practitioner path: normalisation, image folders, the held-out split, checksums.

Images are read as float32 in [0, 1] (N, 3, H, W); the model's own normalisation is applied by
``practitioner_output.Normalized`` around it, never to the data.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import torch

from benchmarks.practitioner.models import PractitionerInputError
from core.data import TensorData

#: named ``--normalize`` presets: (mean, std) per RGB channel
NORMALIZE_PRESETS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),      # [-1, 1] inputs (GAN / many timm ViTs)
}
RESIZE_MODES = ("square", "center_crop")


def parse_normalize(value: str | Sequence | None, channels: int = 3
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``--normalize``: a preset name, ``MEAN,STD`` (one value for every channel), ``C`` means
    then ``C`` stds (``0.49,0.48,0.45,0.25,0.24,0.26``; ``;`` or ``/`` may separate the two
    groups), or a (mean, std) pair of sequences. None: the model takes [0, 1] images."""
    if value is None:
        value = "none"
    if isinstance(value, str):
        if value.lower() in NORMALIZE_PRESETS:
            mean, std = NORMALIZE_PRESETS[value.lower()]
            return torch.tensor(mean), torch.tensor(std)
        parts = [p for p in value.replace(";", ",").replace("/", ",").split(",") if p.strip()]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise PractitionerInputError(
                f"--normalize {value!r} is neither a preset ({', '.join(NORMALIZE_PRESETS)}) "
                f"nor numbers") from None
        if len(numbers) == 2:
            mean, std = [numbers[0]] * channels, [numbers[1]] * channels
        elif len(numbers) == 2 * channels:
            mean, std = numbers[:channels], numbers[channels:]
        else:
            raise PractitionerInputError(
                f"--normalize got {len(numbers)} number(s) for {channels}-channel images: give "
                f"MEAN,STD (2 numbers), {channels} means then {channels} stds "
                f"({2 * channels} numbers), or a preset ({', '.join(NORMALIZE_PRESETS)})")
    else:
        try:
            mean, std = value
            mean = [float(mean)] * channels if isinstance(mean, (int, float)) else list(mean)
            std = [float(std)] * channels if isinstance(std, (int, float)) else list(std)
        except (TypeError, ValueError):
            raise PractitionerInputError(f"normalize must be a preset name or (mean, std), "
                                         f"got {value!r}") from None
        if len(mean) != channels or len(std) != channels:
            raise PractitionerInputError(f"normalize has {len(mean)} mean(s) and {len(std)} "
                                         f"std(s); the images have {channels} channels")
    if any(s <= 0 for s in std):
        raise PractitionerInputError(f"--normalize: every std must be > 0, got {list(std)}")
    return torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)


# -- image folders ------------------------------------------------------------------------------
def class_folders(root: Path, num_classes: int,
                  known: dict[str, int] | None = None) -> list[tuple[int, str]]:
    """(label, folder name) per class folder of ``root``: the folder's number when every name is
    an integer, else its position in sorted order. With ``known`` (the clean folder's name ->
    label) every folder must be one of those names."""
    from tasks.image.datasets.folders import list_subdirs

    if not root.is_dir():
        raise PractitionerInputError(f"{root} is not a folder")
    names = list_subdirs(root)
    if not names:
        raise PractitionerInputError(f"{root} has no class sub-folders: put the images of class "
                                     f"k under {root}/k/ (or one named folder per class)")
    if known is not None:
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise PractitionerInputError(f"{root}: folder(s) {unknown[:5]} are not class folders "
                                         f"of --clean-dir")
        return [(known[n], n) for n in names]
    pairs = ([(int(n), n) for n in names] if all(n.isdigit() for n in names)
             else list(enumerate(sorted(names))))
    bad = [n for label, n in pairs if not 0 <= label < num_classes]
    if bad:
        raise PractitionerInputError(
            f"{root}: class folder(s) {bad[:5]} do not map to a class index in "
            f"0..{num_classes - 1}: the model has {num_classes} classes (--num-classes)")
    return pairs


def image_paths(root: Path, num_classes: int, known: dict[str, int] | None = None,
                labelled: bool = True) -> tuple[list[Path], list[int]]:
    """Image files of ``root`` and their labels (-1 for a flat, unlabelled folder)."""
    from tasks.image.datasets.folders import list_images

    if not root.is_dir():
        raise PractitionerInputError(f"{root} is not a folder")
    paths: list[Path] = []
    labels: list[int] = []
    if labelled or any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        for label, name in class_folders(root, num_classes, known):
            files = list_images(root / name)
            paths += [root / name / f for f in files]
            labels += [label] * len(files)
    else:
        paths = [root / f for f in list_images(root)]
        labels = [-1] * len(paths)
    if not paths:
        raise PractitionerInputError(f"no images found under {root}")
    return paths, labels


def first_image_size(path: Path) -> tuple[int, int]:
    """(width, height) of one image file, read from its header."""
    from PIL import Image

    with Image.open(path) as img:
        return img.size


def read_images(paths: list[Path], labels: list[int], image_size: int | None,
                resize: str = "square", desc: str = "decoding") -> TensorData:
    """Decode ``paths`` into float [0, 1] images; mixed sizes need ``image_size``."""
    from tasks.image.datasets.decoding import ImageDecodeError, decode_images

    if resize not in RESIZE_MODES:
        raise PractitionerInputError(f"--resize must be one of {RESIZE_MODES}, got {resize!r}")
    try:
        images = decode_images(paths, image_size, resize=resize, desc=desc)
    except ValueError as exc:     # ImageDecodeError included: a bad file or an odd size
        if "image_size" not in str(exc):
            if isinstance(exc, ImageDecodeError):
                raise PractitionerInputError(str(exc)) from None
            raise
        detail = str(exc).split(";")[0]
        raise PractitionerInputError(
            f"the images differ in size ({detail}); pass --image-size to resize them all to one "
            f"square size, e.g. --image-size 32 (--resize square stretches, center_crop keeps "
            f"the aspect ratio)") from None
    if images.shape[-1] != images.shape[-2]:
        raise PractitionerInputError(
            f"the images are {images.shape[-1]}×{images.shape[-2]}, not square: pass "
            f"--image-size, e.g. --image-size {min(images.shape[-2:])}")
    return TensorData(images.float().div_(255.0), torch.tensor(labels, dtype=torch.long))


def holdout_split(targets: torch.Tensor, share: float, seed: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
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


# -- checksums ----------------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def folder_sha256(root: Path, paths: list[Path]) -> str:
    """One checksum over every image's path (relative to ``root``) and bytes, in order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(root)).encode("utf-8", "surrogateescape") + b"\0")
        digest.update(path.read_bytes())
    return "sha256:" + digest.hexdigest()
