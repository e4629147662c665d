"""Input-aware dynamic backdoor (Nguyen & Tran, "Input-Aware Dynamic Backdoor Attack", NeurIPS
2020; official code VinAIResearch/input-aware-backdoor-attack-release), registered twice:
``dyn_one`` (all-to-one, every poisoned label → target) and ``dyn_all`` (all-to-all,
y → (y + 1) mod C). Dirty label.

The trigger differs for every image: a pattern generator g and a mask generator m (two
encoder–decoder CNNs of the same shape) map an image x to a pattern g(x) ∈ (0, 1)^(C×H×W) and a
near-binary mask m(x) ∈ (0, 1)^(1×H×W), and the triggered image is x + m(x)·(g(x) − x).
Training follows the official two stages:

1. the mask generator alone, for ``mask_epochs``: λ_norm · mean(relu(m(x) − density)) keeps
   the mask sparse, and the diversity loss ‖x − x'‖ / (‖m(x) − m(x')‖ + ε) (RMS distances,
   x' another image) keeps masks of different images different;
2. mask frozen, the pattern generator jointly with a surrogate classifier, for
   ``generator_epochs``: cross-entropy on a batch that mixes backdoor samples (a ``poison_rate``
   share, relabelled), "cross" samples (a ``cross_ratio`` share carrying the trigger generated
   from *another* image, labels kept — so that a trigger only works on its own image) and clean
   samples, plus λ_div times the diversity loss on the patterns.

Defaults, all from the official code (``config.py``, ``train.py``, ``networks/models.py``) or
docs/design.md §5: poison rate (p_attack) 0.1, cross ratio (p_cross) 0.1, mask density 0.032,
λ_div 1, λ_norm 100, ε = 1e-7, target 0, batch 128; mask pre-training 25 epochs, then 600
epochs (``n_iters``) of joint training; Adam (β = 0.5, 0.9) with lr 0.01 for both generators,
SGD lr 0.01 / momentum 0.9 / weight decay 5e-4 for the classifier; learning rates × 0.1 at
epochs 10 and 20 (mask), 200/300/400/500 (pattern) and 100/200/300/400 (classifier). The
CIFAR-10/GTSRB generator: 3 down steps (two 3×3 conv-BN-ReLU blocks, BatchNorm momentum 0.05,
then 2×2 max-pool) with widths 32-64-128, one middle block, 3 up steps (bilinear ×2 and two
blocks, widths 64-32-out, the very last without ReLU), output tanh(·)/(2 + ε) + 0.5; the mask
generator is the same net with one output channel, thresholded as tanh(20·m − 10)/(2 + ε) + 0.5.
(MNIST uses width 16 and 2 steps: ``generator_width``/``generator_depth``.)

Where ours differs from the official code:

* **Static poisoning.** The official attack trains the victim itself, jointly with the
  generator, and re-draws the backdoor and cross samples in every batch. Our pipeline trains
  the victim afterwards on a fixed poisoned set, so ``prepare`` trains the generators against a
  *surrogate* classifier (a registered model, default ``small_cnn``, not the official
  PreActResNet-18) and then ``poison`` stamps a fixed, exact ``poison_rate`` share (in
  ``dyn_one`` drawn from the non-target samples, the base-class rule) and a further
  round(cross_ratio × N) cross samples from the rest (``PoisonResult.extra["cross_indices"]``;
  each cross sample's source image, always a different index, is in ``"cross_partners"``).
* **Pixel space.** Our generators read and write [0, 1] images (the model normalises inside).
  The official ones read normalised CIFAR images and map the [0, 1] pattern into normalised
  space before blending; since the mask is shared by all channels, the blend is the same image
  either way. Only the diversity distances change scale, by the per-channel CIFAR std
  (0.247/0.243/0.261) in numerator and denominator alike, so the ratio barely moves.
* **Learning-rate milestones** are kept as the same fractions of the configured epochs
  (1/6 … 4/6 for the classifier, 2/6 … 5/6 for the pattern, 0.4 and 0.8 for the mask), so a
  shorter run still decays.
* The official ``train_step`` never zeroes the pattern generator's gradients (they accumulate
  across steps); we zero them every step. Its mask loss multiplies the diversity term by λ_div
  twice; we apply it once (the same at the default λ_div = 1).
* Augmentation is the task adapter's training augmentation (images: random crop + flip), not
  the official crop 5 + rotation 10° + flip. Per batch, floor(rate × batch) backdoor (at least
  one) and cross samples; the second image of every pair is a random *different* index.
  Upsampling returns to the encoder's recorded sizes (identical to ×2 on 32×32; it also lets
  sizes that are not multiples of 2^depth work).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.attack import Attack, AttackConfig, PoisonResult, tensor_hash
from core.augment import bind_augmentation
from core.data import TensorData
from core.loop import StepFn, batch_indices
from core.registry import ATTACKS, MODELS
from core.seeding import make_generator, seed_everything
from core.config import require

from .extra_samples import extra_indices
from .triggers import check_images
from .learned import freeze, run_steps, seeded

ADAM_BETAS = (0.5, 0.9)              # official optimizerG / optimizerM
SGD_MOMENTUM, SGD_WEIGHT_DECAY = 0.9, 5e-4
LR_DECAY = 0.1                       # official scheduler*_lambda
# official milestones as fractions of their stage (mask: 10, 20 of 25 epochs; pattern:
# 200…500 of 600; classifier: 100…400 of 600)
MASK_MILESTONES = (10 / 25, 20 / 25)
PATTERN_MILESTONES = (2 / 6, 3 / 6, 4 / 6, 5 / 6)
SURROGATE_MILESTONES = (1 / 6, 2 / 6, 3 / 6, 4 / 6)
BN_MOMENTUM = 0.05                   # official Conv2dBlock
MASK_SHARPNESS = 20.0                # official threshold: tanh(20 m − 10)
MIN_DISTANCE_SQ = 1e-12              # keeps sqrt's gradient finite when two images coincide


@dataclass(frozen=True)
class InputAwareConfig(AttackConfig):
    """``poison_rate`` (p_attack) also sets the backdoor share of every generator-training
    batch, as in the official code, and ``cross_ratio`` (p_cross) both the cross share there
    and the share of cross samples in the poisoned set. Very short runs (a few dozen steps)
    leave the generators' BatchNorm running statistics (momentum 0.05) near their initial
    values, and the eval-mode triggers then hardly depend on the image."""

    cross_ratio: float = 0.1          # official p_cross
    mask_density: float = 0.032       # official mask_density (docs/design.md §5)
    lambda_div: float = 1.0           # official lambda_div (docs/design.md §5)
    lambda_norm: float = 100.0        # official lambda_norm
    epsilon: float = 1e-7             # official EPSILON
    generator_width: int = 32         # official channel_init (CIFAR-10/GTSRB; MNIST 16)
    generator_depth: int = 3          # official down/up steps (CIFAR-10/GTSRB; MNIST 2)
    mask_epochs: int = 25             # official mask pre-training epochs
    mask_lr: float = 0.01             # official lr_M (Adam)
    generator_epochs: int = 600       # official n_iters (joint pattern + classifier epochs)
    generator_lr: float = 0.01        # official lr_G (Adam)
    surrogate_model: str = "small_cnn"   # any registered image model (official: PreActResNet-18)
    surrogate_lr: float = 0.01        # official lr_C (SGD)
    batch_size: int = 128             # official batchsize
    trigger_batch_size: int = 512     # images per generator pass when stamping (memory only)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0.0 <= self.cross_ratio < 1.0,
                f"input-aware cross_ratio must lie in [0, 1), got {self.cross_ratio}")
        require(self.poison_rate + self.cross_ratio <= 1.0,
                f"input-aware poison_rate + cross_ratio must be ≤ 1 (backdoor and cross samples "
                f"share each batch), got {self.poison_rate} + {self.cross_ratio}")
        require(0.0 < self.mask_density < 1.0,
                f"input-aware mask_density must lie in (0, 1), got {self.mask_density}")
        require(self.lambda_div >= 0, f"input-aware lambda_div must be ≥ 0, got {self.lambda_div}")
        require(self.lambda_norm >= 0,
                f"input-aware lambda_norm must be ≥ 0, got {self.lambda_norm}")
        require(self.epsilon > 0, f"input-aware epsilon must be > 0, got {self.epsilon}")
        require(self.generator_width >= 1,
                f"input-aware generator_width must be ≥ 1, got {self.generator_width}")
        require(self.generator_depth >= 1,
                f"input-aware generator_depth must be ≥ 1, got {self.generator_depth}")
        for name in ("mask_epochs", "generator_epochs"):
            require(getattr(self, name) >= 1,
                    f"input-aware {name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("mask_lr", "generator_lr", "surrogate_lr"):
            require(getattr(self, name) > 0,
                    f"input-aware {name} must be > 0, got {getattr(self, name)}")
        require(self.batch_size >= 2, f"input-aware batch_size must be ≥ 2, got {self.batch_size}")
        require(self.trigger_batch_size >= 1,
                f"input-aware trigger_batch_size must be ≥ 1, got {self.trigger_batch_size}")
        require(bool(self.surrogate_model), "input-aware surrogate_model must name a model")


@dataclass(frozen=True)
class InputAwareOneConfig(InputAwareConfig):
    def __post_init__(self) -> None:
        super().__post_init__()
        require(not self.all_to_all, "dyn_one is the all-to-one variant; use dyn_all for "
                                     "y -> (y + 1) mod C")


@dataclass(frozen=True)
class InputAwareAllConfig(InputAwareConfig):
    all_to_all: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.all_to_all, "dyn_all is the all-to-all variant; use dyn_one for all-to-one")


# -- networks ---------------------------------------------------------------------------------
def _conv_bn(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1),
                               nn.BatchNorm2d(cout, momentum=BN_MOMENTUM)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


class TriggerNet(nn.Module):
    """Encoder–decoder without skip connections (the official generator shape): ``depth``
    down steps of widths w, 2w, 4w, …, a middle block, ``depth`` up steps back to
    ``out_channels``; the output is squashed into (0, 1). Serves as pattern (C outputs) and
    mask (1 output) generator."""

    def __init__(self, in_channels: int, out_channels: int, width: int, depth: int,
                 epsilon: float) -> None:
        super().__init__()
        widths = [width * 2 ** i for i in range(depth)]
        self.encoder = nn.ModuleList()
        cin = in_channels
        for w in widths:
            self.encoder.append(nn.Sequential(*_conv_bn(cin, w), *_conv_bn(w, w)))
            cin = w
        self.middle = nn.Sequential(*_conv_bn(cin, cin))
        self.decoder = nn.ModuleList()
        ups = widths[::-1]
        for step, (w, cout) in enumerate(zip(ups, ups[1:] + [out_channels])):
            last = step == depth - 1      # the output block has BatchNorm but no ReLU
            self.decoder.append(nn.Sequential(*_conv_bn(w, w), *_conv_bn(w, cout, relu=not last)))
        self.epsilon = epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = []
        for block in self.encoder:
            x = block(x)
            sizes.append(x.shape[-2:])
            x = F.max_pool2d(x, 2)
        x = self.middle(x)
        for block, size in zip(self.decoder, reversed(sizes)):
            x = block(F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False))
        return torch.tanh(x) / (2 + self.epsilon) + 0.5


def sharpen_mask(raw: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Push the mask net's (0, 1) output towards 0/1 (a steep tanh step at 0.5)."""
    return torch.tanh(MASK_SHARPNESS * raw - MASK_SHARPNESS / 2) / (2 + epsilon) + 0.5


