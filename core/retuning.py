"""The Retuning Attack (RA): does a purified model re-learn its backdoor from a few poisoned samples?

Min, Qin, Zhang, Shen & Cheng, NeurIPS 2024, "Uncovering, Explaining, and Mitigating the
Superficial Safety of Backdoor Defense" (arXiv 2410.09838): a low ASR after a defense is often
*superficial*. Fine-tune the purified model briefly on a small set that holds a handful of the
attacker's poisoned samples, and the backdoor returns far faster than it would implant in a clean
model trained the same way. RA is therefore run on three models with one and the same set:

* the purified model (``after_ra``),
* a clean model of the same task (the control: how far the same budget implants a fresh backdoor),
* the backdoored model itself (the ceiling).

Modality-agnostic: the set is drawn from the attacker's poisoned training set (``PoisonResult``:
the samples the task's attack triggered and relabelled, plus clean samples it left alone), the
fine-tuning is ``core.training.fit`` with the task loss and light augmentation, the scores are
``adapter.evaluate``.

Defaults (``RetuningConfig``), from the authors' public code (AISafety-HKUST/
stable_backdoor_purification, ``fine_tune/ft_poison.py`` and the RA command in its README):
the set is ``split_ratio`` 0.02 of the training set (1,000 CIFAR-10 images) in which
``poison_num`` 5 samples are replaced by poisoned ones (0.5 % poisoned), 5 epochs of SGD with
lr 0.01, momentum 0.9, no weight decay, a constant lr, batch 128; the clean samples get the
training transform (augmentation). Our choices: poisoned samples get the same augmentation as
the clean ones (the task's batched augmentation cannot tell them apart; the authors' code feeds
them untransformed), the draw uses a local generator seeded by the cell's seed, and the set is
at least one batch (small tasks).
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .adapter import TaskAdapter
from .attack import Attack, PoisonResult, choose_indices, hash_indices
from .data import TensorData
from .training import TrainConfig, fit


#: the two reference rows a runner writes beside the defenses (defense names in its records)
REFERENCE_ROWS = {"clean": "ra_clean_control", "backdoored": "ra_backdoored"}


@dataclass(frozen=True)
class RetuningConfig:
    """RA settings; defaults are the authors' (module docstring)."""

    set_fraction: float = 0.02        # ft_poison.py --split_ratio 0.02 (share of the training set)
    set_size: int = 0                 # > 0: this many samples instead of set_fraction
    poison_count: int = 5             # ft_poison.py --poison_num 5
    epochs: int = 5                   # README RA command --epochs 5
    lr: float = 0.01                  # ft_poison.py --lr 0.01
    momentum: float = 0.9             # optim.SGD(..., momentum=0.9)
    weight_decay: float = 0.0         # none in ft_poison.py
    batch_size: int = 128             # ft_poison.py --batch_size 128
    progress: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.set_fraction <= 1.0:
            raise ValueError(f"RA set_fraction must lie in (0, 1], got {self.set_fraction}")
        for name in ("epochs", "batch_size", "poison_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"RA {name} must be ≥ 1, got {getattr(self, name)}")
        if self.set_size < 0 or self.lr <= 0 or self.momentum < 0 or self.weight_decay < 0:
            raise ValueError("RA set_size, momentum and weight_decay must be ≥ 0 and lr > 0")

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           momentum=self.momentum, weight_decay=self.weight_decay,
                           lr_schedule="constant", progress=self.progress)


def _left_alone(poison: PoisonResult, total: int) -> torch.Tensor:
    """Indices of training samples the attack did not touch (neither triggered nor, like WaNet's
    noise mode, otherwise altered: every index tensor in ``poison.extra`` counts as touched)."""
    touched = torch.zeros(total, dtype=torch.bool)
    touched[poison.indices.cpu().long()] = True
    for value in poison.extra.values():
        if isinstance(value, torch.Tensor) and not value.is_floating_point() and value.dim() == 1:
            touched[value.cpu().long()] = True
    return torch.nonzero(~touched).flatten()


def retuning_set(poison: PoisonResult, config: RetuningConfig,
                 generator: torch.Generator) -> tuple[TensorData, dict]:
    """The RA set: ``poison_count`` of the attacker's poisoned samples and clean ones, drawn from
    the poisoned training set with ``generator``; returns it and what was drawn."""
    total = len(poison.data)
    size = config.set_size or round(config.set_fraction * total)
    size = min(total, max(size, config.batch_size, config.poison_count + 1))
    poisoned = choose_indices(poison.indices.cpu(), min(config.poison_count, len(poison.indices)),
                              generator)
    clean = choose_indices(_left_alone(poison, total), size - len(poisoned), generator)
    index = torch.cat([poisoned, clean])
    info = {"size": len(index), "poisoned": len(poisoned),
            "poisoned_share": len(poisoned) / len(index), "index_hash": hash_indices(index)}
    return poison.data.subset(index), info


def retune(model: nn.Module, adapter: TaskAdapter, ra_set: TensorData, config: RetuningConfig,
           device: torch.device | str, seed: int = 0,
           trainable_like: nn.Module | None = None) -> tuple[nn.Module, dict]:
    """A fine-tuned copy of ``model`` on ``ra_set`` (``model`` itself is left alone).

    Which parameters train: those trainable in ``trainable_like`` (by name; pass the backdoored
    model, since defenses such as NFT hand back a model with every parameter frozen, and a
    model's own fixed parts, e.g. airbench's whitening layer, must stay fixed), else all."""
    work = copy.deepcopy(model)
    flags = {n: p.requires_grad for n, p in trainable_like.named_parameters()} \
        if trainable_like is not None else {}
    for name, param in work.named_parameters():
        param.requires_grad_(flags.get(name, True))
    train = dataclasses.replace(config.train_config(),   # a tiny task's set may be < a batch
                                batch_size=min(config.batch_size, len(ra_set)))
    info = fit(work, adapter, ra_set, train, device, seed)
    return work.eval(), {"wall_time_s": info["wall_time_s"], "steps": info["steps"],
                         "final_loss": float(info["loss_curve"][-1])}


def retuning_attack(model: nn.Module, adapter: TaskAdapter, ra_set: TensorData, test: TensorData,
                    attack: Attack, config: RetuningConfig, device: torch.device | str,
                    seed: int = 0, eval_batch_size: int = 512,
                    trainable_like: nn.Module | None = None) -> dict[str, Any]:
    """RA on ``model``: ``{"after_ra": metrics, "ra": timing, "model": the retuned copy}``
    (metrics as ``adapter.evaluate``)."""
    tuned, info = retune(model, adapter, ra_set, config, device, seed, trainable_like)
    start = time.perf_counter()
    metrics = adapter.evaluate(tuned, test, attack, torch.device(device), eval_batch_size)
    info["eval_s"] = time.perf_counter() - start
    return {"after_ra": metrics, "ra": info, "model": tuned}


__all__ = ["REFERENCE_ROWS", "RetuningConfig", "retune", "retuning_attack", "retuning_set"]
