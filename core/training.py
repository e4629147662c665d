"""Supervised training on tensor data (used to implant backdoors and by weight-tuning defenses).

The data stay on the device; each step indexes a batch, applies the task's batched augmentation
and the task loss. SGD + momentum + weight decay (the default, paper supp. Table 1), or Adam /
AdamW; a cosine or constant learning rate, optionally after a linear warmup; optional clipping
of the gradients' global norm. bfloat16 autocast and channels_last are options for CUDA.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal

import torch
from torch import nn

from .adapter import TaskAdapter
from .augment import Augmentation, Compose, bind_augmentation
from . import train_state
from .cpu_numerics import CpuBf16, parse_setting
from .data import TensorData
from .loop import Loop, can_draw_ahead
from .seeding import make_generator, seed_everything


OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")
LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant", "triangle")
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


@dataclass(frozen=True)
class TrainConfig:
    """Defaults: paper supp. Table 1 (SGD 0.05 / momentum 0.9 / wd 5e-4 / batch 128).

    ``optimizer``: ``sgd`` (momentum, no Nesterov; ``weight_decay`` is an L2 term), ``adam``
    (``weight_decay`` an L2 term) or ``adamw`` (decoupled ``weight_decay``); Adam and AdamW use
    PyTorch's betas (0.9, 0.999) and eps 1e-8, and ignore ``momentum``.
    ``grad_clip``: before each step the gradients of the trained parameters are rescaled to a
    global L2 norm of at most this (0 = off). ``warmup_steps``: the learning rate rises linearly,
    ``lr·k/warmup_steps`` at step k = 1..warmup_steps, then follows ``lr_schedule`` from ``lr``
    over the remaining steps (0 = off; a warmup longer than the run just stops early).
    """

    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: Literal["cosine", "constant", "triangle"] = "cosine"
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    grad_clip: float = 0.0       # max global gradient norm; 0 = no clipping
    warmup_steps: int = 0        # linear warmup steps before lr_schedule; 0 = none
    # -- the airbench-style recipe (its settings and their arithmetic:
    #    benchmarks/runner/presets/quick.yaml); every default leaves them off --
    nesterov: bool = False       # SGD with Nesterov momentum
    norm_lr_scale: float = 1.0   # lr × this for normalisation-layer parameters, their weight
    #                              decay ÷ this (the product lr·wd, the decay per step, is kept)
    triangle: tuple[float, float, float] = (0.2, 1.0, 0.07)  # "triangle" lr: start, peak, end
    triangle_peak: float = 0.23  # … as factors of lr; the peak at this fraction of the steps
    label_smoothing: float = 0.0  # ε of label smoothing (adapter.smooth_targets)
    lookahead_every: int = 0     # every k steps pull the weights to a slow EMA copy; 0 = off
    lookahead_decay: float = 0.95 ** 5   # the EMA decay, reached by a cubic ramp from 0
    amp: bool = False            # bfloat16 autocast (CUDA only; ignored on CPU)
    channels_last: bool = False  # 4-D inputs in channels_last memory format (CUDA)
    cpu_bf16: CpuBf16 = False    # on a CPU too: bfloat16 autocast + channels_last; "auto": only
    #   where the CPU computes bf16 natively (core/cpu_numerics.py; the airbench/ResNet presets
    #   use it). The default stays float32: the other presets were measured and pinned in it.
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "cpu_bf16", parse_setting(self.cpu_bf16))   # frozen
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"need epochs ≥ 1, batch_size ≥ 1 and lr > 0, got {self}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of "
                             f"{', '.join(OPTIMIZERS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; choose one of "
                             f"{', '.join(LR_SCHEDULES)}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov needs optimizer sgd with momentum > 0")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        if not 0.0 <= self.lookahead_decay <= 1.0:
            raise ValueError(f"lookahead_decay must lie in [0, 1], got {self.lookahead_decay}")
        if len(self.triangle) != 3 or not 0.0 < self.triangle_peak < 1.0:
            raise ValueError("triangle needs (start, peak, end) factors and 0 < triangle_peak < 1")
        for name in ("momentum", "weight_decay", "grad_clip", "warmup_steps", "norm_lr_scale",
                     "lookahead_every"):
            value = getattr(self, name)
            if not value >= 0:   # also rejects NaN
                raise ValueError(f"TrainConfig.{name} must be ≥ 0, got {value}")


def param_groups(params: list[nn.Parameter], config: TrainConfig,
                 model: nn.Module | None) -> list[dict] | list[nn.Parameter]:
    """``params`` as they are, or — with ``norm_lr_scale`` ≠ 1 and a model — two groups: the
    normalisation layers' parameters at lr × scale and weight decay ÷ scale, the rest as set."""
    if config.norm_lr_scale == 1.0 or model is None:
        return params
    norm_ids = {id(p) for m in model.modules() if isinstance(m, NORM_LAYERS)
                for p in m.parameters(recurse=False)}
    norm = [p for p in params if id(p) in norm_ids]
    other = [p for p in params if id(p) not in norm_ids]
    scale = config.norm_lr_scale
    return [{"params": other},
            {"params": norm, "lr": config.lr * scale, "weight_decay": config.weight_decay / scale}]


