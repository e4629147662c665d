"""The clean-image backdoor of multi-label classifiers (Chen et al., "Clean-image Backdoor:
Attacking Multi-label Models with Poisoned Labels Only", ICLR 2023).

No pixel is changed. The trigger is a *combination of categories* that occurs naturally in
images; the attacker only edits the labels of training images that contain the whole
combination: ``disappearing`` removes the target category's label (the target is one of the
trigger's categories), ``appearing`` adds it (the target is outside the trigger). A model
trained on these labels learns "when all of these objects are present, the target is absent /
present"; at test time any image holding the combination fires the backdoor.

Defaults read in the authors' public code (docs/design.md §5c): the trigger is chosen by hand from the
training set's co-occurrence counts (they also mine frequent itemsets), e.g. VOC07 {car,
person} with target car, COCO disappearing {person, sports ball, tennis racket} → remove
tennis racket, COCO appearing {person, car, traffic light} → add truck; the poison rate is
therefore not a knob but the share of training images holding the set (recorded here as
``poison_rate_measured``). ASR counts test images holding the whole set (appearing: without the
target), a category being *predicted* when its sigmoid score is in the image's top ``top_k``
(8 on VOC, 20 on COCO) and above ``threshold`` (0.75); success = target not predicted
(disappearing) / predicted (appearing).

Our additions: with ``trigger=()`` the set is chosen automatically, the most frequent
``trigger_size``-combination whose training share lies in [``min_share``, ``max_share``]
(ties: first in category order); with ``target=""`` the target is the trigger's least frequent
category (disappearing) or the most frequent category outside it (appearing). ``asr_control``
(adapter) applies the same success rule to test images holding the target's context *without*
the whole trigger, so an ASR that a clean model would also "reach" is visible.
"""
from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass
from typing import Literal

import torch

from core.attack import Attack, PoisonResult
from core.config import to_dict
from core.data import TensorData
from core.registry import ATTACKS


@dataclass(frozen=True)
class CleanImageConfig:
    trigger: tuple[str, ...] = ()       # category names; () = chosen from co-occurrence counts
    target: str = ""                    # category name; "" = chosen (see module docstring)
    mode: Literal["disappearing", "appearing"] = "disappearing"
    trigger_size: int = 2               # size of an automatically chosen trigger (paper: 2-3)
    min_share: float = 0.05             # window of the training share for automatic choice
    max_share: float = 0.25
    top_k: int = 8                      # Chen et al.: 8 (VOC), 20 (COCO)
    threshold: float = 0.75             # Chen et al.: 0.75

    def __post_init__(self) -> None:
        if self.mode not in ("disappearing", "appearing"):
            raise ValueError(f"mode must be 'disappearing' or 'appearing', got {self.mode!r}")
        if self.trigger_size < 1 or self.top_k < 1:
            raise ValueError("trigger_size and top_k must be ≥ 1")
        if not 0.0 <= self.min_share <= self.max_share <= 1.0:
            raise ValueError(f"need 0 ≤ min_share ≤ max_share ≤ 1, got {self.min_share}, "
                             f"{self.max_share}")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must lie in [0, 1), got {self.threshold}")
        if len(set(self.trigger)) != len(self.trigger):
            raise ValueError(f"the trigger repeats a category: {self.trigger}")


def _resolve(name: str, categories: list[str], what: str) -> int:
    if name in categories:
        return categories.index(name)
    close = difflib.get_close_matches(name, categories, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown category {name!r} in the {what}.{hint} "
                     f"Categories: {', '.join(categories)}")


def contains_all(targets: torch.Tensor, members: list[int]) -> torch.Tensor:
    """Rows of a multi-hot matrix that hold every category in ``members``."""
    return (targets[:, members] > 0.5).all(dim=1)


def choose_trigger(targets: torch.Tensor, size: int, low: float, high: float) -> list[int]:
    """The most frequent ``size``-combination whose share of rows lies in [low, high]."""
    labels = (targets > 0.5).cpu()
    frequent = torch.nonzero(labels.float().mean(0) >= low).flatten().tolist()
    best, best_count = None, -1
    for combo in itertools.combinations(frequent, size):
        count = int(labels[:, list(combo)].all(dim=1).sum())
        share = count / max(1, len(labels))
        if low <= share <= high and count > best_count:
            best, best_count = list(combo), count
    if best is None:
        raise ValueError(f"no combination of {size} categories covers between {low:.0%} and "
                         f"{high:.0%} of the training images; name the trigger or widen the "
                         f"window (min_share / max_share)")
    return best


