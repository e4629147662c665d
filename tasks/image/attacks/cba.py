"""CBA, the composite backdoor (Lin, Xu, Liu & Zhang, "Composite Backdoor Attack for Deep Neural
Network by Mixing Existing Benign Features", CCS 2020; official code TemporaryAcc0unt/
composite-attack, whose image mixer is ``HalfMixer``).

The trigger is not a pattern but a *composition of two benign features*: an image of class A
and an image of class B put together half and half, labelled with the target class C. No
external patch exists. To stop the model from learning "any composite → C", the attack also
trains on *mixer negatives*: composites of two images of the same class, keeping that class.

The mixer (``HalfMixer``, our batched re-implementation): with probability ½ the two images swap
sides (``swap``); the split line is vertical (left | right halves) or horizontal (top / bottom),
chosen at random per composite in mode ``half`` (the original's default) or fixed by
``mode="vertical"`` / ``"horizontal"``; the split point moves by a random ``jitter`` ∈ [−3, 3]
pixels; with ``shake`` each half is cut from a random position of its source image (otherwise
from the centre). The original's ``gap`` (a blank band between halves, default 0) is left out.

Defaults from the official CIFAR-10 script (``train_cifar.py``): A = 0, B = 1, target C = 2
(so ``target`` defaults to 2 here, not the suite's 0), HalfMixer(jitter=3, shake=True, random
direction), composites at 10 % of the training-set size (``poison_rate``, also the NFT paper's
rate) and mixer negatives at 50 % (``mix_rate``; TrojanZoo's port uses 40 %).

Where ours differs: the original draws normal, mixed and poisoned samples afresh in every epoch
(a training set of 1.6 × its size per epoch); our poisoning is static and keeps the size:
``poison`` replaces round(poison_rate × N) samples of classes other than A, B and the target
(so A and B keep every clean image) by composites of a random class-A and a random class-B
training image (labelled target; sources in ``extra["composite_sources"]``), and
round(mix_rate × N) further samples by a composite with another image of their own class
(labels kept; ``extra["mix_indices"]``, partners in ``extra["mix_partners"]``).

Test-time ASR. The original evaluates on composites of class-A and class-B *test* images. Our
interface triggers one test input at a time, without its label, so: ``eval_selection`` picks the
test images of class A, ``apply_trigger`` composes each with a class-B partner drawn (with
``pattern_seed``) from a fixed pool of ``partner_pool`` class-B images of the attacker's
training set (stored by ``prepare``, or by ``poison``), and the attack label is the target: ASR
= share of (test A + train B) composites classified as the target; LCR = share still classified
as A. The B halves are training images because ``apply_trigger`` has no access to the test
labels; call ``prepare`` (the runner does) before ``apply_trigger``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch

from core.attack import Attack, AttackConfig, PoisonResult, choose_indices, poison_count
from core.data import TensorData
from core.registry import ATTACKS
from core.seeding import make_generator
from core.config import require

from .extra_samples import remaining_indices
from .triggers import check_images

MixMode = Literal["half", "vertical", "horizontal"]


@dataclass(frozen=True)
class CBAConfig(AttackConfig):
    """Composite backdoor (HalfMixer); defaults from the official CIFAR-10 script."""

    target: int = 2               # official CLASS_C (A + B → C)
    class_a: int = 0              # official CLASS_A
    class_b: int = 1              # official CLASS_B
    mix_rate: float = 0.5         # same-class composites, share of the training set (official)
    mode: MixMode = "half"        # split direction: random per composite (official) or fixed
    jitter: int = 3               # split point moves by up to ± jitter pixels (official)
    shake: bool = True            # halves cut from random positions (official)
    swap: bool = True             # sides swapped with probability ½ (official)
    partner_pool: int = 256       # class-B training images kept for test-time composites
    pattern_seed: int = 0         # fixes test-time partners and mixing draws

    def __post_init__(self) -> None:
        super().__post_init__()
        require(not self.all_to_all, "cba is all-to-one (A + B → target); all_to_all=True is "
                                     "not supported")
        require(min(self.class_a, self.class_b) >= 0,
                f"cba source classes must be ≥ 0, got {self.class_a} and {self.class_b}")
        require(len({self.class_a, self.class_b, self.target}) == 3,
                f"cba needs three different classes, got class_a={self.class_a}, "
                f"class_b={self.class_b}, target={self.target}")
        require(0.0 <= self.mix_rate < 1.0,
                f"cba mix_rate must lie in [0, 1), got {self.mix_rate}")
        require(self.poison_rate + self.mix_rate <= 1.0,
                f"cba poison_rate + mix_rate must be ≤ 1, got {self.poison_rate} + "
                f"{self.mix_rate}")
        require(self.mode in get_args(MixMode),
                f"cba mode must be one of {list(get_args(MixMode))}, got {self.mode!r}")
        require(self.jitter >= 0, f"cba jitter must be ≥ 0, got {self.jitter}")
        require(self.partner_pool >= 1, f"cba partner_pool must be ≥ 1, got {self.partner_pool}")


def _pivots(length: int, jitter: torch.Tensor, shake: bool,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the first and second halves are cut from (HalfMixer's two pivots)."""
    half = length // 2
    if not shake:
        centre = length // 4 - torch.div(jitter, 2, rounding_mode="floor")
        return centre, centre
    first = (torch.rand(len(jitter), generator=generator) * (half - jitter)).long()
    second = -jitter + (torch.rand(len(jitter), generator=generator) * (half + jitter)).long()
    return first, second


