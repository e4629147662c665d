"""The NFT purify loop (design §2): fine-tune neuron masks on a small clean set.

Modality-agnostic: the task adapter supplies the loss and the tracing input, the caller supplies
the augmentation (MixUp by default, composed after the task's light augmentation). The input
model is never modified: the loop works on a deep copy and returns it folded.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from .adapter import TaskAdapter
from .augment import Augmentation, bind_augmentation
from .data import TensorData
from .masks import fold_masks, inject_masks, mask_parameters, mask_values
from .regularizer import ETA_0, mask_l1, resolve_eta_c
from .schedules import MuSchedule, ScheduleKind, clamp_masks
from .seeding import make_generator, seed_everything


class NonFiniteLossError(FloatingPointError):
    """The purify loss became NaN/inf; the input model is left untouched."""


@dataclass(frozen=True)
class NFTConfig:
    """NFT hyper-parameters; defaults are the official code's (design §2)."""

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
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "check_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"NFT {name} must be ≥ 1, got {getattr(self, name)}")
        if self.iterations is not None and self.iterations < 1:
            raise ValueError(f"NFT iterations must be ≥ 1, got {self.iterations}")
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


def batch_indices(n: int, batch_size: int, epochs: int, iterations: int | None,
                  generator: torch.Generator) -> torch.Tensor:
    """(steps, batch_size) sample indices: ``epochs`` shuffled passes (ragged tail dropped), or
    ``iterations`` batches drawn with replacement (the official NFT sampler)."""
    if iterations is not None:
        return torch.randint(0, n, (iterations, batch_size), generator=generator)
    per_epoch = n // batch_size
    orders = [torch.randperm(n, generator=generator)[:per_epoch * batch_size]
              for _ in range(epochs)]
    return torch.cat(orders).view(-1, batch_size)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def nft_purify(model: nn.Module, adapter: TaskAdapter, clean: TensorData,
               augmentation: Augmentation, config: NFTConfig, device: torch.device | str,
               seed: int = 0) -> PurifyResult:
    """Run NFT and return the folded purified copy of ``model`` with its diagnostics."""
    device = torch.device(device)
    adapter.check_clean_set(clean, config.batch_size)
    clean = clean.to(device)
    work = copy.deepcopy(model).to(device)
    for param in work.parameters():
        param.requires_grad_(False)
    example = adapter.example_input(clean)
    masked = inject_masks(work, example, mask_bias=config.mask_bias,
                          mask_classifier=config.mask_classifier,
                          skip_first=not config.mask_first, exclude=config.exclude,
                          output_layers=adapter.output_layers(work, example))
    masks = mask_parameters(masked)
    schedule = config.schedule
    eta_c = resolve_eta_c(adapter.samples_per_class(clean), config.eta_0, config.eta_c)

    generator = make_generator(seed)
    steps = batch_indices(len(clean), config.batch_size, config.epochs, config.iterations,
                          generator).to(device)
    optimizer = torch.optim.SGD(masks, lr=config.lr, momentum=config.momentum)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(steps),
                                                           eta_min=config.lr_min)
    losses = torch.zeros(len(steps), device=device)
    work.train(config.bn_mode == "train")
    bind_augmentation(augmentation, work, lambda x, y: adapter.loss(work, x, y))

    _sync(device)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        seed_everything(seed)   # dropout and other layers that use the global RNG
        bar = tqdm(steps, desc="NFT", unit="step", disable=not config.progress, leave=False)
        for step, index in enumerate(bar):
            inputs, targets = augmentation(*clean.batch(index), generator)
            loss = adapter.loss(work, inputs, targets) + eta_c * mask_l1(masked)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            clamp_masks(masked, schedule)
            scheduler.step()
            losses[step] = loss.detach()
            if (step + 1) % config.check_every == 0 or step + 1 == len(steps):
                _check_finite(losses[:step + 1])
                bar.set_postfix(loss=f"{losses[step].item():.4f}")
    _sync(device)
    wall = time.perf_counter() - start

    work.eval()
    layers = [{"name": m.name, "target": m.target, "via": m.via, "depth": m.depth,
               "mu": schedule(m.depth, len(masked)), "units": m.num_units} for m in masked]
    final_masks = mask_values(masked)
    fold_masks(work)
    return PurifyResult(model=work, masks=final_masks, layers=layers,
                        loss_curve=losses.cpu().tolist(), eta_c=eta_c, steps=len(steps),
                        wall_time_s=wall)


def _check_finite(losses: torch.Tensor) -> None:
    bad = torch.nonzero(~torch.isfinite(losses)).flatten()
    if len(bad):
        step = int(bad[0]) + 1
        value = losses[bad[0]].item()
        raise NonFiniteLossError(
            f"NFT loss became {value} at step {step}; purification stopped and the input model "
            f"is unchanged. Try a lower lr or check the clean data for NaN/inf values.")


__all__ = ["NFTConfig", "NonFiniteLossError", "PurifyResult", "nft_purify"]
