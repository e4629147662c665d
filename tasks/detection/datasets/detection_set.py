"""What every detection loader returns: a ``DetectionSet`` per split.

Images are uint8 (N, 3, S, S) resized to a square (the aspect ratio is not kept, as the
multi-label training code of Chen et al. / ML-Decoder resizes), with one annotation per image:
``boxes`` (k, 4) float32 ``x1, y1, x2, y2`` in pixels of the *resized* image, ``labels`` (k,)
int64 category indices (0-based, in the dataset's category order) and, for VOC, ``difficult``
(k,) flags. ``multi_hot`` turns the annotations into (N, C) float32 multi-label targets;
``source_summary`` is what the run record keeps of the files behind both splits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class DetectionSet:
    """One split: images, per-image annotations and the category names."""

    images: torch.Tensor                 # uint8 (N, 3, S, S)
    annotations: list[dict]              # {"boxes": (k, 4) float32, "labels": (k,) int64}
    categories: list[str]
    file_names: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, 3, S, S), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if len(self.annotations) != self.images.shape[0]:
            raise ValueError(f"{self.images.shape[0]} images but {len(self.annotations)} "
                             f"annotations")
        for ann in self.annotations:
            labels = ann["labels"]
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(self.categories)):
                raise ValueError(f"a label lies outside 0..{len(self.categories) - 1}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def multi_hot(self) -> torch.Tensor:
        """(N, C) float32: 1 where the image holds at least one object of the category, difficult
        objects included: the convention of Chen et al.'s VOC loader (clean-image backdoor,
        ICLR 2023; ``src_files/helper_functions/voc_dataloader.py`` of
        github.com/kangjie-chen/clean-image_backdoor sets 1 for every annotated object and has
        no "ignore" state), not the VOC devkit's 0 ("ignore") for a class whose only objects in
        the image are difficult."""
        out = torch.zeros(len(self), len(self.categories))
        for i, ann in enumerate(self.annotations):
            out[i, ann["labels"]] = 1.0
        return out


def difficult_mask(annotation: dict) -> torch.Tensor:
    """(k,) bool: the objects marked ``difficult`` (VOC); all False where the loader has none."""
    flags = annotation.get("difficult")
    if flags is None:
        return torch.zeros(len(annotation["labels"]), dtype=torch.bool)
    return flags.bool()


def source_summary(train: DetectionSet, test: DetectionSet, test_index: torch.Tensor) -> dict:
    """What the record keeps of the files behind a run: the bad files of both splits (count and
    full list), the data fingerprint, and the categories without a positive among the evaluated
    test images (left out of the mAP mean)."""
    from core.bad_data import data_fingerprint

    listed = list(train.info.get("bad_file_list", [])) + list(test.info.get("bad_file_list", []))
    positives = test.multi_hot()[test_index].sum(0) if len(test) else torch.zeros(0)
    return {"bad_files": len(listed), "bad_file_list": listed,
            "fingerprint": data_fingerprint({"train": train.file_names,
                                             "test": test.file_names}),
            "map_classes_left_out": [c for c, n in zip(test.categories, positives.tolist())
                                     if n == 0]}
