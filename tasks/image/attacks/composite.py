"""Composite attacks of the NFT paper's supplementary Table 12: several existing attacks implanted
into one model at once, sharing one poison budget.

* ``badnets_blend_trojan`` — BadNets + Blend + Trojan, dirty label. ONE budget of
  round(poison_rate × N) non-target training samples (default 10 %, as every single attack of
  the paper) is drawn and split equally and disjointly (sizes differ by at most one, the first
  components take the remainder) between the three triggers; every poisoned label → target
  (or y + 1 with ``all_to_all``, which uses ``trojan_all``'s trigger, the same watermark).
* ``sig_clb`` — SIG + CLB, clean label. The budget is round(poison_rate × #target-class
  samples), split equally and disjointly; SIG samples get the sinusoid, CLB samples PGD + the
  four-corner pattern (CLB's surrogate is trained in ``prepare``); labels are kept. Default
  poison_rate 1.0: the whole target class, which on CIFAR-10 is the same 10 % of the training
  set as the dirty-label composite (alone, SIG uses 0.8 and CLB 1.0 of the target class).

The components are the existing attack classes, built from the composite's ``poison_rate``,
``target`` and ``all_to_all`` plus per-component trigger options (``badnets: {alpha: 0.6}``,
``clb: {surrogate_epochs: 5}``, …); a component's own ``poison_rate``/``target``/``all_to_all``
is refused, the composite's apply. Which samples each trigger got is recorded in
``PoisonResult.extra["<component>_indices"]``.

Per-trigger ASR. The runner's ``evaluate`` reports one ASR per attack, so ``eval_trigger``
chooses what ``apply_trigger`` does on test inputs: ``mixed`` (default) gives the i-th input of
a batch component i mod k, so ASR is the mean of the per-trigger ASRs (exactly, when the
number of inputs divides by k); a component name applies that trigger alone. A separate run per
``eval_trigger`` value retrains the model (the value is part of the config, hence of the model
cache key); instead, ``per_trigger_metrics(adapter, model, test, device)`` evaluates a trained
model against every component trigger in one go (Table 12's per-trigger ASR).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from core.attack import Attack, AttackConfig, CleanLabelAttack, CleanLabelConfig, PoisonResult, choose_indices, poison_count
from core.config import from_dict, require
from core.data import TensorData
from core.registry import ATTACKS

from .badnets import BadNets
from .blend import Blend
from .clb import CLB
from .triggers import check_images
from .sig import SIG
from .trojan import TrojanAll, TrojanOne

SHARED = ("poison_rate", "target", "all_to_all")   # set on the composite, never on a component


def component_config(cls: type[Attack], key: str, options: dict, config: Any) -> Any:
    """The config of component ``cls`` from its trigger ``options`` and the composite's
    shared settings (unknown options raise like any attack option)."""
    shared = sorted(set(options) & set(SHARED))
    require(not shared, f"{key}: set {', '.join(shared)} on the composite attack, not on its "
                        f"'{key}' component (the components share one budget and target)")
    return from_dict(cls.Config, {**options, **{k: getattr(config, k) for k in SHARED}})


@dataclass(frozen=True)
class BadNetsBlendTrojanConfig(AttackConfig):
    """BadNets + Blend + Trojan sharing one 10 % dirty-label budget (NFT supp. Table 12)."""

    eval_trigger: Literal["mixed", "badnets", "blend", "trojan"] = "mixed"
    badnets: dict = field(default_factory=dict)   # BadNetsConfig trigger options
    blend: dict = field(default_factory=dict)     # BlendConfig trigger options
    trojan: dict = field(default_factory=dict)    # TrojanConfig trigger options

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, cls in BadNetsBlendTrojan.component_classes(self).items():
            component_config(cls, key, getattr(self, key), self)


@dataclass(frozen=True)
class SigClbConfig(CleanLabelConfig):
    """SIG + CLB sharing the target-class budget, clean label (NFT supp. Table 12)."""

    poison_rate: float = 1.0                       # share of the target class (see module doc)
    eval_trigger: Literal["mixed", "sig", "clb"] = "mixed"
    sig: dict = field(default_factory=dict)        # SIGConfig trigger options
    clb: dict = field(default_factory=dict)        # CLBConfig trigger / PGD / surrogate options

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, cls in SigClb.component_classes(self).items():
            component_config(cls, key, getattr(self, key), self)


class ComposedAttack(Attack):
    """Attacks that share one poison budget, split equally and disjointly between
    ``component_classes`` (in their order); dirty or clean label by ``clean_label``."""

    def __init__(self, config: Any, num_classes: int) -> None:
        super().__init__(config, num_classes)
        self.components: dict[str, Attack] = {
            key: cls(component_config(cls, key, getattr(config, key), config), num_classes)
            for key, cls in self.component_classes(config).items()}

    @staticmethod
    def component_classes(config: Any) -> dict[str, type[Attack]]:
        raise NotImplementedError

    def prepare(self, train: TensorData, adapter: Any, device: torch.device, seed: int) -> None:
        """Each component prepares itself (CLB trains its surrogate); their cached artifacts
        are recorded as ``component.part``."""
        for key, component in self.components.items():
            component.artifact_dir = self.artifact_dir
            component.prepare(train, adapter, device, seed)
            self.artifacts.update({f"{key}.{part}": info
                                   for part, info in component.artifacts.items()})

    # -- poisoning ----------------------------------------------------------------------------
    def budget(self, train: TensorData, generator: torch.Generator) -> torch.Tensor:
        """The sorted indices of the whole shared budget."""
        labels = train.targets.cpu()
        if self.clean_label:
            eligible = torch.nonzero(labels == self.config.target).flatten()
            if len(eligible) == 0:
                raise ValueError(f"{self.name}: the training set has no sample of the target "
                                 f"class {self.config.target}")
            count = poison_count(len(eligible), self.config.poison_rate)
        else:
            eligible = torch.nonzero(self.eval_selection(labels)).flatten()
            count = poison_count(len(train), self.config.poison_rate)
        if count < len(self.components):
            raise ValueError(f"{self.name}: a budget of {count} sample(s) cannot be split "
                             f"between {len(self.components)} triggers; raise poison_rate")
        return choose_indices(eligible, count, generator)

    def split(self, indices: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Equal, disjoint, randomly assigned shares of ``indices``, one per component."""
        k = len(self.components)
        order = indices[torch.randperm(len(indices), generator=generator)]
        base, extra = divmod(len(indices), k)
        sizes = [base + (j < extra) for j in range(k)]
        return {key: torch.sort(part).values
                for key, part in zip(self.components, torch.split(order, sizes))}

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        indices = self.budget(train, generator)
        inputs, targets = train.inputs.clone(), train.targets.clone()
        extra = {}
        for key, part in self.split(indices, generator).items():
            component, idx = self.components[key], part.to(inputs.device)
            if isinstance(component, CleanLabelAttack):
                inputs[idx] = component.poison_inputs(inputs[idx], generator)
            else:
                inputs[idx] = component.apply_trigger(inputs[idx])
            extra[f"{key}_indices"] = part
        if not self.clean_label:
            idx = indices.to(targets.device)
            targets[idx] = self.attack_labels(targets[idx])
        return PoisonResult(TensorData(inputs, targets), indices, extra)

    # -- triggers and evaluation --------------------------------------------------------------
    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_images(inputs, self.name)
        choice = self.config.eval_trigger
        if choice != "mixed":
            return self.components[choice].apply_trigger(inputs)
        out = inputs.clone()
        which = torch.arange(len(inputs), device=inputs.device) % len(self.components)
        for j, component in enumerate(self.components.values()):
            rows = which == j
            if rows.any():
                out[rows] = component.apply_trigger(inputs[rows])
        return out

    def per_trigger_metrics(self, adapter: Any, model: nn.Module, test: TensorData,
                            device: torch.device | str, batch_size: int = 512) -> dict[str, dict]:
        """``adapter.evaluate`` of ``model`` against each component trigger alone (same test
        selection and attack labels as the composite): per-trigger ASR and LCR."""
        return {key: adapter.evaluate(model, test, component, torch.device(device), batch_size)
                for key, component in self.components.items()}


@ATTACKS.register("badnets_blend_trojan", namespace="image")
class BadNetsBlendTrojan(ComposedAttack):
    name = "badnets_blend_trojan"
    Config = BadNetsBlendTrojanConfig

    @staticmethod
    def component_classes(config: Any) -> dict[str, type[Attack]]:
        return {"badnets": BadNets, "blend": Blend,
                "trojan": TrojanAll if config.all_to_all else TrojanOne}


@ATTACKS.register("sig_clb", namespace="image")
class SigClb(ComposedAttack):
    name = "sig_clb"
    Config = SigClbConfig
    clean_label: ClassVar[bool] = True

    @staticmethod
    def component_classes(config: Any) -> dict[str, type[Attack]]:
        return {"sig": SIG, "clb": CLB}
