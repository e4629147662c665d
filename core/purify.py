"""The NFT purify loop (docs/design.md §2): fine-tune neuron masks on a small clean set.

Modality-agnostic: the task adapter supplies the loss and the tracing input, the caller supplies
the augmentation (MixUp by default, composed after the task's light augmentation). The input
model is never modified: the loop works on a deep copy and returns it folded.
"""
from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .adapter import TaskAdapter
from .augment import Augmentation, bind_augmentation
from .data import TensorData
from .flat_masks import inject_flat_masks
from .loop import Loop
from .regularizer import ETA_0, resolve_eta_c
from .schedules import MuSchedule, ScheduleKind
from .seeding import make_generator, seed_everything


class NonFiniteLossError(FloatingPointError):
    """The purify loss became NaN/inf; the input model is left untouched."""


@dataclass(frozen=True)
class NFTConfig:
    """NFT hyper-parameters; defaults are the official code's (docs/design.md §2)."""

    epochs: int = 100                 # passes over the clean set (paper budget)
    iterations: int | None = None     # if set: this many batches drawn with replacement (official: 1000)
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.95
    lr_min: float = 0.02              # cosine annealing floor
    eta_0: float = ETA_0              # η_c = eta_0 / N_c …
    eta_c: float | None = None        # … unless given directly (paper Table 18 quotes η_c)
    mu: ScheduleKind = "exponential"
    mu_alpha: float = 0.8
    mu_beta: float = 0.5
    bn_mode: Literal["train", "eval"] = "train"   # official: train (BN statistics re-estimated)
    mask_bias: bool = False
    mask_classifier: bool = False
    mask_first: bool = False          # paper: never; the official code masks the first BN too
    exclude: tuple[str, ...] = ()     # fnmatch patterns of layer names never masked
    check_every: int = 25             # steps between NaN checks (each costs a device sync)
    # weight-row-masked convolutions scale their output channels instead (same function, no
    # weight gradient; folded into the weight rows at the end): core/flat_masks.py
    scale_conv_outputs: bool = True
    # "norm": a layer followed by a norm is masked through the norm's γ (official code);
    # "weight": every layer through its own weight rows (the paper's Eq. 8)
    mask_via: Literal["norm", "weight"] = "norm"
    # > 0: each step takes the mask gradient at adversarially shifted (frozen) weights, the
    # shift of FT-SAM (ε = ρ·T_w²∇L/‖T_w∇L‖, T_w = |w| when sam_adaptive): the nft_sam variant
    sam_rho: float = 0.0
    sam_adaptive: bool = True
    # > 0: each step takes the mask gradient at masks moved ρ further along the path from the
    # backdoored model (all masks 1) to the current masks, m + ρ·(m − 1)/‖m − 1‖: the path-aware
    # step of PAM (Min et al., NeurIPS 2024) in mask space; the nft_pam variant
    pam_rho: float = 0.0
    amp: bool = False                 # bfloat16 autocast (CUDA only; ignored on CPU)
    channels_last: bool = False       # channels_last model and inputs (CUDA only)
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "check_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"NFT {name} must be ≥ 1, got {getattr(self, name)}")
        if self.iterations is not None and self.iterations < 1:
            raise ValueError(f"NFT iterations must be ≥ 1, got {self.iterations}")
        if self.sam_rho < 0 or self.pam_rho < 0:
            raise ValueError(f"NFT sam_rho and pam_rho must be ≥ 0, got {self.sam_rho}, "
                             f"{self.pam_rho}")
        if self.mask_via not in ("norm", "weight"):
            raise ValueError(f"NFT mask_via must be 'norm' or 'weight', got {self.mask_via!r}")
        if self.lr <= 0 or not 0 <= self.lr_min <= self.lr:
            raise ValueError(f"need 0 ≤ lr_min ≤ lr and lr > 0, got lr={self.lr}, "
                             f"lr_min={self.lr_min}")
        self.schedule  # validates the μ family

    @property
    def schedule(self) -> MuSchedule:
        return MuSchedule(self.mu, self.mu_alpha, self.mu_beta)