def build_optimizer(params: Iterable[nn.Parameter], config: TrainConfig,
                    model: nn.Module | None = None) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` over ``params`` at ``config.lr`` (``model`` names the
    normalisation layers for ``norm_lr_scale``)."""
    params = param_groups(list(params), config, model)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=config.nesterov)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
                    total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-step scheduler for a run of ``total_steps`` steps (None: constant lr, no warmup).

    Without warmup this is ``CosineAnnealingLR(T_max=total_steps)`` or nothing, as before the
    warmup option existed; with warmup, one ``LambdaLR`` of the closed forms of both phases.
    """
    warmup = config.warmup_steps
    if config.lr_schedule == "triangle":
        start, peak, end = config.triangle
        rise = max(1, int(total_steps * config.triangle_peak))
        fall = max(1, total_steps - rise)

        def triangle(step: int) -> float:
            if step < rise:
                return start + (peak - start) * step / rise
            return peak + (end - peak) * min(step - rise, fall) / fall

        return torch.optim.lr_scheduler.LambdaLR(optimizer, triangle)
    if warmup == 0:
        if config.lr_schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        return None
    decay_steps = max(1, total_steps - warmup)
    cosine = config.lr_schedule == "cosine"

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if not cosine:
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, decay_steps) / decay_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fit(model: nn.Module, adapter: TaskAdapter, data: TensorData, config: TrainConfig,
        device: torch.device | str, seed: int = 0,
        augmentation: Augmentation | None = None,
        parameters: list[nn.Parameter] | None = None,
        checkpoint_dir: str | Path | None = None) -> dict:
    """Train ``model`` in place on ``data``; returns ``{"loss_curve", "wall_time_s", "steps",
    "numeric_path"}`` (the last: float32 or bf16 on the CPU, and why).

    ``checkpoint_dir``: after every epoch the whole training state goes there
    (``core.train_state``), and a call that finds a checkpoint there continues after its epoch:
    the result is bit for bit that of an uninterrupted run (the same weights and loss curve on
    the same device and thread count), ``wall_time_s`` adds up the sessions and
    ``resumed_from_epoch`` is added to the returned dict. A checkpoint of another run (config,
    data size, seed or model differ) is an error (``ResumeMismatchError``). The caller deletes
    the folder when it has kept the trained model.
    """
    loop = Loop(device, desc="train", amp=config.amp, channels_last=config.channels_last,
                cpu_bf16=config.cpu_bf16, grad_clip=config.grad_clip, progress=config.progress)
    device = loop.device
    augmentation = augmentation or adapter.train_augmentation()
    loop.prepare_model(model)
    data = data.to(device)
    if len(data) < config.batch_size:
        raise ValueError(f"training set has {len(data)} samples, fewer than one batch of "
                         f"{config.batch_size}")
    generator = make_generator(seed)
    order = loop.order(len(data), config.batch_size, config.epochs, None, generator)
    params = list(parameters) if parameters is not None else [p for p in model.parameters()
                                                               if p.requires_grad]
    optimizer = build_optimizer(params, config, model)
    scheduler = build_scheduler(optimizer, config, len(order))
    lookahead = Lookahead(model, config, len(order)) if config.lookahead_every else None
    bind_augmentation(augmentation, model, lambda x, y: adapter.loss(model, x, y))
    if config.label_smoothing:
        augmentation = Compose(augmentation, SmoothTargets(adapter, config.label_smoothing))
    checkpoints = None
    if checkpoint_dir is not None:
        checkpoints = _Checkpoints(Path(checkpoint_dir), model, optimizer, scheduler, lookahead,
                                   generator, device, len(order) // config.epochs,
                                   train_state.fingerprint(config, model, len(data), seed,
                                                           len(order)))
    resumed = checkpoints.resume() if checkpoints is not None else None
    if resumed is not None and not can_draw_ahead(augmentation):
        generator.set_state(resumed.generator_state)   # drawing ahead re-draws from the start
    after_step = lookahead.step if lookahead is not None else None
    if checkpoints is not None:
        after_step = checkpoints.after_step(after_step)

    def step(inputs: torch.Tensor, targets: Any) -> torch.Tensor:
        with loop.autocast():
            loss = adapter.loss(model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        loop.clip(params)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if checkpoints is not None:
            checkpoints.record(loss)
        return loss

    model.train()
    start = time.perf_counter()
    if checkpoints is not None:
        checkpoints.started = start
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        seed_everything(seed)
        if resumed is not None:
            resumed.restore_global_rng(device)
        curve = loop.run(step, data, order, generator=generator, augmentation=augmentation,
                         after_step=after_step, on_nonfinite=_nonfinite,
                         start=resumed.step if resumed is not None else 0)
    if resumed is not None:
        curve = resumed.losses + curve
    if lookahead is not None:
        lookahead.finish()
    loop.release_model(model)     # default layout again (safetensors wants contiguous)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    model.eval()
    info = {"loss_curve": curve, "steps": len(order),
            "wall_time_s": time.perf_counter() - start + (resumed.wall_time_s if resumed else 0.0),
            "numeric_path": loop.numeric_path.as_record()}
    if resumed is not None:
        info["resumed_from_epoch"] = resumed.epoch
    return info


class _Checkpoints:
    """``fit``'s per-epoch checkpoints (``core.train_state``): ``resume`` restores the last one;
    ``after_step`` wraps the loop's per-step hook and saves at the end of every epoch; ``record``
    keeps each step's loss (on the device; read once per epoch)."""

    def __init__(self, directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: Any, lookahead: "Lookahead | None", generator: torch.Generator,
                 device: torch.device, steps_per_epoch: int, run_fingerprint: str) -> None:
        self.directory, self.model, self.optimizer = directory, model, optimizer
        self.scheduler, self.lookahead, self.generator = scheduler, lookahead, generator
        self.device, self.per_epoch, self.fingerprint = device, steps_per_epoch, run_fingerprint
        self.earlier: list[float] = []        # losses of the steps before this session
        self.pending: list[torch.Tensor] = []  # this session's losses, still on the device
        self.earlier_s = 0.0                  # wall time of the earlier sessions
        self.started = time.perf_counter()

    def resume(self) -> train_state.Resumed | None:
        resumed = train_state.load(self.directory, model=self.model, optimizer=self.optimizer,
                                   scheduler=self.scheduler, lookahead=self.lookahead,
                                   run_fingerprint=self.fingerprint, device=self.device)
        if resumed is not None:
            self.earlier, self.earlier_s = list(resumed.losses), resumed.wall_time_s
        return resumed

    def record(self, loss: torch.Tensor) -> None:
        self.pending.append(loss.detach().float())

    def after_step(self, inner: Any) -> Any:
        def hook(i: int) -> None:
            if inner is not None:
                inner(i)
            if (i + 1) % self.per_epoch == 0:
                self._save(i + 1)
        return hook

    def _save(self, step: int) -> None:
        if self.pending:
            self.earlier += torch.stack(self.pending).cpu().tolist()
            self.pending = []
        train_state.save(self.directory, epoch=step // self.per_epoch, step=step,
                         model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                         lookahead=self.lookahead, generator=self.generator,
                         losses=self.earlier,
                         wall_time_s=self.earlier_s + time.perf_counter() - self.started,
                         run_fingerprint=self.fingerprint, device=self.device)


def _nonfinite(step: int, value: float) -> FloatingPointError:
    return FloatingPointError(f"training loss became {value} at step {step}; lower the "
                              f"learning rate")


class SmoothTargets:
    """Augmentation step: ``adapter.smooth_targets`` (``TrainConfig.label_smoothing``); draws
    nothing."""

    def __init__(self, adapter: TaskAdapter, amount: float) -> None:
        self.adapter, self.amount = adapter, amount

    def __call__(self, inputs: torch.Tensor, targets: Any, generator: torch.Generator) -> Any:
        return inputs, self.adapter.smooth_targets(targets, self.amount)

    def draw(self, n: int, generator: torch.Generator) -> None:
        return None

    def apply(self, inputs: torch.Tensor, targets: Any, drawn: None) -> Any:
        return inputs, self.adapter.smooth_targets(targets, self.amount)


class Lookahead:
    """hlb-cifar10 / airbench's lookahead: a slow copy of every floating-point state entry
    (weights and normalisation statistics); every ``lookahead_every`` steps the slow copy moves
    toward the model (``slow ← decay·slow + (1−decay)·fast``) and the model is reset to it. The
    decay ramps up cubically from 0 to ``lookahead_decay`` over the run; at the end the model
    takes the slow copy."""

    def __init__(self, model: nn.Module, config: TrainConfig, total_steps: int) -> None:
        self.model, self.every, self.total = model, config.lookahead_every, max(1, total_steps)
        self.decay = config.lookahead_decay
        self.slow = {k: v.detach().clone() for k, v in model.state_dict().items()
                     if v.is_floating_point()}

    @torch.no_grad()
    def _pull(self, decay: float) -> None:
        state = self.model.state_dict()
        for key, slow in self.slow.items():
            slow.lerp_(state[key], 1.0 - decay)
            state[key].copy_(slow)

    def step(self, step: int) -> None:
        if (step + 1) % self.every == 0:
            self._pull(self.decay * ((step + 1) / self.total) ** 3)

    def finish(self) -> None:
        self._pull(1.0)
