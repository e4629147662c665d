"""What the baseline defenses share: working copies, timing, seeded batch loops, fine-tuning,
the clean metric, activation recording and the masks NFT's ``NeuronMask`` does not cover.

Every defense file builds on these helpers, so batching, seeding, the non-finite check,
progress bars and timing behave the same in all of them (and as in NFT's loop,
``core/purify.py``): data stay on the device, batches are drawn with a CPU generator, layers that
use the global RNG (dropout) are seeded inside ``torch.random.fork_rng`` so a run does not disturb
the caller's RNG, and the input model is never modified (defenses work on deep copies).
"""
from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Literal

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import parametrize

from ..adapter import TaskAdapter
from ..augment import Augmentation, bind_augmentation
from ..data import TensorData
from ..loop import Loop
from ..masks import NeuronMask
from ..seeding import make_generator, seed_everything
from .base import UnsupportedDefenseError

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class DefenseDivergedError(FloatingPointError):
    """A defense's loss became NaN/inf; the input model is left untouched."""


# -- configs ------------------------------------------------------------------------------------
def check_positive(config: Any, *names: str) -> None:
    for name in names:
        if getattr(config, name) <= 0:
            raise ValueError(f"{type(config).__name__}.{name} must be > 0, got "
                             f"{getattr(config, name)}")


def check_unit_interval(config: Any, *names: str) -> None:
    for name in names:
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"{type(config).__name__}.{name} must lie in [0, 1], got "
                             f"{getattr(config, name)}")


@dataclass(frozen=True)
class FinetuneConfig:
    """Weight fine-tuning on the clean set: SGD with momentum and weight decay, the task's light
    augmentation, a cosine / constant / step learning rate. Defaults are vanilla FT's
    (BackdoorBench ``config/defense/ft``: SGD lr 0.01, momentum 0.9, wd 5e-4, cosine, 100
    epochs; design §5: FT lr 0.01); batch 128 as NFT. Defenses that fine-tune subclass it and
    override the defaults of their paper."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    lr_schedule: Literal["cosine", "constant", "step"] = "cosine"
    lr_milestones: tuple[int, ...] = ()   # epochs at which "step" multiplies the lr by lr_gamma
    lr_gamma: float = 0.1
    augment: bool = True                  # apply adapter.train_augmentation() (images: crop+flip)
    progress: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "epochs", "batch_size", "lr")
        if self.momentum < 0 or self.weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be ≥ 0, got {self.momentum}, "
                             f"{self.weight_decay}")
        if self.lr_schedule == "step" and not self.lr_milestones:
            raise ValueError("lr_schedule 'step' needs lr_milestones (epochs)")


# -- working copies, timing, seeding ------------------------------------------------------------
def prepare(model: nn.Module, adapter: TaskAdapter, clean: TensorData, batch_size: int,
            device: torch.device | str) -> tuple[nn.Module, TensorData, torch.device]:
    """Check the clean set, and return a deep copy of ``model`` and the data on ``device``."""
    device = torch.device(device)
    adapter.check_clean_set(clean, batch_size)
    return copy.deepcopy(model).to(device), clean.to(device), device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Wall seconds spent inside ``with watch:`` blocks (accumulated), device synchronised."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> "Stopwatch":
        sync(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        sync(self.device)
        self.seconds += time.perf_counter() - self._start


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[torch.Generator]:
    """A CPU generator for data decisions, with the global RNG seeded (dropout) and restored."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        seed_everything(seed)
        yield make_generator(seed)


# -- loops --------------------------------------------------------------------------------------
def run_batches(step: StepFn, data: TensorData, *, batch_size: int, generator: torch.Generator,
                epochs: int = 1, iterations: int | None = None,
                augmentation: Augmentation | None = None, schedulers: Iterable[Any] = (),
                desc: str = "defense", progress: bool = True) -> list[float]:
    """Call ``step(inputs, targets) -> loss`` on ``epochs`` shuffled passes over ``data`` (ragged
    tail dropped) or on ``iterations`` batches drawn with replacement; returns the loss curve.

    The shared step machinery (``core.loop.Loop``) on ``data``'s device. Schedulers step after
    every batch. Raises ``DefenseDivergedError`` on a non-finite loss. Steps may draw from
    ``generator`` themselves, so augmentations draw per step here (same random stream).
    """
    batch_size = min(batch_size, len(data))
    loop = Loop(data.device, desc=desc, progress=progress)
    order = loop.order(len(data), batch_size, epochs, iterations, generator)
    schedulers = list(schedulers)

    def after(_: int) -> None:
        for scheduler in schedulers:
            scheduler.step()

    def diverged(step_no: int, value: float) -> DefenseDivergedError:
        return DefenseDivergedError(f"{desc}: the loss became {value} at step {step_no}; the "
                                    f"input model is unchanged. Lower the learning rate or check "
                                    f"the clean data for NaN/inf values.")

    return loop.run(step, data, order, generator=generator, augmentation=augmentation,
                    after_step=after, on_nonfinite=diverged, draw_ahead=False)