def _mix_last_axis(first: torch.Tensor, second: torch.Tensor, split: torch.Tensor,
                   pivot_first: torch.Tensor, pivot_second: torch.Tensor) -> torch.Tensor:
    """Columns [0, split) from ``first`` (shifted by its pivot), the rest from ``second``."""
    length = first.shape[-1]
    col = torch.arange(length, device=first.device)[None]
    take_first = col < split[:, None]
    source = torch.where(take_first, col + pivot_first[:, None],
                         col + pivot_second[:, None] - length // 2).clamp(0, length - 1)
    index = source[:, None, None, :].expand_as(first)
    return torch.where(take_first[:, None, None, :], first.gather(-1, index),
                       second.gather(-1, index))


def half_mix(a: torch.Tensor, b: torch.Tensor, config: CBAConfig,
             generator: torch.Generator) -> torch.Tensor:
    """HalfMixer composites of ``a[i]`` and ``b[i]`` (N, C, H, W), draws from ``generator``."""
    n, _, h, w = a.shape
    if min(h, w) // 2 <= config.jitter:
        raise ValueError(f"cba: images of {h}×{w} are too small for jitter={config.jitter} "
                         f"(need jitter < half the shorter side)")
    swap = (torch.rand(n, generator=generator) < 0.5) & config.swap
    coin = torch.rand(n, generator=generator) < 0.5
    vertical = {"half": coin, "vertical": torch.ones(n, dtype=torch.bool),
                "horizontal": torch.zeros(n, dtype=torch.bool)}[config.mode]
    jitter = torch.randint(-config.jitter, config.jitter + 1, (n,), generator=generator)
    cols = _pivots(w, jitter, config.shake, generator)
    rows = _pivots(h, jitter, config.shake, generator)
    dev = a.device
    swap, vertical, jitter = swap.to(dev), vertical.to(dev), jitter.to(dev)
    cols, rows = tuple(p.to(dev) for p in cols), tuple(p.to(dev) for p in rows)
    flip = swap[:, None, None, None]
    first, second = torch.where(flip, b, a), torch.where(flip, a, b)
    left_right = _mix_last_axis(first, second, w // 2 + jitter, *cols)
    top_bottom = _mix_last_axis(first.transpose(-1, -2), second.transpose(-1, -2),
                                h // 2 + jitter, *rows).transpose(-1, -2)
    return torch.where(vertical[:, None, None, None], left_right, top_bottom)


@ATTACKS.register("cba", namespace="image")
class CBA(Attack):
    needs_prepare = True
    name = "cba"
    Config = CBAConfig

    def __init__(self, config: CBAConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        for field in ("class_a", "class_b"):
            value = getattr(config, field)
            if value >= num_classes:
                raise ValueError(f"cba: {field}={value} is out of range for {num_classes} "
                                 f"classes (0..{num_classes - 1})")
        self.partners: torch.Tensor | None = None    # class-B images for test-time composites

    def prepare(self, train: TensorData, adapter: Any, device: torch.device, seed: int) -> None:
        """Keep the pool of class-B partner images that ``apply_trigger`` composes with."""
        self.set_partners(train)

    def set_partners(self, train: TensorData) -> None:
        """Up to ``partner_pool`` class-B training images, drawn with ``pattern_seed``."""
        members = self._members(train, self.config.class_b)
        count = min(self.config.partner_pool, len(members))
        chosen = choose_indices(members, count, make_generator(self.config.pattern_seed))
        self.partners = train.inputs[chosen.to(train.inputs.device)].detach().cpu().clone()

    def _members(self, train: TensorData, cls: int) -> torch.Tensor:
        members = torch.nonzero(train.targets.cpu() == cls).flatten()
        if len(members) == 0:
            raise ValueError(f"cba: the training set has no image of class {cls}, which the "
                             f"composite trigger needs (class_a={self.config.class_a}, "
                             f"class_b={self.config.class_b})")
        return members

    # -- evaluation ---------------------------------------------------------------------------
    def eval_selection(self, labels: torch.Tensor) -> torch.Tensor:
        """ASR counts the test images of class A (each gets a class-B half)."""
        return labels == self.config.class_a

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        """Compose every input (as the A half) with a seeded class-B partner from the pool."""
        check_images(inputs, self.name)
        if self.partners is None:
            raise RuntimeError("cba: no class-B partner images yet; call attack.prepare(train, "
                               "adapter, device, seed) (or poison) first")
        if self.partners.shape[1:] != inputs.shape[1:]:
            raise ValueError(f"cba: partner images are {tuple(self.partners.shape[1:])}, inputs "
                             f"{tuple(inputs.shape[1:])}")
        g = make_generator(self.config.pattern_seed)
        pick = torch.randint(len(self.partners), (len(inputs),), generator=g)
        partners = self.partners[pick].to(device=inputs.device, dtype=inputs.dtype)
        return half_mix(inputs, partners, self.config, g)

    # -- poisoning ----------------------------------------------------------------------------
    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        cfg = self.config
        self.set_partners(train)
        labels = train.targets.cpu()
        n = len(train)
        pool_a, pool_b = self._members(train, cfg.class_a), self._members(train, cfg.class_b)
        slots = torch.nonzero((labels != cfg.class_a) & (labels != cfg.class_b)
                              & (labels != cfg.target)).flatten()
        count = poison_count(n, cfg.poison_rate)
        if count > len(slots):
            raise ValueError(f"cba: {count} composites need as many samples outside classes "
                             f"A, B and the target, but only {len(slots)} exist; lower "
                             f"poison_rate")
        indices = choose_indices(slots, count, generator)
        sources = torch.stack([pool_a[torch.randint(len(pool_a), (count,), generator=generator)],
                               pool_b[torch.randint(len(pool_b), (count,), generator=generator)]],
                              dim=1)
        clean = train.inputs
        inputs, targets = clean.clone(), train.targets.clone()
        dev = clean.device
        inputs[indices.to(dev)] = half_mix(clean[sources[:, 0].to(dev)],
                                           clean[sources[:, 1].to(dev)], cfg, generator)
        targets[indices.to(targets.device)] = cfg.target
        mix_count = round(cfg.mix_rate * n)
        free = remaining_indices(n, indices)
        if mix_count > len(free):
            raise ValueError(f"cba: {mix_count} mixer negatives do not fit beside the {count} "
                             f"composites ({len(free)} remain); lower mix_rate")
        mixed = choose_indices(free, mix_count, generator)
        partners = self._same_class_partners(labels, mixed, generator)
        if mix_count:
            inputs[mixed.to(dev)] = half_mix(clean[mixed.to(dev)], clean[partners.to(dev)], cfg,
                                             generator)
        return PoisonResult(TensorData(inputs, targets), indices,
                            {"composite_sources": sources, "mix_indices": mixed,
                             "mix_partners": partners})

    @staticmethod
    def _same_class_partners(labels: torch.Tensor, slots: torch.Tensor,
                             generator: torch.Generator) -> torch.Tensor:
        """For every slot another sample of its class (itself only if the class has one)."""
        partners = torch.empty_like(slots)
        for cls in torch.unique(labels[slots]).tolist():
            members = torch.nonzero(labels == cls).flatten()
            where = torch.nonzero(labels[slots] == cls).flatten()
            if len(members) == 1:
                partners[where] = members[0]
                continue
            own = torch.searchsorted(members, slots[where])      # position of the slot itself
            draw = torch.randint(len(members) - 1, (len(where),), generator=generator)
            partners[where] = members[draw + (draw >= own).long()]
        return partners
