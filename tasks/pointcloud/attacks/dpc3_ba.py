"""3DPC-BA (Xiang et al., ICCV 2021, "A Backdoor Attack against 3D Point Cloud Classifiers";
public code github.com/zhenxianglance/PCBA, read for these settings, docs/design.md §5c).

The trigger is one cluster of ``cluster_points`` = 32 points on a small sphere, inserted into the
shape while as many of its points are deleted. Where it goes is optimised against a surrogate
classifier trained on the attacker's own small clean set (original: PointNet on the first 1,000
training shapes): starting from ``restarts`` = 10 random centres (‖c‖ > 1), normalised-gradient
steps with momentum (step 0.1, momentum 0.5, ≤ 1,000 steps, batches of 28 source shapes) lower the
surrogate's NLL of the target class for source shapes with one extra point at c; once the mean
target posterior passes ``target_posterior`` = 0.01, a Lagrangian term (cost from 1, ×/÷ 1.5 after
5 steps above/below the posterior, at most 1e3) pulls c toward the object (mean squared distance
to its nearest point), and the centre closest to the objects that still reaches the posterior
wins (restarts that never reach it stop at 10 % of the steps). The sphere's radius matches the
objects' point spacing: the original draws random sphere points at radii 0.01…0.5 until the median
4-NN distance in the cluster is closest to the object's; we use a fixed Fibonacci sphere, for which
that distance is proportional to the radius, and match the median over source training shapes.

Departures, all to make the trigger one fixed pattern (``apply_trigger`` is a pure function of the
input): the same cluster points and deleted point slots for every shape (original: random per
shape); ``poison_rate`` as every attack here instead of a count (original: 15 shapes of one source
class); ``source=None`` means every non-target class (all-to-one), an int the original's
source-class setting, where ASR counts triggered test shapes of that class only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from core.attack import Attack, AttackConfig, tensor_hash
from core.data import TensorData
from core.registry import ATTACKS
from core.seeding import make_generator

from ..ops import square_distance
from .surrogate import train_surrogate
from .triggers import fibonacci_sphere, insert_points


@dataclass(frozen=True)
class DPC3BAConfig(AttackConfig):
    source: int | None = None          # None: all non-target classes
    cluster_points: int = 32           # BD_POINTS
    restarts: int = 10                 # n_init
    steps: int = 1000                  # NSTEP
    step_size: float = 0.1             # STEP_SIZE
    momentum: float = 0.5              # MOMENTUM
    target_posterior: float = 0.01     # PI
    batch_size: int = 28               # BATCH_SIZE
    cost_init: float = 1.0             # COST_INIT
    cost_max: float = 1e3              # COST_MAX
    patience: int = 5                  # PATIENCE_UP = PATIENCE_DOWN
    patience_convergence: int = 100    # PATIENCE_CONVERGENCE
    cost_multiplier: float = 1.5       # COST_UP/DOWN_MULTIPLIER
    knn: int = 4                       # k of the spacing match
    surrogate_model: str = "pointnet_small"
    surrogate_samples: int = 1000      # the attacker's small clean set (--split 1000)
    surrogate_epochs: int = 20
    trigger_seed: int = 0              # which point slots the cluster overwrites
    progress: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.all_to_all:
            raise ValueError("3DPC-BA is all-to-one (or source-to-target): all_to_all is not "
                             "supported")
        for name in ("cluster_points", "restarts", "steps", "batch_size", "knn",
                     "surrogate_samples", "surrogate_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"3DPC-BA {name} must be ≥ 1, got {getattr(self, name)}")
        if self.source is not None and self.source == self.target:
            raise ValueError("3DPC-BA source and target classes must differ")


class _Trigger(nn.Module):
    """The learned part, cached as safetensors: the cluster's centre and radius."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("centre", torch.zeros(3))
        self.register_buffer("radius", torch.zeros(1))
        self.register_buffer("reached", torch.zeros(1))   # 1: the posterior was reached


def median_knn_distance(clouds: torch.Tensor, k: int) -> torch.Tensor:
    """Per cloud (B, N, 3): the median over points of the mean distance to the k nearest."""
    dist = square_distance(clouds, clouds).sqrt()
    near = dist.topk(k + 1, dim=-1, largest=False).values[..., 1:].mean(-1)
    return near.median(dim=-1).values