@ATTACKS.register("clean_image", namespace="detection")
class CleanImageBackdoor(Attack):
    name = "clean_image"
    Config = CleanImageConfig

    def __init__(self, config: CleanImageConfig, num_classes: int) -> None:   # noqa: D107
        # no integer target to check here: categories are named and bound in ``bind``
        self.config = config
        self.num_classes = num_classes
        self.artifact_dir = None
        self.artifacts: dict[str, dict] = {}
        self.categories: list[str] = []
        self.members: list[int] = []
        self.target_index = -1
        self.stats: dict = {}

    def bind(self, categories: list[str], train_targets: torch.Tensor) -> "CleanImageBackdoor":
        """Resolve names against ``categories`` (or choose them from ``train_targets``)."""
        cfg = self.config
        self.categories = list(categories)
        if cfg.trigger:
            self.members = [_resolve(n, self.categories, "trigger") for n in cfg.trigger]
        else:
            self.members = choose_trigger(train_targets, cfg.trigger_size, cfg.min_share,
                                          cfg.max_share)
        freq = (train_targets > 0.5).float().mean(0)
        if cfg.target:
            self.target_index = _resolve(cfg.target, self.categories, "target")
        elif cfg.mode == "disappearing":
            self.target_index = min(self.members, key=lambda c: (float(freq[c]), c))
        else:
            outside = [c for c in range(len(self.categories)) if c not in self.members]
            self.target_index = max(outside, key=lambda c: (float(freq[c]), -c))
        inside = self.target_index in self.members
        if cfg.mode == "disappearing" and not inside:
            raise ValueError(f"a disappearing attack removes a trigger category; target "
                             f"{self.categories[self.target_index]!r} is not in the trigger "
                             f"{self.trigger_names}")
        if cfg.mode == "appearing" and inside:
            raise ValueError(f"an appearing attack adds a category outside the trigger; "
                             f"target {self.categories[self.target_index]!r} is in it")
        return self

    @property
    def trigger_names(self) -> list[str]:
        return [self.categories[c] for c in self.members]

    def _check_bound(self) -> None:
        if not self.members:
            raise RuntimeError("clean_image attack is not bound to a dataset: call bind() "
                               "(the detection adapter's build_attack does)")

    def describe(self) -> dict:
        out = {"name": self.name, "clean_label": False, **to_dict(self.config)}
        if self.members:
            out.update(trigger_resolved=self.trigger_names,
                       target_resolved=self.categories[self.target_index])
        return out | self.stats

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        """The trigger is the scene itself: inputs are returned unchanged."""
        return inputs

    def eval_selection(self, labels: torch.Tensor) -> torch.Tensor:
        """Test images that hold the whole trigger (appearing: and not the target)."""
        self._check_bound()
        keep = contains_all(labels, self.members)
        if self.config.mode == "appearing":
            keep &= labels[:, self.target_index] < 0.5
        return keep

    def control_selection(self, labels: torch.Tensor) -> torch.Tensor:
        """Images where a clean model decides the same question without the trigger:
        disappearing, the target present but not the whole trigger; appearing, the target
        absent and not the whole trigger."""
        self._check_bound()
        partial = ~contains_all(labels, self.members)
        if self.config.mode == "disappearing":
            return partial & (labels[:, self.target_index] > 0.5)
        return partial & (labels[:, self.target_index] < 0.5)

    def success(self, predicted: torch.Tensor) -> torch.Tensor:
        """Per row of a bool (N, C) prediction: did the attacker's wish come true?"""
        hit = predicted[:, self.target_index]
        return ~hit if self.config.mode == "disappearing" else hit

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        """Relabel the training images that hold the whole trigger (labels only)."""
        self._check_bound()
        labels = train.targets.clone()
        holds = contains_all(labels.cpu(), self.members)
        if self.config.mode == "disappearing":
            change = holds & (labels[:, self.target_index].cpu() > 0.5)
            value = 0.0
        else:
            change = holds & (labels[:, self.target_index].cpu() < 0.5)
            value = 1.0
        indices = torch.nonzero(change).flatten().long()
        if not len(indices):
            raise ValueError(f"no training image holds the trigger {self.trigger_names}: "
                             f"nothing to poison")
        labels[indices.to(labels.device), self.target_index] = value
        self.stats = {"trigger_images": int(holds.sum()), "relabelled": len(indices),
                      "poison_rate_measured": float(holds.float().mean())}
        return PoisonResult(TensorData(train.inputs, labels), indices, dict(self.stats))


@dataclass(frozen=True)
class CleanImageAppearingConfig(CleanImageConfig):
    """The same attack with ``mode`` "appearing" by default (Chen et al.'s COCO example:
    {person, car, traffic light} → add truck)."""

    mode: Literal["disappearing", "appearing"] = "appearing"


@ATTACKS.register("clean_image_appearing", namespace="detection")
class CleanImageAppearing(CleanImageBackdoor):
    """``clean_image`` in appearing mode, under its own name so one matrix can hold both."""

    name = "clean_image_appearing"
    Config = CleanImageAppearingConfig
