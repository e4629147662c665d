"""The video action-recognition task adapter (UCF-101, HMDB-51, the composed ``moving_objects``
set, in-memory ``synthetic`` clips).

Clips are decoded once (one frame in ``frame_step``, ``num_frames`` frames of ``frame_size``²,
cached) and kept as uint8 tensors (N, T, 3, H, W) on the device; ``TensorData.transform``
(``clip_to_unit``) turns each batch into float in [0, 1] when a loop reads it, so training, NFT,
the defenses (I-BAU and AWM perturb those float batches) and evaluation see float clips while
storage stays 8-bit. Attacks poison the stored uint8 clips (rounded to 8 bits, as a video file
would be). ``storage: float32`` keeps float clips instead (4× the memory). The models also
accept uint8 clips directly.

Splits (docs/design.md §5b): the defender's clean set is ``clean_fraction`` of every class (paper: 5 %)
held out from the official training split before anything else; ``train_per_class`` /
``test_per_class`` take seeded / leading class-balanced subsets for CPU presets.

Bad videos (``core/bad_data.py``): a corrupt or truncated file, or one whose sampled frames fall
short of ``num_frames`` (``short: refuse``, the default), stops the load naming it, or is
skipped and listed with ``on_error: skip``; ``short: pad`` repeats the last frame of an intact
short video instead (counted in ``padded_clips``).

``pretrained_cnn`` (a path) loads local torchvision ResNet weights into the frame CNN, as the
paper's ImageNet-pretrained ResNet-50 (nothing is downloaded; safetensors or a plain state_dict).

Metrics: ``clean_acc``, ``asr``, ``lcr`` (core classification rules) and ``static_acc``: clean
accuracy when every frame of a clip is replaced by its middle frame, i.e. what the model can
tell from a single frame. On the motion datasets ``clean_acc`` far above ``static_acc`` shows
that the model uses the order of frames.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from core.adapter import Splits
from core.attack import Attack
from core.augment import Augmentation
from core.classification import ClassificationAdapter, percent, predict
from core.config import from_dict
from core.data import TensorData, class_balanced_splits
from core.bad_data import data_fingerprint
from core.registry import AUGMENTATIONS, DATASETS, TASKS
from core.seeding import make_generator

from .datasets import DecodeSettings

DEFAULT_DATA_ROOT = "data"
NO_FLIP = {"moving_objects", "synthetic"}   # mirroring swaps their motion classes


@dataclass(frozen=True)
class VideoDataOptions:
    num_frames: int = 8                   # sampled frames per clip
    frame_size: int = 112                 # paper: fixed size (ResNet-50 on GPU: 112-224)
    frame_step: int = 5                   # paper: one frame in five
    split: int = 1                        # official split 1..3
    short: Literal["pad", "refuse"] = "refuse"       # clips with too few frames: a bad file
    on_error: Literal["raise", "skip"] = "raise"     # corrupt / unreadable videos
    clean_fraction: float = 0.05          # paper: 5 % of every class
    clean_per_class: int | None = None    # overrides clean_fraction
    train_per_class: int | None = None
    test_per_class: int | None = None
    crop_padding: int = 4
    flip: bool | None = None              # None: on, except for the motion datasets
    storage: Literal["uint8", "float32"] = "uint8"
    synthetic_classes: int = 4            # dataset "synthetic" only
    pretrained_cnn: str | None = None     # local torchvision ResNet weights for the frame CNN

    def __post_init__(self) -> None:
        for name in ("num_frames", "frame_size", "frame_step", "split", "synthetic_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if not 0.0 < self.clean_fraction < 1.0:
            raise ValueError(f"clean_fraction must lie in (0, 1), got {self.clean_fraction}")
        for name in ("clean_per_class", "train_per_class", "test_per_class"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")
        if self.crop_padding < 0:
            raise ValueError("crop_padding must be ≥ 0")
        if self.short not in ("pad", "refuse") or self.on_error not in ("raise", "skip"):
            raise ValueError("short must be 'pad' or 'refuse', on_error 'raise' or 'skip'")
        if self.storage not in ("uint8", "float32"):
            raise ValueError(f"storage must be 'uint8' or 'float32', got {self.storage!r}")





def clip_to_unit(clips: torch.Tensor) -> torch.Tensor:
    """uint8 clips → float32 in [0, 1] (the per-batch ``TensorData`` transform)."""
    return clips.float().div(255.0) if clips.dtype == torch.uint8 else clips


def static_clips(clips: torch.Tensor) -> torch.Tensor:
    """Every frame replaced by the clip's middle frame (what a single frame shows)."""
    middle = clips[:, clips.shape[1] // 2]
    return middle[:, None].expand_as(clips)


@TASKS.register("video")
class VideoTask(ClassificationAdapter):
    name = "video"
    input_noun = "clips"
    probe_model = True
    default_preset = "video_smoke"   # run.py --task video alone
    higher_is_better: ClassVar[dict[str, bool]] = {"clean_acc": True, "asr": False, "lcr": True,
                                                    "static_acc": True}

    def __init__(self) -> None:
        super().__init__()
        self.options = VideoDataOptions()
        self.dataset = ""

    def load_splits(self, dataset: str, data_root: Path | None, options: dict[str, Any],
                    seed: int) -> Splits:
        opts = from_dict(VideoDataOptions, options)
        loader = DATASETS.get(dataset, namespace=self.name)
        root = Path(data_root or os.environ.get("NFT_DATA_ROOT", DEFAULT_DATA_ROOT))
        settings = DecodeSettings(opts.num_frames, opts.frame_size, opts.frame_step, opts.short,
                                  opts.on_error)
        raw = loader(root, settings, opts.split, num_classes=opts.synthetic_classes)
        num_classes = len(raw.classes)
        parts = class_balanced_splits(
            raw.train_y, raw.test_y, num_classes, make_generator(seed),
            clean_per_class=opts.clean_per_class, clean_fraction=opts.clean_fraction,
            train_per_class=opts.train_per_class, test_per_class=opts.test_per_class)
        held, train_index, test_index = parts.clean, parts.train, parts.test
        store = (lambda x: x.float().div_(255.0)) if opts.storage == "float32" else (lambda x: x)
        transform = clip_to_unit if opts.storage == "uint8" else None
        self.num_classes, self.options, self.dataset = num_classes, opts, dataset
        return Splits(
            train=TensorData(store(raw.train_x[train_index]), raw.train_y[train_index], transform),
            test=TensorData(store(raw.test_x[test_index]), raw.test_y[test_index], transform),
            clean=TensorData(store(raw.train_x[held]), raw.train_y[held], transform),
            num_classes=num_classes,
            info={"classes": list(raw.classes), "clip_shape": list(raw.train_x.shape[1:]),
                  **parts.info(), "padded_clips": raw.padded, "skipped_videos": raw.skipped,
                  "on_error": opts.on_error, "bad_files": len(raw.skipped),
                  "bad_file_list": list(raw.skipped),
                  "fingerprint": data_fingerprint(raw.files) if raw.files else None})

    def model_kwargs(self, splits: Splits) -> dict[str, Any]:
        return {"pretrained": self.options.pretrained_cnn}

    def train_augmentation(self) -> Augmentation:
        flip = self.options.flip if self.options.flip is not None else self.dataset not in NO_FLIP
        return AUGMENTATIONS.get("clip_crop_flip", namespace=self.name)(
            self, padding=self.options.crop_padding, flip=flip)

    def input_bounds(self) -> tuple[float, float]:
        return 0.0, 1.0          # float clips are in [0, 1]; normalisation is in the model

    def evaluate(self, model: nn.Module, test: TensorData, attack: Attack | None,
                 device: torch.device, batch_size: int = 512) -> dict[str, float]:
        metrics = super().evaluate(model, test, attack, device, batch_size)
        preds = predict(model, static_clips(test.inputs), device, batch_size)
        metrics["static_acc"] = percent(preds == test.targets.cpu())
        return metrics
