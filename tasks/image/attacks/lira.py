"""LIRA, the learnable imperceptible backdoor (Doan, Lao, Zhao & Li, "LIRA: Learnable,
Imperceptible and Robust Backdoor Attacks", ICCV 2021; official code
sunbelbd/invisible_backdoor_attacks, ``pytorch/lira_trigger_generation.py``).

A trigger generator g (a UNet or a conv autoencoder ending in tanh) gives each image its own
perturbation: T(x) = clip(x + ε·g(x), 0, 1), so the L∞ change is at most ε. Dirty label,
all-to-one, poison rate 10 % (docs/design.md §5).

Stage 1 (in ``prepare``, on the attacker's training set): g and a surrogate classifier f are
trained together, alternating per batch as in the official code:
  1. generator step (Adam): with L(f) = α·CE(f(x), y) + (1 − α)·CE(f(T(x)), t), take one
     *virtual* SGD step f' = f − lr·∇L(f) (kept differentiable) and minimise CE(f'(T(x)), t)
     over g: the trigger is chosen so that the classifier, after learning it, maps it to the
     target t (``lookahead=False``: minimise CE(f(T(x)), t) directly, as BackdoorBench does);
  2. classifier step (SGD, momentum 0.9): minimise α·CE(f(x), y) + (1 − α)·CE(f(T̄(x)), t),
     where T̄ uses a copy of g that is refreshed once per epoch (the official ``atkmodel``).
Both see the task's training augmentation (``adapter.train_augmentation()``, which must keep
hard labels; the official code: random crop, rotation, flip).
Stage 2 of the paper (fine-tuning a classifier against the fixed generator) is our runner's
victim training on the poisoned set; only the generator is kept (and cached).

Defaults and sources: ε = 0.01 (docs/design.md §5; BackdoorBench ``config/attack/lira/cifar10.yaml``
eps = test_eps = 0.01; the official README runs CIFAR-10 with 0.1 and its parser defaults to
0.3, in *normalised* pixel units), α = 0.5, generator Adam lr 1e-4, classifier SGD lr 0.01
momentum 0.9, batch 128, 50 stage-1 epochs (official README / BackdoorBench), UNet generator
with widths 64-128-256-512 (the official CIFAR-10 generator; ``generator="autoencoder"`` is the
official Tiny-ImageNet/GTSRB one and BackdoorBench's default, widths 16-32-64-128).

Where ours differs: (1) ε is in [0, 1] pixel units and T(x) is clipped to [0, 1] (the official
CIFAR-10 code adds ε·g(x) to *normalised* images without clipping, so its 0.01 is ≈ 0.0025 in
pixel units). (2) The surrogate is ``surrogate_model`` (default ``small_cnn``; official VGG-11).
(3) The official classifier step uses the clean label for T̄(x) (``F.cross_entropy(output,
target)``), which contradicts the paper's objective; we use the paper's α-weighted loss, as
BackdoorBench does. (4) The official code keeps the best checkpoint by an internal clean/poison
test; we keep the last generator. (5) The official stage 2 trains on (x, y) and (T(x), t) for
every sample in every batch (training-controlled); ours poisons statically: an exact
``poison_rate`` share of the training set is replaced by (T(x), t) once, by ``Attack.poison``.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from core.attack import AttackConfig
from core.augment import Identity, bind_augmentation
from core.data import TensorData
from core.loop import batch_indices
from core.registry import ATTACKS, MODELS
from core.seeding import make_generator, seed_everything
from core.config import require

from .learned import LearnedTriggerAttack, data_key, epoch_means, run_steps, seeded

DEFAULT_WIDTHS = {"unet": (64, 128, 256, 512), "autoencoder": (16, 32, 64, 128)}


@dataclass(frozen=True)
class LIRAConfig(AttackConfig):
    """LIRA: dirty label, all-to-one, 10 %; stage-1 settings of the official code for CIFAR-10
    (see the module docstring for sources and departures)."""

    eps: float = 0.01                        # L∞ budget in [0, 1] pixels (docs/design.md §5)
    alpha: float = 0.5                       # weight of the clean loss (official, BackdoorBench)
    generator: Literal["unet", "autoencoder"] = "unet"   # official CIFAR-10 generator
    generator_widths: tuple[int, ...] | None = None      # None: DEFAULT_WIDTHS[generator]
    generator_lr: float = 1e-4               # official lr_atk (Adam)
    # generator loss after a virtual classifier step (official; a double backward, several
    # times the cost of a plain step); False = BackdoorBench's direct update
    lookahead: bool = True
    stage1_epochs: int = 50                  # official README (CIFAR-10), BackdoorBench
    stage1_batch_size: int = 128             # official README, BackdoorBench
    surrogate_model: str = "small_cnn"       # any registered model factory (official: VGG-11)
    surrogate_lr: float = 0.01               # official lr (SGD)
    surrogate_momentum: float = 0.9          # official clsoptimizer

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0.0 < self.eps <= 1.0, f"lira eps must lie in (0, 1], got {self.eps}")
        require(0.0 <= self.alpha < 1.0,
                f"lira alpha must lie in [0, 1) (1 would ignore the backdoor), got {self.alpha}")
        require(self.generator in DEFAULT_WIDTHS,
                f"lira generator must be one of {sorted(DEFAULT_WIDTHS)}, got {self.generator!r}")
        widths = self.widths
        require(len(widths) >= 1 and min(widths) >= 1,
                f"lira generator_widths must be non-empty and positive, got {widths}")
        require(self.generator_lr > 0, f"lira generator_lr must be > 0, got {self.generator_lr}")
        require(self.stage1_epochs >= 1,
                f"lira stage1_epochs must be ≥ 1, got {self.stage1_epochs}")
        require(self.stage1_batch_size >= 2,
                f"lira stage1_batch_size must be ≥ 2 (BatchNorm), got {self.stage1_batch_size}")
        require(self.surrogate_lr > 0, f"lira surrogate_lr must be > 0, got {self.surrogate_lr}")
        require(0.0 <= self.surrogate_momentum < 1.0,
                f"lira surrogate_momentum must lie in [0, 1), got {self.surrogate_momentum}")

    @property
    def widths(self) -> tuple[int, ...]:
        return self.generator_widths or DEFAULT_WIDTHS[self.generator]


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UNetGenerator(nn.Module):
    """The official CIFAR-10 generator: double convs at ``widths`` with 2×2 average pooling
    between them, bilinear upsampling with skip connections back up, 1×1 conv + BatchNorm,
    tanh (output in [−1, 1])."""

    def __init__(self, channels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.down = nn.ModuleList(_double_conv(cin, cout)
                                  for cin, cout in zip((channels,) + widths[:-1], widths))
        self.up = nn.ModuleList(_double_conv(widths[k + 1] + widths[k], widths[k])
                                for k in range(len(widths) - 2, -1, -1))
        self.last = nn.Sequential(nn.Conv2d(widths[0], channels, 1), nn.BatchNorm2d(channels))
        self.levels = len(widths) - 1          # number of poolings

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else F.avg_pool2d(x, 2))
            skips.append(x)
        skips.pop()                             # the bottleneck is x itself
        for block in self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
            x = block(torch.cat([x, skips.pop()], dim=1))
        return torch.tanh(self.last(x))


class AutoencoderGenerator(nn.Module):
    """The official Tiny-ImageNet/GTSRB generator: 4×4 stride-2 convs (BatchNorm, ReLU) down,
    transposed convs back up, tanh."""

    def __init__(self, channels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        down: list[nn.Module] = []
        for cin, cout in zip((channels,) + widths[:-1], widths):
            down += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.BatchNorm2d(cout),
                     nn.ReLU()]
        up: list[nn.Module] = []
        for cin, cout in zip(widths[::-1], widths[-2::-1]):
            up += [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.BatchNorm2d(cout),
                   nn.ReLU()]
        up += [nn.ConvTranspose2d(widths[0], channels, 4, stride=2, padding=1), nn.Tanh()]
        self.encoder, self.decoder = nn.Sequential(*down), nn.Sequential(*up)
        self.levels = len(widths)               # number of stride-2 halvings

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@ATTACKS.register("lira", namespace="image")
class LIRA(LearnedTriggerAttack):
    name = "lira"
    Config = LIRAConfig

    def __init__(self, config: LIRAConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        # per-epoch means of the last stage-1 run (empty after a cache hit): the generator's
        # loss, and the surrogate's clean and backdoor cross-entropies
        self.history: dict[str, list[float]] = {}

    # -- the generator -----------------------------------------------------------------------
    def build(self, shape: tuple[int, int, int]) -> nn.Module:
        cfg = self.config
        cls = UNetGenerator if cfg.generator == "unet" else AutoencoderGenerator
        generator = cls(shape[0], cfg.widths)
        factor = 2 ** generator.levels
        require(shape[1] % factor == 0 and shape[2] % factor == 0,
                f"lira: the {cfg.generator} generator with widths {cfg.widths} halves the "
                f"resolution {generator.levels} times, so height and width must be multiples of "
                f"{factor}; got {shape[1]}×{shape[2]}")
        return generator

    def trigger_batch(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.perturb(self.network, inputs)

    def perturb(self, generator: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """T(x) = clip(x + ε·g(x), 0, 1); g ends in tanh, so the change is at most ε."""
        return (inputs + self.config.eps * generator(inputs)).clamp(0.0, 1.0)

    # -- stage 1 -----------------------------------------------------------------------------
    def prepare(self, train: TensorData, adapter: Any, device: torch.device, seed: int) -> None:
        """Train (or load from the artifact cache) the generator jointly with a surrogate."""
        shape = self.train_shape(train)
        device = torch.device(device)
        generator = seeded(lambda: self.build(shape), seed).to(device)
        key = data_key(train, seed, surrogate=self.config.surrogate_model,
                       num_classes=self.num_classes)
        generator = self.cached_module(generator, "generator", key,
                                       lambda g: self.learn(g, train, adapter, device, seed))
        if self.history:
            self.artifacts["generator"]["surrogate_backdoor_ce"] = self.history["backdoor_ce"][-1]
            self.artifacts["generator"]["surrogate_clean_ce"] = self.history["clean_ce"][-1]
        self.set_network(generator, device, shape)

    def learn(self, generator: nn.Module, train: TensorData, adapter: Any,
              device: torch.device, seed: int) -> None:
        """Alternating generator / classifier updates (see the module docstring), seeded."""
        cfg = self.config
        factory = MODELS.get(cfg.surrogate_model, namespace="image")
        classifier = seeded(lambda: factory(num_classes=self.num_classes,
                                            in_channels=train.inputs.shape[1]), seed).to(device)
        frozen = copy.deepcopy(generator).eval()          # refreshed once per epoch
        gen_opt = torch.optim.Adam(generator.parameters(), lr=cfg.generator_lr)
        cls_opt = torch.optim.SGD(classifier.parameters(), lr=cfg.surrogate_lr,
                                  momentum=cfg.surrogate_momentum)
        data = train.to(device)
        batch = min(cfg.stage1_batch_size, len(data))
        per_epoch = len(data) // batch
        rng = make_generator(seed)
        order = batch_indices(len(data), batch, cfg.stage1_epochs, None, rng)
        augmentation = adapter.train_augmentation() if adapter is not None else Identity()
        bind_augmentation(augmentation, classifier,
                          lambda x, y: F.cross_entropy(classifier(x), y))
        classifier_ce = torch.zeros(2, len(order), device=device)     # clean, backdoor
        counter = itertools.count()

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            k = next(counter)
            t = self.attack_labels(y)
            loss = self.generator_step(generator, classifier, gen_opt, cls_opt, x, y, t)
            classifier_ce[:, k] = self.classifier_step(frozen, classifier, cls_opt, x, y, t)
            if (k + 1) % per_epoch == 0:
                frozen.load_state_dict(generator.state_dict())
            return loss

        generator.train()
        classifier.train()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            seed_everything(seed)
            generator_loss = run_steps(self, "stage 1", device, step, data, order, rng,
                                       augmentation)
        generator.eval()
        curves = torch.cat([torch.tensor(generator_loss, device=device)[None], classifier_ce])
        self.history = epoch_means(curves, cfg.stage1_epochs,
                                   ("generator_loss", "clean_ce", "backdoor_ce"), self.name)

    def generator_step(self, generator: nn.Module, classifier: nn.Module,
                       gen_opt: torch.optim.Optimizer, cls_opt: torch.optim.Optimizer,
                       x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """One Adam step of g against the classifier after a virtual SGD step (``lookahead``)
        or against the current classifier."""
        cfg = self.config
        poisoned = self.perturb(generator, x)
        if cfg.lookahead:
            params = dict(classifier.named_parameters())
            inner = (cfg.alpha * F.cross_entropy(classifier(x), y)
                     + (1 - cfg.alpha) * F.cross_entropy(classifier(poisoned), t))
            grads = torch.autograd.grad(inner, list(params.values()), create_graph=True,
                                        allow_unused=True)
            lr = cls_opt.param_groups[0]["lr"]
            fast = {name: p if g is None else p - lr * g
                    for (name, p), g in zip(params.items(), grads)}
            logits = functional_call(classifier, fast, (poisoned,))
        else:
            logits = classifier(poisoned)
        loss = F.cross_entropy(logits, t)
        gen_opt.zero_grad(set_to_none=True)
        loss.backward(inputs=list(generator.parameters()))   # the classifier's grads: not needed
        gen_opt.step()
        return loss.detach()

    def classifier_step(self, frozen: nn.Module, classifier: nn.Module,
                        cls_opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                        t: torch.Tensor) -> torch.Tensor:
        """One SGD step of f on α·clean + (1 − α)·backdoor with the epoch's fixed generator;
        returns (clean CE, backdoor CE)."""
        alpha = self.config.alpha
        with torch.no_grad():
            poisoned = self.perturb(frozen, x)
        clean = F.cross_entropy(classifier(x), y)
        backdoor = F.cross_entropy(classifier(poisoned), t)
        cls_opt.zero_grad(set_to_none=True)
        (alpha * clean + (1 - alpha) * backdoor).backward()
        cls_opt.step()
        return torch.stack([clean.detach(), backdoor.detach()])