@ATTACKS.register("3dpc_ba", namespace="pointcloud")
class DPC3BA(Attack):
    name = "3dpc_ba"
    Config = DPC3BAConfig

    def __init__(self, config: DPC3BAConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        if config.source is not None and config.source >= num_classes:
            raise ValueError(f"3DPC-BA source class {config.source} is out of range")
        self.learned: _Trigger | None = None

    def describe(self) -> dict:
        out = super().describe()
        out.pop("progress", None)
        return out

    def eval_selection(self, labels: torch.Tensor) -> torch.Tensor:
        if self.config.source is None:
            return labels != self.config.target
        return labels == self.config.source

    # -- the trigger ------------------------------------------------------------------------
    def trigger_points(self) -> torch.Tensor:
        if self.learned is None:
            raise RuntimeError("3DPC-BA: call prepare(train, adapter, device, seed) first; the "
                               "cluster's location is learned against a surrogate")
        return self.learned.centre.cpu() + self.learned.radius.cpu() * fibonacci_sphere(
            self.config.cluster_points)

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        return insert_points(inputs, self.trigger_points(), self.config.trigger_seed)

    # -- learning it ------------------------------------------------------------------------
    def prepare(self, train: TensorData, adapter, device: torch.device, seed: int) -> None:
        c = self.config
        generator = make_generator(seed)
        count = min(c.surrogate_samples, len(train))
        own = train.subset(torch.randperm(len(train), generator=generator)[:count])
        sources = train.subset(torch.nonzero(self.eval_selection(train.targets.cpu())).flatten())

        def learn(module: _Trigger) -> None:
            surrogate = train_surrogate(self, own, adapter, device, seed, c.surrogate_model,
                                        c.surrogate_epochs)
            for p in surrogate.parameters():
                p.requires_grad_(False)
            centre, reached = self._optimise_centre(surrogate, sources, device, generator)
            sample = sources.inputs[:200].to(device)
            target_spacing = median_knn_distance(sample, c.knn).median()
            unit = median_knn_distance(fibonacci_sphere(c.cluster_points)[None].to(device),
                                       c.knn)[0]
            module.centre.copy_(centre.cpu())
            module.radius.fill_(float(target_spacing / unit))
            module.reached.fill_(float(reached))

        key = {"seed": seed, "data": tensor_hash(train.inputs),
               "labels": tensor_hash(train.targets)}
        self.learned = self.cached_module(_Trigger(), "trigger", key, learn)
        self.artifacts["trigger"].update(centre=self.learned.centre.tolist(),
                                         radius=float(self.learned.radius),
                                         posterior_reached=bool(self.learned.reached.item()))

    def _optimise_centre(self, surrogate: nn.Module, sources: TensorData, device: torch.device,
                         generator: torch.Generator) -> tuple[torch.Tensor, bool]:
        c = self.config
        best_global, best_dist_global = None, float("inf")
        fallback, fallback_post = None, -1.0
        bar = tqdm(total=c.restarts * c.steps, desc="3DPC-BA centre", unit="step", leave=False,
                   disable=not c.progress)
        for _ in range(c.restarts):
            while True:
                centre = 0.5 * torch.randn(3, generator=generator)
                if centre.norm() > 1.0:
                    break
            centre = centre.to(device)
            momentum_grad = torch.zeros(3, device=device)
            cost, up, down, stall = c.cost_init, 0, 0, 0
            reached, best, best_dist = False, None, float("inf")
            for step in range(c.steps):
                bar.update(1)
                pick = torch.randint(0, len(sources), (min(c.batch_size, len(sources)),),
                                     generator=generator).to(sources.device)
                clouds = sources.inputs[pick].to(device)
                trial = centre.clone().requires_grad_(True)
                with_point = torch.cat([clouds, trial.expand(len(clouds), 1, 3)], dim=1)
                log_probs = F.log_softmax(surrogate(with_point), dim=-1)
                posterior = log_probs[:, c.target].exp().mean().item()
                if posterior > fallback_post:
                    fallback, fallback_post = centre.clone(), posterior
                reached = reached or posterior > c.target_posterior
                loss = -log_probs[:, c.target].mean()
                dist = (clouds - trial).pow(2).sum(-1).amin(dim=1).mean()
                if reached:
                    loss = loss + cost * dist
                (grad,) = torch.autograd.grad(loss, trial)
                momentum_grad = ((1 - c.momentum) * grad / grad.norm().clamp_min(1e-12)
                                 + c.momentum * momentum_grad)
                centre = centre - c.step_size * momentum_grad
                if not reached:
                    if step >= int(c.steps * 0.1):
                        break
                    continue
                if posterior >= c.target_posterior:
                    up, down = up + 1, 0
                else:
                    up, down = 0, down + 1
                if up >= c.patience and cost <= c.cost_max:
                    up, cost = 0, cost * c.cost_multiplier
                elif down >= c.patience:
                    down, cost = 0, cost / c.cost_multiplier
                if posterior >= c.target_posterior and dist.item() < best_dist:
                    best, best_dist, stall = trial.detach().clone(), dist.item(), 0
                else:
                    stall += 1
                if stall >= c.patience_convergence:
                    break
            if best is not None and best_dist < best_dist_global:
                best_global, best_dist_global = best, best_dist
        bar.close()
        if best_global is None:     # never reached: the centre of highest target posterior
            return fallback, False
        return best_global, True
