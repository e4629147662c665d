"""What the four BadDet attacks share (Chan et al., "BadDet: Backdoor Attacks on Object
Detection", ECCV Workshops 2022): the config, the trigger patch, stamping, poisoning, the ASR@0.5
rule. One file per attack kind: ``baddet_oga.py`` (object generation), ``baddet_rma.py``
(regional misclassification), ``baddet_gma.py`` (global misclassification), ``baddet_oda.py``
(object disappearance).

Defaults. BadDet has no official code. Its paper puts a 29×29 trigger on COCO / VOC images
(~640 px); the re-implementations we read (docs/design.md §5c; the Adversarial Robustness Toolbox's
``BadDetObjectGenerationAttack`` / ``…RegionalMisclassificationAttack`` / ``…Global…`` /
``…ObjectDisappearance…`` classes) poison ``percent_poison = 0.3`` of the eligible images by
default, blend the patch at 0.5-0.8, and place it: OGA at a random position with a
target-class box of the patch's size there; RMA / ODA inside every box of the source class
(ART: all classes when no source is given), relabelled to the target / removed; GMA once per
image, every box relabelled to the target. So ``patch_size`` 29, ``blend`` 0.5 and
``poison_rate`` 0.3 are the defaults here; a 64-px CPU preset scales the patch down (29 px is
4.5 % of a 640-px side; the quick preset says what it uses and why).

Our choices, stated: the pattern is a black/white checkerboard (cells of ``patch_size // 4``
px); inside a box the patch sits at the box's top-left corner (BadDet's figures) and is cut to
the box when the box is smaller; GMA's patch sits at the image's top-left corner. ``target`` and
``source`` are category names (resolved with close-match suggestions); ``target=""`` is the
first category, ``source=""`` means every category except the target.

ASR@0.5 (``asr``), per kind as BadDet defines success, over the evaluated objects of the
triggered test images: OGA — a target-class detection with score ≥ ``score_threshold`` and
IoU ≥ ``iou`` with the trigger's box; RMA / GMA — the triggered object has a target-class
detection at IoU ≥ ``iou``; ODA — the triggered object has *no* detection of its own class at
IoU ≥ ``iou``. ``asr_clean`` applies the same rule to the same objects on the untriggered
images (what the rule "achieves" without the trigger: a detector that misses objects scores
ODA "success" anyway). Test trigger positions are drawn from ``placement_seed`` so that before
and after are measured on the same triggered images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from core.attack import Attack, PoisonResult, choose_indices
from core.config import to_dict
from core.data import TensorData

from .clean_image import _resolve

Target = dict[str, torch.Tensor]


@dataclass(frozen=True)
class BadDetConfig:
    target: str = ""              # category name; "" = the first category (unused by ODA)
    source: str = ""              # RMA / ODA victim category; "" = every category but the target
    patch_size: int = 29          # BadDet's 29×29 (at ~640 px)
    blend: float = 0.5            # 1 = opaque patch
    poison_rate: float = 0.3      # of the eligible training images (ART's percent_poison)
    score_threshold: float = 0.5  # a detection counts for ASR at this score
    iou: float = 0.5              # ASR@0.5
    placement_seed: int = 0       # test-time trigger positions (OGA)

    def __post_init__(self) -> None:
        if self.patch_size < 1:
            raise ValueError(f"patch_size must be ≥ 1, got {self.patch_size}")
        if not 0.0 < self.blend <= 1.0:
            raise ValueError(f"blend must lie in (0, 1], got {self.blend}")
        if not 0.0 < self.poison_rate <= 1.0:
            raise ValueError(f"poison_rate must lie in (0, 1], got {self.poison_rate}")
        for name in ("score_threshold", "iou"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")


def checkerboard(size: int) -> torch.Tensor:
    """(3, size, size) black/white checkerboard with cells of max(1, size // 4) pixels."""
    cell = max(1, size // 4)
    idx = torch.arange(size) // cell
    board = ((idx[:, None] + idx[None, :]) % 2).float()
    return board.expand(3, size, size).clone()


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    from torchvision.ops import box_iou as iou

    if a.numel() == 0 or b.numel() == 0:
        return torch.zeros(a.reshape(-1, 4).shape[0], b.reshape(-1, 4).shape[0])
    return iou(a.reshape(-1, 4).float(), b.reshape(-1, 4).float())


@dataclass
class EvalItem:
    """One object the ASR rule looks at: image index, its box, the class that matters."""

    image: int
    box: torch.Tensor      # (4,) xyxy
    label: int             # target (OGA/RMA/GMA) or the object's own class (ODA)


class BadDetAttack(Attack):
    """Base of the four kinds; subclasses set ``kind`` and the three kind-specific steps."""

    Config = BadDetConfig
    kind: ClassVar[str] = ""

    def __init__(self, config: BadDetConfig, num_classes: int) -> None:   # noqa: D107
        # target is a category name, bound in ``bind`` (no integer to range-check here)
        self.config = config
        self.num_classes = num_classes
        self.artifact_dir = None
        self.artifacts: dict[str, dict] = {}
        self.categories: list[str] = []
        self.target_index = -1
        self.source_index: int | None = None
        self.pattern = checkerboard(config.patch_size)

    # -- binding and description ------------------------------------------------------------------
    def bind(self, categories: list[str]) -> "BadDetAttack":
        cfg = self.config
        self.categories = list(categories)
        self.target_index = _resolve(cfg.target, self.categories, "target") if cfg.target else 0
        self.source_index = _resolve(cfg.source, self.categories, "source") if cfg.source \
            else None
        if self.source_index is not None and self.source_index == self.target_index \
                and self.kind in ("rma",):
            raise ValueError(f"{self.name}: source and target are both {cfg.source!r}")
        return self

    def describe(self) -> dict:
        out = {"name": self.name, "clean_label": False, "kind": self.kind, **to_dict(self.config)}
        if self.categories:
            out["target_index"] = self.target_index
            out["source_index"] = self.source_index
        return out

    def is_source(self, labels: torch.Tensor) -> torch.Tensor:
        """Which of ``labels`` are victim objects (the source class, or any but the target)."""
        if self.source_index is not None:
            return labels == self.source_index
        return labels != self.target_index

    def images_with_source(self, targets: list[Target]) -> torch.Tensor:
        """Indices of the images holding at least one victim object (``is_source``)."""
        keep = [i for i, t in enumerate(targets) if bool(self.is_source(t["labels"]).any())]
        return torch.tensor(keep, dtype=torch.int64)

    # -- pixels ---------------------------------------------------------------------------------
    def stamp(self, image: torch.Tensor, x: int, y: int, width: int | None = None,
              height: int | None = None) -> torch.Tensor:
        """``image`` (3, H, W, floats in [0, 1]) with the patch blended at (x, y), cut to
        ``width`` × ``height`` and to the image; returns the (x1, y1, x2, y2) it covers."""
        s = self.config.patch_size
        h_img, w_img = image.shape[1:]
        w = max(1, min(s, width if width is not None else s, w_img - x))
        h = max(1, min(s, height if height is not None else s, h_img - y))
        patch = self.pattern[:, :h, :w].to(image)
        region = image[:, y:y + h, x:x + w]
        image[:, y:y + h, x:x + w] = region * (1 - self.config.blend) + patch * self.config.blend
        return torch.tensor([x, y, x + w, y + h], dtype=torch.float32)

    def stamp_boxes(self, image: torch.Tensor, boxes: torch.Tensor) -> None:
        """The patch at the top-left corner of each box, cut to the box."""
        for x1, y1, x2, y2 in boxes.tolist():
            x, y = int(x1), int(y1)
            self.stamp(image, x, y, max(1, int(x2) - x), max(1, int(y2) - y))

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        """Triggered copies without boxes: only OGA (random place) and GMA (top-left) can."""
        raise TypeError(f"{self.name} places its trigger relative to the boxes; use "
                        f"trigger_test(inputs, targets)")

    # -- the kind-specific steps -------------------------------------------------------------------
    def eligible(self, targets: list[Target]) -> torch.Tensor:
        """Indices of the training images this attack may poison."""
        return torch.arange(len(targets))

    def poison_one(self, image: torch.Tensor, target: Target,
                   rng: np.random.Generator) -> Target:
        """Trigger ``image`` in place and return its poisoned annotation."""
        raise NotImplementedError

    def trigger_one(self, image: torch.Tensor, target: Target, index: int,
                    rng: np.random.Generator) -> list[EvalItem]:
        """Trigger a test image in place; the objects ASR looks at (none: image not used)."""
        raise NotImplementedError

    def success(self, detection: Target, item: EvalItem) -> bool:
        """BadDet's success on one object (module docstring)."""
        cfg = self.config
        keep = (detection["scores"] >= cfg.score_threshold) & (detection["labels"] == item.label)
        hit = bool((box_iou(item.box, detection["boxes"][keep]) >= cfg.iou).any())
        return (not hit) if self.kind == "oda" else hit

    # -- what the runner and the adapter call ----------------------------------------------------
    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        if not self.categories:
            raise RuntimeError(f"{self.name}: bind(categories) before poisoning")
        eligible = self.eligible(train.targets)
        count = round(self.config.poison_rate * len(eligible))
        if count < 1:
            raise ValueError(f"{self.name}: poison rate {self.config.poison_rate} of "
                             f"{len(eligible)} eligible images poisons nothing")
        indices = choose_indices(eligible, count, generator)
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        inputs = train.inputs.clone()
        targets = list(train.targets)
        boxes_before = sum(len(targets[i]["labels"]) for i in indices.tolist())
        for i in indices.tolist():
            targets[i] = self.poison_one(inputs[i], targets[i], rng)
        boxes_after = sum(len(targets[i]["labels"]) for i in indices.tolist())
        extra = {"eligible_images": len(eligible), "boxes_before": boxes_before,
                 "boxes_after": boxes_after}
        return PoisonResult(TensorData(inputs, targets, train.transform), indices, extra)

    def trigger_test(self, inputs: torch.Tensor,
                     targets: list[Target]) -> tuple[torch.Tensor, list[EvalItem]]:
        """Triggered copies of the test images and the objects ASR is measured on."""
        if not self.categories:
            raise RuntimeError(f"{self.name}: bind(categories) before evaluating")
        rng = np.random.default_rng(self.config.placement_seed)
        out = inputs.clone()
        items: list[EvalItem] = []
        for i, target in enumerate(targets):
            items += self.trigger_one(out[i], target, i, rng)
        return out, items
