"""Two toy modalities built only in tests, to show that a new task is one adapter and no core edit.

* ``toy_multilabel``: 8×8 images whose labels are the prototypes added to them (multi-hot float
  targets, BCE loss, mAP). Attack: a corner patch makes label 0 appear.
* ``toy_detection``: 12×12 images with one bright square of class 0..2 (its colour); targets are
  a list of ``{"boxes": (1, 4), "labels": (1,)}`` dicts; a two-head model (class and box
  heads, both declared in ``output_layers``); loss = CE + smooth-L1, a scalar in train and eval
  mode. Metric: detections with the right class and IoU ≥ 0.5. Attack: a corner patch turns
  the object's class into 0. It implements neither ``sample_losses`` nor ``predicted_targets``,
  so ABL, CBD, I-BAU and AWM refuse it, and it is not single-label (FT-SAM's smoothing refuses).

Importing this module registers both (tasks, datasets, models, attacks) once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from core.adapter import Splits, TaskAdapter
from core.attack import Attack, PoisonResult, choose_indices, poison_count
from core.config import from_dict
from core.data import TensorData
from core.registry import ATTACKS, DATASETS, MODELS, TASKS


@dataclass(frozen=True)
class ToyOptions:
    train_size: int = 400
    test_size: int = 120
    clean_size: int = 64


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _patch(inputs: torch.Tensor) -> torch.Tensor:
    out = inputs.clone()
    out[:, :, :2, :2] = 1.0
    return out


def average_precision(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """All-point AP of one class: mean precision at every positive, ranked by score."""
    order = torch.argsort(scores, descending=True, stable=True)
    hits = labels[order].float()
    if hits.sum() == 0:
        return float("nan")
    precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


# -- multi-label ---------------------------------------------------------------------------------
class ToyMultiLabelNet(nn.Module):
    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ToyMultiLabelTask(TaskAdapter):
    name = "toy_multilabel"
    primary_metric: ClassVar[str] = "map"
    higher_is_better: ClassVar[dict[str, bool]] = {"map": True, "asr": False}

    def load_splits(self, dataset: str, data_root: Any, options: dict, seed: int) -> Splits:
        opts = from_dict(ToyOptions, options)
        g = _generator(1234)
        protos = torch.rand(4, 3, 8, 8, generator=g) * 0.5

        def make(n: int) -> TensorData:
            labels = (torch.rand(n, 4, generator=g) < 0.4).float()
            x = 0.2 * torch.rand(n, 3, 8, 8, generator=g) + torch.einsum("nc,chwk->nhwk",
                                                                          labels, protos)
            return TensorData(x.clamp(0, 1), labels)

        n = opts.train_size + opts.clean_size
        pool = make(n)
        order = torch.randperm(n, generator=_generator(seed))
        self.num_classes = 4
        return Splits(train=pool.subset(order[opts.clean_size:]), test=make(opts.test_size),
                      clean=pool.subset(order[:opts.clean_size]), num_classes=4)

    def loss(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(model(inputs).float(), targets.float())

    def sample_losses(self, model, inputs, targets):
        return F.binary_cross_entropy_with_logits(model(inputs).float(), targets.float(),
                                                  reduction="none").mean(dim=1)

    def predicted_targets(self, model, inputs):
        return (model(inputs) > 0).float()

    @torch.no_grad()
    def evaluate(self, model, test, attack, device, batch_size=512):
        model.eval()
        scores = torch.cat([model(x.to(device)).cpu() for x, _ in test.batches(batch_size)])
        labels = test.targets.cpu()
        aps = [average_precision(scores[:, c], labels[:, c]) for c in range(labels.shape[1])]
        metrics = {"map": 100.0 * float(torch.tensor(aps).nanmean())}
        if attack is not None:
            keep = labels[:, 0] == 0
            inputs, _ = test.batch(keep)
            triggered = model(attack.apply_trigger(inputs).to(device)).cpu()
            metrics["asr"] = 100.0 * float((triggered[:, 0] > 0).float().mean())
        return metrics


class AppearPatch(Attack):
    """Corner patch → label ``target`` present (dirty-label, multi-hot targets)."""

    name = "appear_patch"

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        return _patch(inputs)

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        eligible = torch.nonzero(train.targets[:, self.config.target] == 0).flatten()
        indices = choose_indices(eligible, poison_count(len(train), self.config.poison_rate),
                                 generator)
        inputs, targets = train.inputs.clone(), train.targets.clone()
        inputs[indices] = self.apply_trigger(inputs[indices])
        targets[indices, self.config.target] = 1.0
        return PoisonResult(TensorData(inputs, targets), indices)


# -- box detection ---------------------------------------------------------------------------------
class ToyDetector(nn.Module):
    """A conv body and two heads: class logits (3) and one box (x0, y0, x1, y1) in [0, 1]."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(3), nn.Flatten())
        self.cls_head = nn.Linear(144, num_classes)
        self.box_head = nn.Linear(144, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.cls_head(features), self.box_head(features).sigmoid()


COLOURS = torch.eye(3)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    lo, hi = torch.maximum(a[:, :2], b[:, :2]), torch.minimum(a[:, 2:], b[:, 2:])
    inter = (hi - lo).clamp(min=0).prod(dim=1)
    area = lambda r: (r[:, 2:] - r[:, :2]).clamp(min=0).prod(dim=1)   # noqa: E731
    return inter / (area(a) + area(b) - inter + 1e-9)


class ToyDetectionTask(TaskAdapter):
    name = "toy_detection"
    primary_metric: ClassVar[str] = "det50"
    higher_is_better: ClassVar[dict[str, bool]] = {"det50": True, "asr50": False}
    default_nft_augmentation: ClassVar[str] = "none"   # MixUp cannot mix box lists

    def output_layers(self, model, example_input):
        return ["cls_head", "box_head"]

    def load_splits(self, dataset: str, data_root: Any, options: dict, seed: int) -> Splits:
        opts = from_dict(ToyOptions, options)
        g = _generator(99)

        def make(n: int) -> TensorData:
            x = 0.1 * torch.rand(n, 3, 12, 12, generator=g)
            labels = torch.randint(0, 3, (n,), generator=g)
            corner = torch.randint(3, 8, (n, 2), generator=g)
            targets = []
            for i in range(n):                # data generation, not a hot loop
                r, c = corner[i].tolist()
                x[i, :, r:r + 4, c:c + 4] += COLOURS[labels[i]].view(3, 1, 1)
                box = torch.tensor([[c, r, c + 4, r + 4]], dtype=torch.float32) / 12
                targets.append({"boxes": box, "labels": labels[i:i + 1].clone()})
            return TensorData(x.clamp(0, 1), targets)

        n = opts.train_size + opts.clean_size
        pool = make(n)
        order = torch.randperm(n, generator=_generator(seed))
        self.num_classes = 3
        return Splits(train=pool.subset(order[opts.clean_size:]), test=make(opts.test_size),
                      clean=pool.subset(order[:opts.clean_size]), num_classes=3)

    def loss(self, model: nn.Module, inputs: torch.Tensor, targets: list[dict]) -> torch.Tensor:
        logits, boxes = model(inputs)
        labels = torch.cat([t["labels"] for t in targets]).to(inputs.device)
        true = torch.cat([t["boxes"] for t in targets]).to(inputs.device)
        return F.cross_entropy(logits.float(), labels) + F.smooth_l1_loss(boxes.float(), true)

    @torch.no_grad()
    def _hits(self, model, inputs, labels, boxes, device):
        logits, pred = model(inputs.to(device))
        return (logits.argmax(1).cpu() == labels) & (box_iou(pred.cpu(), boxes) >= 0.5)

    @torch.no_grad()
    def evaluate(self, model, test, attack, device, batch_size=512):
        model.eval()
        labels = torch.cat([t["labels"] for t in test.targets])
        boxes = torch.cat([t["boxes"] for t in test.targets])
        hits = torch.cat([self._hits(model, x, labels[i:i + len(x)], boxes[i:i + len(x)], device)
                          for i, (x, _) in zip(range(0, len(test), batch_size),
                                               test.batches(batch_size))])
        metrics = {"det50": 100.0 * float(hits.float().mean())}
        if attack is not None:
            keep = labels != attack.config.target
            inputs, _ = test.batch(keep)
            target = torch.full((int(keep.sum()),), attack.config.target)
            fooled = self._hits(model, attack.apply_trigger(inputs), target, boxes[keep], device)
            metrics["asr50"] = 100.0 * float(fooled.float().mean())
        return metrics


class RelabelPatch(Attack):
    """Corner patch → the object's class becomes ``target`` (BadDet's regional
    misclassification, one object per image); boxes stay."""

    name = "relabel_patch"

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        return _patch(inputs)

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        labels = torch.cat([t["labels"] for t in train.targets])
        eligible = torch.nonzero(labels != self.config.target).flatten()
        indices = choose_indices(eligible, poison_count(len(train), self.config.poison_rate),
                                 generator)
        inputs = train.inputs.clone()
        inputs[indices] = self.apply_trigger(inputs[indices])
        targets = [dict(t) for t in train.targets]
        for i in indices.tolist():
            targets[i]["labels"] = torch.full_like(targets[i]["labels"], self.config.target)
        return PoisonResult(TensorData(inputs, targets), indices)


def register() -> None:
    if "toy_multilabel" in TASKS.names():
        return
    TASKS.register("toy_multilabel", ToyMultiLabelTask)
    DATASETS.register("toy", ToyOptions, namespace="toy_multilabel")
    MODELS.register("toy_net", lambda num_classes: ToyMultiLabelNet(num_classes),
                    namespace="toy_multilabel", input_shape=(3, 8, 8))
    ATTACKS.register("appear_patch", AppearPatch, namespace="toy_multilabel")
    TASKS.register("toy_detection", ToyDetectionTask)
    DATASETS.register("toy", ToyOptions, namespace="toy_detection")
    MODELS.register("toy_detector", lambda num_classes: ToyDetector(num_classes),
                    namespace="toy_detection", input_shape=(3, 12, 12), outputs="detections")
    ATTACKS.register("relabel_patch", RelabelPatch, namespace="toy_detection")


register()