@dataclass
class PurifyResult:
    model: nn.Module                       # folded: same class and state_dict keys as the input
    masks: dict[str, list[float]]          # final masks per masked layer
    layers: list[dict]                     # name, target, via, depth, μ, units per masked layer
    loss_curve: list[float]                # total loss per step
    eta_c: float
    steps: int
    wall_time_s: float
    extra: dict = field(default_factory=dict)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def nft_purify(model: nn.Module, adapter: TaskAdapter, clean: TensorData,
               augmentation: Augmentation, config: NFTConfig, device: torch.device | str,
               seed: int = 0) -> PurifyResult:
    """Run NFT and return the folded purified copy of ``model`` with its diagnostics."""
    loop = Loop(device, desc="NFT", amp=config.amp, channels_last=config.channels_last,
                check_every=config.check_every, progress=config.progress)
    device = loop.device
    adapter.check_clean_set(clean, config.batch_size)
    clean = clean.to(device)
    work = loop.prepare_model(copy.deepcopy(model))
    for param in work.parameters():
        param.requires_grad_(False)
    example = adapter.example_input(clean)
    masks = inject_flat_masks(work, example, mask_bias=config.mask_bias,
                              mask_classifier=config.mask_classifier,
                              skip_first=not config.mask_first, exclude=config.exclude,
                              output_layers=adapter.output_layers(work, example),
                              scale_conv_outputs=config.scale_conv_outputs,
                              via_norm=config.mask_via == "norm")
    schedule = config.schedule
    lower = masks.lower_bounds(schedule)      # μ(l) of every mask entry, computed once
    eta_c = resolve_eta_c(adapter.samples_per_class(clean), config.eta_0, config.eta_c)

    generator = make_generator(seed)
    order = loop.order(len(clean), config.batch_size, config.epochs, config.iterations,
                       generator)
    optimizer = torch.optim.SGD([masks.vector], lr=config.lr, momentum=config.momentum)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(order),
                                                           eta_min=config.lr_min)
    work.train(config.bn_mode == "train")
    bind_augmentation(augmentation, work, lambda x, y: adapter.loss(work, x, y))

    weights = [p for p in work.parameters() if p is not masks.vector]

    def step(inputs: torch.Tensor, targets: Any) -> torch.Tensor:
        shifts = sam_shift(weights, config, lambda: adapter.loss(work, inputs, targets), loop) \
            if config.sam_rho > 0 else None
        path = path_shift(masks.vector, config.pam_rho) if config.pam_rho > 0 else None
        with loop.autocast(), frozen_batchnorm_stats(work, shifts is not None):
            loss = adapter.loss(work, inputs, targets) + eta_c * masks.l1()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if path is not None:
            with torch.no_grad():
                masks.vector.sub_(path)
        if shifts is not None:
            with torch.no_grad():
                for p, e in zip(weights, shifts):
                    p.sub_(e)
        optimizer.step()
        masks.clamp_(lower)
        scheduler.step()
        return loss

    _sync(device)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        seed_everything(seed)   # dropout and other layers that use the global RNG
        curve = loop.run(step, clean, order, generator=generator, augmentation=augmentation,
                         on_nonfinite=_nonfinite)
    _sync(device)
    wall = time.perf_counter() - start

    work.eval()
    layers = [{"name": m.name, "target": m.target, "via": m.via, "depth": m.depth,
               "mu": schedule(m.depth, len(masks.layers)), "units": m.num_units}
              for m in masks.layers]
    final_masks = masks.values()
    masks.fold(work)
    loop.release_model(work)
    return PurifyResult(model=work, masks=final_masks, layers=layers, loss_curve=curve,
                        eta_c=eta_c, steps=len(order), wall_time_s=wall)


@contextmanager
def frozen_batchnorm_stats(model: nn.Module, active: bool = True) -> Iterator[None]:
    """With ``active``: batch-norm layers normalise with batch statistics but keep their running
    ones (a pass at SAM-shifted weights must not move them; NFT-SAM and FT-SAM)."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)] if active else []
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


@torch.no_grad()
def sam_epsilon(params: list[torch.Tensor], grads: list[torch.Tensor | None], rho: float,
                adaptive: bool) -> list[torch.Tensor]:
    """SAM's shift ε = ρ · T_w² g / ‖T_w g‖ per parameter (T_w = |w| when ``adaptive``, ASAM;
    else 1); a missing gradient counts as zero."""
    scaled = [torch.zeros_like(p) if g is None else g * (p.abs() if adaptive else 1.0)
              for p, g in zip(params, grads)]
    norm = torch.norm(torch.stack([s.norm(2) for s in scaled]), 2)
    scale = rho / (norm + 1e-12)
    return [s * (p.abs() if adaptive else 1.0) * scale for s, p in zip(scaled, params)]


def sam_shift(weights: list[nn.Parameter], config: NFTConfig, loss_fn: Any,
              loop: Loop) -> list[torch.Tensor]:
    """Shift the frozen ``weights`` in place by FT-SAM's ε (see ``NFTConfig.sam_rho``) and return
    the shifts (the caller subtracts them after the backward pass)."""
    for p in weights:
        p.requires_grad_(True)
    try:
        with loop.autocast():
            loss = loss_fn()
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
    finally:
        for p in weights:
            p.requires_grad_(False)
    shifts = sam_epsilon(weights, list(grads), config.sam_rho, config.sam_adaptive)
    with torch.no_grad():
        for p, e in zip(weights, shifts):
            p.add_(e)
    return shifts


@torch.no_grad()
def path_shift(vector: torch.Tensor, rho: float, origin: float = 1.0) -> torch.Tensor:
    """Move ``vector`` in place by ρ·(v − origin)/‖v − origin‖ (zero while v = origin) and
    return the shift (the caller subtracts it after the backward pass): PAM's path-aware point
    for NFT's masks, whose backdoored model is all masks at ``origin`` = 1."""
    direction = vector - origin
    shift = direction * (rho / (direction.norm() + 1e-12))
    vector.add_(shift)
    return shift


def _nonfinite(step: int, value: float) -> NonFiniteLossError:
    return NonFiniteLossError(
        f"NFT loss became {value} at step {step}; purification stopped and the input model "
        f"is unchanged. Try a lower lr or check the clean data for NaN/inf values.")


__all__ = ["NFTConfig", "NonFiniteLossError", "PurifyResult", "nft_purify"]
