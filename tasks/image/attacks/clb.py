"""CLB, the label-consistent backdoor (Turner, Tsipras & Madry, "Label-Consistent Backdoor
Attacks", arXiv:1912.02771, 2019; official code MadryLab/label-consistent-backdoor-code).

Target-class training images are first made hard to classify with an L∞ PGD perturbation
(maximise the surrogate's cross-entropy on their true label, ε = 8/255, docs/design.md §5), then the
four-corner 3×3 trigger is stamped on them; labels are kept (clean label). At test time only
the trigger is applied. The trigger reproduces the official "all-corners" pattern: in each
corner a 3×3 pattern of white and black pixels, the right corners using
[[0, 0, 1], [0, 1, 0], [1, 0, 1]] and the left corners its mirror image. ``amplitude`` is the
official ``reduced_amplitude`` (pixels ± amplitude, clipped; 1 = full black/white).

Defaults: ``poison_rate`` is the share of the target class that is poisoned, 1.0 as in the
official config (``poisoning_proportion: 1.0``); on CIFAR-10 that is 10 % of the training set,
the NFT paper's poison rate. Where ours differs: the paper attacks an *adversarially trained*
model and ships the perturbed images; we train a standard clean surrogate in ``prepare`` (on
the attacker's clean training set; ``surrogate_model``/``surrogate_epochs``) and run PGD
ourselves (``set_surrogate`` takes any trained model instead, e.g. an adversarially trained
one). The PGD schedule is not stated in our sources; we use the common CIFAR setting of Madry
et al. (2018): 10 steps of 2/255 from a random start inside the ε-ball.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from core.data import TensorData
from core.registry import ATTACKS, MODELS
from core.training import TrainConfig, fit
from core.attack import CleanLabelAttack, CleanLabelConfig
from core.config import require

from .triggers import check_images

RIGHT_CORNER = ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 1.0))   # official pattern, right side


@dataclass(frozen=True)
class CLBConfig(CleanLabelConfig):
    poison_rate: float = 1.0              # share of the target class (official config: 1.0)
    amplitude: float = 1.0                # official reduced_amplitude (None = 1)
    pgd_eps: float = 8.0 / 255.0          # L∞ budget (docs/design.md §5, Turner et al.)
    pgd_steps: int = 10                   # 0 = trigger only (no surrogate needed)
    pgd_step_size: float = 2.0 / 255.0
    pgd_random_start: bool = True
    pgd_batch_size: int = 256
    surrogate_model: str = "small_cnn"    # any registered model factory
    surrogate_epochs: int = 10
    surrogate_batch_size: int = 128
    surrogate_lr: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0.0 < self.amplitude <= 1.0,
                f"clb amplitude must lie in (0, 1], got {self.amplitude}")
        require(0.0 <= self.pgd_eps <= 1.0, f"clb pgd_eps must lie in [0, 1], got {self.pgd_eps}")
        require(self.pgd_steps >= 0, f"clb pgd_steps must be ≥ 0, got {self.pgd_steps}")
        require(self.pgd_step_size > 0, f"clb pgd_step_size must be > 0, got {self.pgd_step_size}")
        require(self.pgd_batch_size >= 1,
                f"clb pgd_batch_size must be ≥ 1, got {self.pgd_batch_size}")
        require(self.surrogate_epochs >= 1,
                f"clb surrogate_epochs must be ≥ 1, got {self.surrogate_epochs}")
        require(self.surrogate_batch_size >= 1,
                f"clb surrogate_batch_size must be ≥ 1, got {self.surrogate_batch_size}")
        require(self.surrogate_lr > 0, f"clb surrogate_lr must be > 0, got {self.surrogate_lr}")


@ATTACKS.register("clb", namespace="image")
class CLB(CleanLabelAttack):
    name = "clb"
    Config = CLBConfig

    def __init__(self, config: CLBConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        self.surrogate: nn.Module | None = None
        self._adapter: Any = None
        self._device: torch.device | None = None

    # -- trigger ------------------------------------------------------------------------------
    def corner_patterns(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        right = torch.tensor(RIGHT_CORNER, device=like.device, dtype=like.dtype)
        return right.flip(-1), right   # (left, right)

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_images(inputs, self.name, min_size=3)
        h, w = inputs.shape[-2:]
        amp = self.config.amplitude
        left, right = self.corner_patterns(inputs)
        out = inputs.clone()
        for top in (0, h - 3):
            for start, pattern in ((0, left), (w - 3, right)):
                region = out[..., top:top + 3, start:start + 3]
                out[..., top:top + 3, start:start + 3] = region + amp * (2 * pattern - 1)
        return out.clamp(0.0, 1.0)

    # -- surrogate and PGD --------------------------------------------------------------------
    def prepare(self, train: TensorData, adapter: Any, device: torch.device, seed: int) -> None:
        """Train the clean surrogate that PGD attacks (skipped when ``pgd_steps`` is 0)."""
        if self.config.pgd_steps == 0:
            return
        cfg = self.config
        factory = MODELS.get(cfg.surrogate_model, namespace="image")
        with torch.random.fork_rng(devices=[]):   # seeded initial weights, global RNG untouched
            torch.manual_seed(seed)
            model = factory(num_classes=self.num_classes, in_channels=train.inputs.shape[1])
        train_cfg = TrainConfig(epochs=cfg.surrogate_epochs,
                                batch_size=min(cfg.surrogate_batch_size, len(train)),
                                lr=cfg.surrogate_lr, progress=False)
        fit(model, adapter, train, train_cfg, device, seed)
        self.set_surrogate(model, adapter, device)

    def set_surrogate(self, model: nn.Module, adapter: Any, device: torch.device | str) -> None:
        """Use ``model`` (already trained, e.g. adversarially as in the paper) for PGD; it is
        moved to ``device``, put in eval mode and frozen. ``adapter.loss(model, inputs,
        targets)`` is the loss PGD maximises."""
        model.to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.surrogate, self._adapter, self._device = model, adapter, torch.device(device)

    def perturb(self, inputs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """L∞ PGD that maximises the surrogate's loss on the target (= true) label."""
        cfg = self.config
        if cfg.pgd_steps == 0:
            return inputs.clone()
        if self.surrogate is None:
            raise RuntimeError("clb: the PGD surrogate is missing; call "
                               "attack.prepare(train, adapter, device, seed) before poison() "
                               "(or set pgd_steps=0 for the trigger alone)")
        eps, step = cfg.pgd_eps, cfg.pgd_step_size
        out = []
        for start in range(0, inputs.shape[0], cfg.pgd_batch_size):
            clean = inputs[start:start + cfg.pgd_batch_size].to(self._device)
            labels = torch.full((clean.shape[0],), cfg.target, dtype=torch.long,
                                device=self._device)
            adv = clean.clone()
            if cfg.pgd_random_start:
                noise = torch.rand(clean.shape, generator=generator) * 2 - 1
                adv = (clean + eps * noise.to(clean)).clamp(0.0, 1.0)
            for _ in range(cfg.pgd_steps):
                adv.requires_grad_(True)
                with torch.enable_grad():
                    loss = self._adapter.loss(self.surrogate, adv, labels)
                    (grad,) = torch.autograd.grad(loss, adv)
                adv = adv.detach() + step * grad.sign()
                adv = torch.minimum(torch.maximum(adv, clean - eps), clean + eps).clamp(0.0, 1.0)
            out.append(adv.detach().to(inputs.device))
        return torch.cat(out)

    def poison_inputs(self, inputs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply_trigger(self.perturb(inputs, generator))