def gradient_step(loss_fn: LossFn, optimizer: torch.optim.Optimizer, *, ascent: bool = False,
                  max_grad_norm: float | None = None,
                  after: Callable[[], None] | None = None) -> StepFn:
    """One optimiser step on ``loss_fn`` (gradient ascent if ``ascent``); ``after`` runs after
    the step (e.g. clamping masks). Returns the loss itself, not its negation."""
    params = [p for group in optimizer.param_groups for p in group["params"]]

    def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = loss_fn(inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        (-loss if ascent else loss).backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        if after is not None:
            after()
        return loss.detach()

    return step


def sgd(params: Iterable[torch.Tensor], config: FinetuneConfig) -> torch.optim.SGD:
    return torch.optim.SGD(list(params), lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay,
                           nesterov=config.nesterov and config.momentum > 0)


def lr_scheduler(optimizer: torch.optim.Optimizer, config: FinetuneConfig,
                 steps_per_epoch: int) -> Any:
    """The per-batch scheduler of ``config.lr_schedule`` (None for constant)."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, config.epochs * steps_per_epoch))
    if config.lr_schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, [m * steps_per_epoch for m in config.lr_milestones], config.lr_gamma)
    return None


def steps_per_epoch(data: TensorData, batch_size: int) -> int:
    return max(1, len(data) // min(batch_size, len(data)))


def finetune(model: nn.Module, adapter: TaskAdapter, data: TensorData, config: FinetuneConfig,
             generator: torch.Generator, *, loss_fn: LossFn | None = None,
             params: Iterable[torch.Tensor] | None = None,
             augmentation: Augmentation | None = None, desc: str = "fine-tune") -> list[float]:
    """Train ``model`` in place (train mode) on ``data`` with ``config``; ``loss_fn`` defaults
    to the task loss, ``params`` to every trainable parameter, ``augmentation`` to the task's
    light augmentation when ``config.augment``. Returns the loss curve; leaves eval mode."""
    loss_fn = loss_fn or (lambda x, y: adapter.loss(model, x, y))
    if augmentation is None and config.augment:
        augmentation = adapter.train_augmentation()
    if augmentation is not None:
        bind_augmentation(augmentation, model, loss_fn)
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    optimizer = sgd(params, config)
    scheduler = lr_scheduler(optimizer, config, steps_per_epoch(data, config.batch_size))
    model.train()
    curve = run_batches(gradient_step(loss_fn, optimizer), data, batch_size=config.batch_size,
                        epochs=config.epochs, generator=generator, augmentation=augmentation,
                        schedulers=[scheduler] if scheduler is not None else [], desc=desc,
                        progress=config.progress)
    model.eval()
    return curve


def freeze(model: nn.Module) -> nn.Module:
    for param in model.parameters():
        param.requires_grad_(False)
    return model


# -- metrics and inputs -------------------------------------------------------------------------
def clean_score(adapter: TaskAdapter, model: nn.Module, data: TensorData,
                device: torch.device) -> float:
    """The adapter's primary clean metric (percent) of ``model`` on ``data``."""
    metrics = adapter.evaluate(model, data, None, device)
    if adapter.primary_metric not in metrics:
        raise UnsupportedDefenseError(
            f"{type(adapter).__name__}.evaluate returns no {adapter.primary_metric!r} "
            f"(its primary_metric); got {sorted(metrics)}")
    return float(metrics[adapter.primary_metric])


def require_perturbable(adapter: TaskAdapter, data: TensorData, defense: str) -> None:
    if not adapter.perturbable_inputs(data):
        own = None if adapter.continuous_inputs else adapter.capability_reason("continuous_inputs")
        reason = own or (f"{type(adapter).__name__} inputs are not continuous "
                         f"(perturbable_inputs() is False)")
        raise UnsupportedDefenseError(
            f"{defense} optimises an additive perturbation of the inputs, but {reason}")


def perturbation_support(adapter: TaskAdapter, defense: str) -> str | None:
    """Why ``defense`` (a trigger search over additive input perturbations against the model's
    own predictions: I-BAU, AWM) cannot serve ``adapter``, or None."""
    if not adapter.continuous_inputs:
        reason = (adapter.capability_reason("continuous_inputs") or f"{type(adapter).__name__} "
                  f"inputs are not continuous (continuous_inputs is False)")
        return f"{defense} adds a gradient-found perturbation to the inputs, but {reason}"
    if not adapter.can_predict_targets():
        return (f"{defense} searches its trigger against the model's own predictions, but "
                f"{type(adapter).__name__} is not single-label classification and implements "
                f"no predicted_targets")
    return None


def sample_loss_support(adapter: TaskAdapter, defense: str) -> str | None:
    """Why ``defense`` (which weighs or ranks training samples by their own loss: ABL, CBD)
    cannot serve ``adapter``, or None."""
    if not adapter.implements("sample_losses"):
        return (f"{defense} ranks or weighs samples by their own loss, but "
                f"{type(adapter).__name__} implements no sample_losses (per-sample losses)")
    return None


def clamp_to(inputs: torch.Tensor, bounds: tuple[Any, Any] | None) -> torch.Tensor:
    """Clamp ``inputs`` into the adapter's ``input_bounds()`` (no-op for None)."""
    if bounds is None:
        return inputs
    low, high = (torch.as_tensor(b, dtype=inputs.dtype, device=inputs.device) for b in bounds)
    return torch.maximum(torch.minimum(inputs, high), low)


@contextmanager
def recording(model: nn.Module, names: Iterable[str], what: Literal["input", "output"] = "output"
              ) -> Iterator[dict[str, torch.Tensor]]:
    """Record the first input or the output of the named modules on every forward pass."""
    modules = dict(model.named_modules())
    record: dict[str, torch.Tensor] = {}
    handles = []
    for name in names:
        if name not in modules:
            raise UnsupportedDefenseError(f"{type(model).__name__} has no module {name!r}")

        def hook(module: nn.Module, args: tuple, output: Any, name: str = name) -> None:
            value = args[0] if what == "input" else output
            if not isinstance(value, torch.Tensor):
                raise UnsupportedDefenseError(f"module {name!r} has a non-tensor {what}")
            record[name] = value

        handles.append(modules[name].register_forward_hook(hook))
    try:
        yield record
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, adapter: TaskAdapter, data: TensorData,
                          batch_size: int) -> int:
    """Re-estimate the running statistics of every BatchNorm layer on ``data`` (cumulative
    average over one pass, train mode, no gradient); returns the number of layers reset.
    The model runs through ``adapter.loss``, the task's own forward (a seq2seq model, e.g.,
    also needs its decoder inputs)."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    was_training = model.training
    model.train()
    try:
        for inputs, targets in data.batches(batch_size):
            adapter.loss(model, inputs, targets)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.train(was_training)
    return len(norms)


# -- masks beyond one scalar per output unit ----------------------------------------------------
class InputUnitMask(NeuronMask):
    """One scalar per *input* unit (dim 1) of a Conv/Linear weight: zero = the feature the layer
    reads is pruned (FP). Folds like ``NeuronMask`` (``core.masks.fold_masks``)."""

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (tensor.dim() - 2)
        return tensor * self.mask.view(shape).to(tensor.dtype)


class WeightMask(NeuronMask):
    """One scalar per weight entry (AWM's masks). Folds like ``NeuronMask``."""

    def __init__(self, weight: torch.Tensor, parameter_order: tuple[str, ...] = ()) -> None:
        super().__init__(1, weight.device, weight.dtype, parameter_order)
        self.mask = nn.Parameter(torch.ones_like(weight))

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor * self.mask.to(tensor.dtype)


def add_mask(module: nn.Module, mask: NeuronMask, tensor_name: str = "weight") -> NeuronMask:
    """Parametrize ``module.<tensor_name>`` with ``mask`` (removed by ``fold_masks``)."""
    parametrize.register_parametrization(module, tensor_name, mask)
    return mask


def parameter_order(module: nn.Module) -> tuple[str, ...]:
    return tuple(module._parameters)


__all__ = ["DefenseDivergedError", "FinetuneConfig", "InputUnitMask", "Stopwatch",
           "UnsupportedDefenseError", "WeightMask", "add_mask", "clamp_to", "clean_score",
           "finetune", "freeze", "gradient_step", "lr_scheduler", "parameter_order",
           "perturbation_support", "prepare", "sample_loss_support",
           "recalibrate_batchnorm", "recording", "require_perturbable", "run_batches",
           "seeded", "sgd", "steps_per_epoch", "sync"]