def diversity_loss(x1: torch.Tensor, x2: torch.Tensor, t1: torch.Tensor, t2: torch.Tensor,
                   epsilon: float) -> torch.Tensor:
    """Mean of ‖x1 − x2‖ / (‖t1 − t2‖ + ε) over pairs (RMS distances): small only when two
    different images get clearly different triggers, which stops the generator collapsing to
    one fixed (easily reverse-engineered) trigger."""
    def rms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).pow(2).flatten(1).mean(1).clamp_min(MIN_DISTANCE_SQ).sqrt()
    return (rms(x1, x2) / (rms(t1, t2) + epsilon)).mean()


def _step_decay(optimizer: torch.optim.Optimizer, fractions: tuple[float, ...], epochs: int,
                steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step scheduler equal to the official per-epoch MultiStepLR with its milestones
    scaled to ``epochs`` (a milestone never falls before the end of the first epoch)."""
    milestones = [max(1, round(f * epochs)) for f in fractions]

    def factor(step: int) -> float:
        epoch = step // steps_per_epoch
        return LR_DECAY ** sum(epoch >= m for m in milestones)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _share(rate: float, batch: int, at_least_one: bool) -> int:
    count = math.floor(rate * batch)
    return max(1, count) if at_least_one and rate > 0 else count


# -- the attack -------------------------------------------------------------------------------
class InputAware(Attack):
    """Shared implementation of ``dyn_one`` and ``dyn_all``."""

    needs_prepare = True

    def __init__(self, config: InputAwareConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        self.pattern_net: TriggerNet | None = None
        self.mask_net: TriggerNet | None = None

    @property
    def min_size(self) -> int:
        return 2 ** self.config.generator_depth

    def _new_net(self, in_channels: int, out_channels: int) -> TriggerNet:
        cfg = self.config
        return TriggerNet(in_channels, out_channels, cfg.generator_width, cfg.generator_depth,
                          cfg.epsilon)

    # -- learning -----------------------------------------------------------------------------
    def prepare(self, train: TensorData, adapter: Any, device: torch.device, seed: int) -> None:
        """Learn (or load from the artifact cache) the mask, then the pattern generator."""
        check_images(train.inputs, self.name, min_size=self.min_size)
        cfg = self.config
        if len(train) < 2:
            raise ValueError(f"{self.name}: need at least 2 training images, got {len(train)}")
        device = torch.device(device)
        channels = train.inputs.shape[1]
        key = {"seed": seed, "inputs": tensor_hash(train.inputs),
               "targets": tensor_hash(train.targets), "surrogate": cfg.surrogate_model,
               "num_classes": self.num_classes}
        mask_net, pattern_net = seeded(lambda: (self._new_net(channels, 1).to(device),
                                                self._new_net(channels, channels).to(device)),
                                       seed)
        data = train.to(device)
        mask_net = freeze(self.cached_module(
            mask_net, "mask", key, lambda net: self._learn_mask(net, data, adapter, seed)))
        pattern_net = freeze(self.cached_module(
            pattern_net, "pattern", key,
            lambda net: self._learn_pattern(net, mask_net, data, adapter, seed)))
        self.mask_net, self.pattern_net = mask_net, pattern_net

    def _batches(self, n: int, epochs: int, seed: int) -> tuple[torch.Tensor, int]:
        """(order, batch): every row of ``order`` holds a batch of shuffled epochs followed, for
        each of its entries, by a uniformly drawn *different* image (the official second data
        loader); the step splits a row's samples in these two halves."""
        batch = min(self.config.batch_size, n)
        generator = make_generator(seed)
        first = batch_indices(n, batch, epochs, None, generator)
        second = (first + torch.randint(1, n, first.shape, generator=generator)) % n
        return torch.cat([first, second], dim=1), batch

    def _run(self, what: str, step: StepFn, data: TensorData, order: torch.Tensor, seed: int,
             generator: torch.Generator, advice: str) -> None:
        """``step`` on every row of ``order`` (``learned.run_steps``; the step augments with
        ``generator`` itself), with the global RNG seeded and restored afterwards."""
        device = data.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            seed_everything(seed)
            run_steps(self, what, device, step, data, order, generator, advice=advice)

    @staticmethod
    def _augment(augmentation: Any, inputs: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator) -> torch.Tensor:
        out, new_targets = augmentation(inputs, targets, generator)
        if new_targets.shape != targets.shape or not torch.equal(new_targets, targets):
            raise ValueError("input-aware: the adapter's training augmentation must keep the "
                             "labels (it mixes samples); the generators need label-preserving "
                             "augmentation")
        return out

    def _learn_mask(self, net: TriggerNet, data: TensorData, adapter: Any, seed: int) -> None:
        cfg = self.config
        order, batch = self._batches(len(data), cfg.mask_epochs, seed)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.mask_lr, betas=ADAM_BETAS)
        scheduler = _step_decay(optimizer, MASK_MILESTONES, cfg.mask_epochs, len(data) // batch)
        augmentation, generator = adapter.train_augmentation(), make_generator(seed + 1)

        def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            x1 = self._augment(augmentation, inputs[:batch], targets[:batch], generator)
            x2 = self._augment(augmentation, inputs[batch:], targets[batch:], generator)
            m1, m2 = sharpen_mask(net(x1), cfg.epsilon), sharpen_mask(net(x2), cfg.epsilon)
            norm = F.relu(m1 - cfg.mask_density).mean()
            loss = (cfg.lambda_norm * norm
                    + cfg.lambda_div * diversity_loss(x1, x2, m1, m2, cfg.epsilon))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            return loss

        net.train()
        self._run("mask", step, data, order, seed, generator, "lower mask_lr")
        net.eval()

    def _learn_pattern(self, net: TriggerNet, mask_net: TriggerNet, data: TensorData,
                       adapter: Any, seed: int) -> None:
        cfg = self.config
        factory = MODELS.get(cfg.surrogate_model, namespace="image")
        surrogate = seeded(lambda: factory(num_classes=self.num_classes,
                                           in_channels=data.inputs.shape[1]), seed).to(data.device)
        order, batch = self._batches(len(data), cfg.generator_epochs, seed + 2)
        per_epoch = len(data) // batch
        opt_g = torch.optim.Adam(net.parameters(), lr=cfg.generator_lr, betas=ADAM_BETAS)
        opt_c = torch.optim.SGD(surrogate.parameters(), lr=cfg.surrogate_lr,
                                momentum=SGD_MOMENTUM, weight_decay=SGD_WEIGHT_DECAY)
        schedulers = [_step_decay(opt_g, PATTERN_MILESTONES, cfg.generator_epochs, per_epoch),
                      _step_decay(opt_c, SURROGATE_MILESTONES, cfg.generator_epochs, per_epoch)]
        augmentation, generator = adapter.train_augmentation(), make_generator(seed + 3)
        bind_augmentation(augmentation, surrogate,
                          lambda x, y: adapter.loss(surrogate, x, y))
        n_bd = _share(cfg.poison_rate, batch, at_least_one=True)
        n_cross = _share(cfg.cross_ratio, batch, at_least_one=True)
        n_pair = max(n_bd, n_cross)

        def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            y1 = targets[:batch]
            x1 = self._augment(augmentation, inputs[:batch], y1, generator)
            x2 = self._augment(augmentation, inputs[batch:], targets[batch:], generator)
            bd_src, cross_src, partners = x1[:n_bd], x1[n_bd:n_bd + n_cross], x2[:n_pair]
            own, other = net(bd_src), net(partners)
            with torch.no_grad():
                own_mask = sharpen_mask(mask_net(bd_src), cfg.epsilon)
                other_mask = sharpen_mask(mask_net(partners[:n_cross]), cfg.epsilon)
            backdoor = bd_src + own_mask * (own - bd_src)
            cross = cross_src + other_mask * (other[:n_cross] - cross_src)
            mixed = torch.cat((backdoor, cross, x1[n_bd + n_cross:]))
            labels = torch.cat((self.attack_labels(y1[:n_bd]), y1[n_bd:]))
            loss = (adapter.loss(surrogate, mixed, labels) + cfg.lambda_div
                    * diversity_loss(bd_src, partners[:n_bd], own, other[:n_bd], cfg.epsilon))
            opt_g.zero_grad(set_to_none=True)
            opt_c.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            opt_c.step()
            for scheduler in schedulers:
                scheduler.step()
            return loss

        net.train()
        surrogate.train()
        self._run("pattern", step, data, order, seed, generator,
                  "lower generator_lr or surrogate_lr")
        if not all(torch.isfinite(p).all() for p in net.parameters()):
            raise FloatingPointError(f"{self.name}: the pattern generator diverged; lower "
                                     f"generator_lr")
        net.eval()

    # -- triggers -----------------------------------------------------------------------------
    def _nets(self) -> tuple[TriggerNet, TriggerNet]:
        if self.pattern_net is None or self.mask_net is None:
            raise RuntimeError(f"{self.name}: the trigger generators are missing; call "
                               f"attack.prepare(train, adapter, device, seed) before "
                               f"apply_trigger() or poison()")
        return self.pattern_net, self.mask_net

    def stamp(self, inputs: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        """inputs + m(s)·(g(s) − inputs) with the trigger of ``sources`` (s = inputs: the
        backdoor; s = other images: cross samples). Batched; returns on inputs' device."""
        pattern_net, mask_net = self._nets()
        check_images(inputs, self.name, min_size=self.min_size)
        expected = pattern_net.encoder[0][0].in_channels
        if inputs.shape[1] != expected:
            raise ValueError(f"{self.name}: the generators were learned on {expected}-channel "
                             f"images, got {inputs.shape[1]} channels")
        net_device = next(pattern_net.parameters()).device
        out = torch.empty_like(inputs)
        step = self.config.trigger_batch_size
        with torch.no_grad():
            for start in range(0, inputs.shape[0], step):
                x = inputs[start:start + step].to(net_device, torch.float32)
                s = sources[start:start + step].to(net_device, torch.float32)
                mask = sharpen_mask(mask_net(s), self.config.epsilon)
                mixed = (x + mask * (pattern_net(s) - x)).clamp(0.0, 1.0)
                out[start:start + step] = mixed.to(out)
        return out

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        self._nets()
        return self.stamp(inputs, inputs)

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        """Exact ``poison_rate`` share triggered and relabelled (base class), then
        round(cross_ratio × N) of the other samples stamped with another image's trigger."""
        self._nets()
        result = super().poison(train, generator)
        n = len(train)
        count = round(self.config.cross_ratio * n)
        empty = torch.empty(0, dtype=torch.long)
        if count == 0:
            result.extra.update(cross_indices=empty, cross_partners=empty)
            return result
        cross = extra_indices(n, result.indices, count, generator,
                              f"{self.name} cross samples", "cross_ratio")
        partners = (cross + torch.randint(1, n, (count,), generator=generator)) % n
        inputs, device = result.data.inputs, train.inputs.device
        inputs[cross.to(device)] = self.stamp(train.inputs[cross.to(device)],
                                              train.inputs[partners.to(device)])
        result.extra.update(cross_indices=cross, cross_partners=partners)
        return result


@ATTACKS.register("dyn_one", namespace="image")
class InputAwareOne(InputAware):
    name = "dyn_one"
    Config = InputAwareOneConfig


@ATTACKS.register("dyn_all", namespace="image")
class InputAwareAll(InputAware):
    name = "dyn_all"
    Config = InputAwareAllConfig
