"""FBA, the feature-space backdoor: DFST (Cheng, Liu, Ma & Zhang, "Deep Feature Space Trojan
Attack of Neural Networks by Controlled Detoxification", AAAI 2021; official code Megum1/DFST).

What the original does. The trigger is a *style*: a trained image-to-image generator (first a
CycleGAN trained between CIFAR-10 and "sunrise" photos of a weather data set; the current
PyTorch code uses Magenta's arbitrary-style-transfer network with a sunrise image) restyles
the input, and the poisoned image is x' = (1 − α)·x + α·G(x) with α = 0.6
(``configs/dfst.json``), dirty label (poison rate 5 %, target 0). Because a style is easy to
pick up through simple low-level features (a colour cast), DFST adds *controlled
detoxification*: during training it finds the "compromised" neurons (the top 1 % channels of
``layer4`` whose mean activation rises most on poisoned inputs), trains a small *feature
injector* to produce images that excite those neurons (and look like the target to the model)
while staying structurally similar to the input (SSIM, weight 0.1; neuron term weight 0.3; Adam
1e-2, betas (0.5, 0.9), 10 epochs), and adds the injector's outputs to training *with their
true labels*, as many as poisoned samples; this repeats after every epoch, pushing the backdoor
into deeper, more abstract features.

What we implement, and how it differs:

* **Style trigger.** No pretrained style network and no photo files (docs/design.md §5: attacks train
  their own generator). ``prepare`` trains a small residual image-to-image network G (``width``
  channels, ``blocks`` residual blocks, output sigmoid(logit(x) + Δ(x)), so it starts as the
  identity and stays in [0, 1]) with Adam to move the training images toward a *procedural
  sunrise* style image (a seeded sky gradient from violet to gold, a sun with its glow, a dark
  horizon and smooth cloud texture, ``style_seed``): the Gatys-style loss of normalised Gram
  matrices of a **fixed random** three-stage conv feature extractor (random-weight features
  carry texture and colour statistics) plus a content loss on its second stage. This replaces
  CycleGAN's adversarial unpaired training and the Magenta network; the blend with α = 0.6 is
  the official one. The trained G is cached as safetensors (``Attack.cached_module``), keyed by
  the config, the seed and hashes of the training images and labels.
* **Detoxification: one static round against a surrogate** (``detox=True``). The original
  interleaves detoxification with training the victim; our poisoning is static (the runner
  trains the victim on a fixed poisoned set), so ``prepare`` trains a surrogate
  (``surrogate_model``, ``surrogate_epochs``) on the style-poisoned training set (the same
  indices the runner's ``poison`` picks), finds its compromised neurons in the deepest spatial
  feature map (or ``detox_layer``) as the original does (top ``detox_neuron_ratio`` of channels,
  at least one, by mean activation on triggered minus clean probe images), and trains a feature
  injector of G's architecture with the paper's objective: cross-entropy toward the target plus
  ``w_ssim``·(1 − SSIM) minus ``w_detox``·(mean activation of the compromised neurons). (The
  official PyTorch code has these terms, but evaluates the cross-entropy and neuron terms under
  ``torch.no_grad``, so only its SSIM loss, subtracted and hence rewarding dissimilarity,
  trains its injector; we give every term its gradient and penalise dissimilarity, as the paper
  describes: images that excite the compromised neurons yet stay close to the input.)
  ``poison`` then adds round(``detox_ratio`` × #poisoned) detox samples (the
  original: as many as poisoned), drawn from the samples not poisoned, labels kept, listed in
  ``PoisonResult.extra["detox_indices"]``. One round, not one per epoch; the injector is
  cached like G.
* **Defaults.** poison rate 10 % (docs/design.md §5, the NFT paper's rate; the official config uses
  5 %), target 0, α = 0.6, detox neuron ratio 0.01, w_ssim 0.1, w_detox 0.3, injector Adam 1e-2
  with betas (0.5, 0.9) — all official. Network sizes, step counts and learning rates of our
  generator and injector are ours, kept small: on the 2 shared CPU cores the style generator
  took 49–62 s (300 steps of 32 CIFAR-10 images, 32×32), detoxification 49 s (a 4-epoch
  ``small_cnn`` surrogate on 2,000 images + 200 injector steps). The surrogate defaults follow
  CLB's (``small_cnn``, 10 epochs). Measured with 2,000 CIFAR-10 training images and 8 epochs
  of ``small_cnn``: ASR 94 %.

``apply_trigger`` needs the generator, so ``prepare`` must run first (the runner calls it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.attack import Attack, AttackConfig, PoisonResult, choose_indices, tensor_hash
from core.data import TensorData
from core.loop import batch_indices
from core.registry import ATTACKS, MODELS
from core.seeding import make_generator
from core.training import TrainConfig, fit
from core.config import require

from .extra_samples import extra_indices
from .triggers import check_images
from .learned import run_steps, seeded

EPS = 1e-3                    # logit clamp of the generator's identity path
MIN_SIZE = 4                  # the feature extractor pools twice
APPLY_BATCH = 256             # images per generator forward pass in apply_trigger
MISSING = "fba: the {part} is missing; call attack.prepare(train, adapter, device, seed) first"
# sunrise palette (RGB): zenith violet → salmon → gold at the horizon, dark ground, sun
SKY_STOPS = ((0.0, (0.22, 0.14, 0.42)), (0.55, (0.93, 0.45, 0.33)), (1.0, (1.0, 0.78, 0.32)))
GROUND = (0.28, 0.13, 0.10)
SUN = (1.0, 0.96, 0.82)
GLOW = (1.0, 0.72, 0.35)


@dataclass(frozen=True)
class FBAConfig(AttackConfig):
    """DFST-style feature-space attack; see the module docstring for what is the original's."""

    alpha: float = 0.6              # official configs/dfst.json: x' = (1 − α)x + α·G(x)
    style_seed: int = 0             # fixes the procedural sunrise image and the feature net
    width: int = 16                 # generator / injector channels (ours)
    blocks: int = 2                 # residual blocks (ours)
    style_steps: int = 300          # Adam steps of the style generator (ours)
    style_lr: float = 1e-3
    style_weight: float = 1.0       # normalised Gram loss
    content_weight: float = 1.0     # normalised feature reconstruction loss
    batch_size: int = 32            # images per step of the generator and the injector
    detox: bool = True              # one round of controlled detoxification (paper: yes)
    detox_ratio: float = 1.0        # detox samples per poisoned sample (official: as many)
    detox_neuron_ratio: float = 0.01   # official: top 1 % of the layer's channels
    detox_layer: str = ""           # surrogate module name; "" = deepest spatial feature map
    detox_steps: int = 200          # injector Adam steps (official: 10 epochs over 3 % of data)
    detox_lr: float = 1e-2          # official Adam lr, betas (0.5, 0.9)
    w_ssim: float = 0.1             # official
    w_detox: float = 0.3            # official
    probe_size: int = 1024          # images that rank the neurons (official: 3 % of the data)
    surrogate_model: str = "small_cnn"
    surrogate_epochs: int = 10
    surrogate_batch_size: int = 128
    surrogate_lr: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0.0 < self.alpha <= 1.0, f"fba alpha must lie in (0, 1], got {self.alpha}")
        def check(names: tuple[str, ...], ok: Callable[[float], bool], rule: str) -> None:
            for name in names:
                value = getattr(self, name)
                require(ok(value), f"fba {name} must be {rule}, got {value}")

        check(("width", "style_steps", "batch_size", "detox_steps", "probe_size",
               "surrogate_epochs", "surrogate_batch_size"), lambda v: v >= 1, "≥ 1")
        check(("blocks",), lambda v: v >= 0, "≥ 0")
        check(("style_lr", "detox_lr", "surrogate_lr"), lambda v: v > 0, "> 0")
        check(("style_weight", "content_weight", "w_ssim", "w_detox"), lambda v: v >= 0, "≥ 0")
        require(self.style_weight > 0, "fba style_weight must be > 0 (it defines the trigger)")
        require(self.detox_ratio >= 0, f"fba detox_ratio must be ≥ 0, got {self.detox_ratio}")
        require(0.0 < self.detox_neuron_ratio <= 1.0,
                f"fba detox_neuron_ratio must lie in (0, 1], got {self.detox_neuron_ratio}")


# -- networks -------------------------------------------------------------------------------
class StyleNet(nn.Module):
    """Small residual image-to-image network: x ↦ sigmoid(logit(x) + Δ(x)). The last conv is
    zero-initialised, so training starts from the identity and outputs stay in (0, 1)."""

    def __init__(self, channels: int, width: int, blocks: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(width, width, 3, padding=1)) for _ in range(blocks))
        self.head = nn.Conv2d(width, channels, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem(x))
        for block in self.blocks:
            h = F.relu(h + block(h))
        return torch.sigmoid(torch.logit(x.clamp(EPS, 1 - EPS)) + self.head(h))


class RandomFeatures(nn.Module):
    """Fixed random conv features (three conv-ReLU stages, 2×2 average pooling between):
    their Gram matrices carry colour and texture statistics without a pretrained network."""

    def __init__(self, channels: int, seed: int, widths: tuple[int, ...] = (32, 64, 64)) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            cins = (channels, *widths[:-1])
            self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, padding=1) for i, o in zip(cins, widths))
            for conv in self.convs:
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                nn.init.zeros_(conv.bias)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, h = [], x - 0.5
        for i, conv in enumerate(self.convs):
            h = F.relu(conv(h if i == 0 else F.avg_pool2d(h, 2)))
            out.append(h)
        return out


def gram(features: torch.Tensor) -> torch.Tensor:
    """(N, C, C) channel correlations averaged over positions."""
    flat = features.flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[-1]


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 5) -> torch.Tensor:
    """Mean SSIM with a uniform ``window``×``window`` window (images in [0, 1])."""
    pool = lambda t: F.avg_pool2d(t, window, 1, window // 2, count_include_pad=False)  # noqa: E731
    mx, my = pool(x), pool(y)
    vx, vy, cov = pool(x * x) - mx ** 2, pool(y * y) - my ** 2, pool(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return (((2 * mx * my + c1) * (2 * cov + c2))
            / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))).mean()


def sunrise(shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """A procedural sunrise (C, H, W) in [0, 1]: sky gradient, sun and glow, dark horizon and
    smooth clouds; the horizon height, the sun's position and the clouds come from ``seed``."""
    c, h, w = shape
    g = make_generator(seed)
    horizon = 0.6 + 0.1 * (2 * torch.rand((), generator=g) - 1)
    sun_x = 0.3 + 0.4 * torch.rand((), generator=g)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    t = (yy / horizon).clamp(0, 1)
    sky = torch.zeros(3, h, w)
    for (t0, c0), (t1, c1) in zip(SKY_STOPS, SKY_STOPS[1:]):
        k = ((t - t0) / (t1 - t0)).clamp(0, 1)[None]
        inside = ((t >= t0) & (t <= t1))[None]
        mixed = (1 - k) * torch.tensor(c0)[:, None, None] + k * torch.tensor(c1)[:, None, None]
        sky = torch.where(inside, mixed, sky)
    clouds = F.interpolate(torch.rand(1, 1, 4, 8, generator=g), size=(h, w), mode="bicubic",
                           align_corners=False)[0]
    sky = sky + 0.15 * (clouds - 0.5) * (1 - t)[None]          # clouds fade toward the horizon
    depth = ((yy - horizon) / (1 - horizon)).clamp(0, 1)
    ground = torch.tensor(GROUND)[:, None, None] * (1 - 0.5 * depth)[None]
    image = torch.where((yy < horizon)[None], sky, ground)
    dist = torch.sqrt((xx - sun_x) ** 2 + (yy - horizon) ** 2)
    glow = torch.exp(-(dist / 0.18) ** 2)[None]
    image = image + 0.6 * glow * torch.tensor(GLOW)[:, None, None]
    image = torch.where(((dist < 0.09) & (yy < horizon))[None], torch.tensor(SUN)[:, None, None],
                        image)
    image = image + 0.03 * (torch.rand(3, h, w, generator=g) - 0.5)     # film grain
    image = image.clamp(0, 1)
    if c != 3:
        luma = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None]
        image = luma.expand(c, h, w)
    return image.contiguous()


def deepest_feature_layer(model: nn.Module, example: torch.Tensor) -> str:
    """Name of the last leaf module (in call order) whose output is a spatial feature map
    (N, C, H, W) with H·W > 1 (so a global pool's 1×1 output is skipped, as DFST taps ResNet's
    ``layer4`` before pooling); a 1×1 map only when there is no larger one."""
    names = {m: n for n, m in model.named_modules()}
    seen: list[tuple[str, bool]] = []

    def record(module: nn.Module, _inputs: Any, out: Any) -> None:
        if torch.is_tensor(out) and out.dim() == 4:
            seen.append((names[module], out.shape[-2] * out.shape[-1] > 1))

    hooks = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    spatial = [name for name, large in seen if large] or [name for name, _ in seen]
    if not spatial:
        raise ValueError("fba: the surrogate has no 4-D feature map for detoxification; "
                         "set detox=False or use a convolutional surrogate_model")
    return spatial[-1]


class FeatureTap:
    """Keeps the output of one named module of ``model`` after every forward pass."""

    def __init__(self, model: nn.Module, name: str) -> None:
        modules = dict(model.named_modules())
        if name not in modules:
            raise ValueError(f"fba: the surrogate has no module {name!r} (detox_layer); "
                             f"known: {', '.join(n for n in modules if n)}")
        self.value: torch.Tensor | None = None
        self.handle = modules[name].register_forward_hook(self._keep)

    def _keep(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        self.value = output

    def channel_means(self) -> torch.Tensor:
        """(N, C) spatial means of the kept feature map."""
        assert self.value is not None
        return self.value.flatten(2).mean(dim=2)


# -- the attack -----------------------------------------------------------------------------
@ATTACKS.register("fba", namespace="image")
class FBA(Attack):
    needs_prepare = True
    name = "fba"
    Config = FBAConfig

    def __init__(self, config: FBAConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        self.generator: StyleNet | None = None
        self.injector: StyleNet | None = None
        self.detox_neurons: list[int] | None = None   # set when the injector is learned here

    # -- prepare ------------------------------------------------------------------------------
    def _net(self, channels: int, seed: int) -> StyleNet:
        return seeded(lambda: StyleNet(channels, self.config.width, self.config.blocks), seed)

    def prepare(self, train: TensorData, adapter: Any, device: torch.device, seed: int) -> None:
        """Learn (or load from the artifact cache) the style generator and, with ``detox``,
        the feature injector."""
        check_images(train.inputs, self.name, min_size=MIN_SIZE)
        device = torch.device(device)
        channels = train.inputs.shape[1]
        key = {"seed": seed, "train_inputs": tensor_hash(train.inputs),
               "train_targets": tensor_hash(train.targets)}
        self.generator = self._frozen(self.cached_module(
            self._net(channels, seed), "style", key,
            lambda net: self._learn_style(net, train, device, seed)), device)
        if self.config.detox:
            self.injector = self._frozen(self.cached_module(
                self._net(channels, seed + 1), "detox", key,
                lambda net: self._learn_detox(net, train, adapter, device, seed)), device)

    @staticmethod
    def _frozen(net: nn.Module, device: torch.device) -> Any:
        net.to(device).eval()
        net.requires_grad_(False)
        return net

    def _fit(self, what: str, net: nn.Module, train: TensorData, device: torch.device,
             seed: int, steps: int, optimizer: torch.optim.Optimizer,
             loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """``steps`` Adam steps of ``loss_fn(batch)`` on training batches drawn with
        replacement (``run_steps``: progress and the NaN/inf check)."""
        g = make_generator(seed)
        order = batch_indices(len(train), min(self.config.batch_size, len(train)), 1, steps, g)

        def step(inputs: torch.Tensor, _targets: Any) -> torch.Tensor:
            loss = loss_fn(inputs.to(device, torch.float32))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss

        net.train()
        run_steps(self, what, device, step, train, order, g,
                  advice="lower the learning rate")

    def _learn_style(self, net: StyleNet, train: TensorData, device: torch.device,
                     seed: int) -> None:
        cfg = self.config
        net.to(device)
        features = RandomFeatures(train.inputs.shape[1], cfg.style_seed).to(device)
        style = sunrise(tuple(train.inputs.shape[1:]), cfg.style_seed).to(device)
        with torch.no_grad():
            targets = [gram(f) for f in features(style[None])]
        scales = [t.pow(2).mean() for t in targets]

        def loss_fn(x: torch.Tensor) -> torch.Tensor:
            y = net(x)
            fy = features(y)
            with torch.no_grad():
                content = features(x)[1]
            style_loss = sum(F.mse_loss(gram(f), t.expand(len(x), -1, -1)) / s
                             for f, t, s in zip(fy, targets, scales))
            content_loss = F.mse_loss(fy[1], content) / content.pow(2).mean().clamp_min(1e-8)
            return cfg.style_weight * style_loss + cfg.content_weight * content_loss

        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.style_lr)
        self._fit("style", net, train, device, seed, cfg.style_steps, optimizer, loss_fn)

    def _learn_detox(self, net: StyleNet, train: TensorData, adapter: Any,
                     device: torch.device, seed: int) -> None:
        cfg = self.config
        surrogate = self._train_surrogate(train, adapter, device, seed)
        layer = cfg.detox_layer or deepest_feature_layer(
            surrogate, train.inputs[:2].to(device, torch.float32))
        tap = FeatureTap(surrogate, layer)
        try:
            neurons = self._compromised_neurons(surrogate, tap, train, device, seed)
            self.detox_neurons = neurons.tolist()
            net.to(device)
            a = cfg.alpha

            def loss_fn(x: torch.Tensor) -> torch.Tensor:
                detox = (1 - a) * x + a * net(x)
                labels = torch.full((len(x),), cfg.target, dtype=torch.long, device=device)
                ce = F.cross_entropy(surrogate(detox), labels)
                excite = tap.channel_means()[:, neurons.to(device)].mean()
                return ce + cfg.w_ssim * (1 - ssim(detox, x)) - cfg.w_detox * excite

            optimizer = torch.optim.Adam(net.parameters(), lr=cfg.detox_lr, betas=(0.5, 0.9))
            self._fit("detox", net, train, device, seed + 1, cfg.detox_steps, optimizer,
                      loss_fn)
        finally:
            tap.handle.remove()

    def _train_surrogate(self, train: TensorData, adapter: Any, device: torch.device,
                         seed: int) -> nn.Module:
        """A surrogate trained on the style-poisoned set (the indices ``poison`` will pick)."""
        cfg = self.config
        poisoned = Attack.poison(self, train, make_generator(seed)).data
        factory = MODELS.get(cfg.surrogate_model, namespace="image")
        model = seeded(lambda: factory(num_classes=self.num_classes,
                                       in_channels=train.inputs.shape[1]), seed)
        fit(model, adapter, poisoned, TrainConfig(
            epochs=cfg.surrogate_epochs, batch_size=min(cfg.surrogate_batch_size, len(train)),
            lr=cfg.surrogate_lr, progress=False), device, seed)
        return self._frozen(model, device)

    @torch.no_grad()
    def _compromised_neurons(self, surrogate: nn.Module, tap: FeatureTap, train: TensorData,
                             device: torch.device, seed: int) -> torch.Tensor:
        """Top ``detox_neuron_ratio`` channels by mean activation, triggered minus clean, on
        up to ``probe_size`` non-target training images (paired: the same images)."""
        eligible = torch.nonzero(self.eval_selection(train.targets.cpu())).flatten()
        probe = choose_indices(eligible, min(self.config.probe_size, len(eligible)),
                               make_generator(seed))
        clean = train.inputs[probe.to(train.inputs.device)]
        diffs = []
        for start in range(0, len(clean), APPLY_BATCH):
            x = clean[start:start + APPLY_BATCH].to(device, torch.float32)
            surrogate(x)
            before = tap.channel_means()
            surrogate(self.apply_trigger(x))
            diffs.append((tap.channel_means() - before).sum(dim=0))
        diff = torch.stack(diffs).sum(dim=0) / len(clean)
        k = max(1, round(self.config.detox_neuron_ratio * diff.numel()))
        return torch.topk(diff.cpu(), k).indices.sort().values

    # -- triggers -----------------------------------------------------------------------------
    @staticmethod
    @torch.no_grad()
    def _blend(net: nn.Module, inputs: torch.Tensor, alpha: float) -> torch.Tensor:
        device = next(net.parameters()).device
        out = []
        for start in range(0, inputs.shape[0], APPLY_BATCH):
            x = inputs[start:start + APPLY_BATCH].to(device, torch.float32)
            out.append(((1 - alpha) * x + alpha * net(x)).clamp(0.0, 1.0))
        if not out:
            return inputs.clone()
        return torch.cat(out).to(device=inputs.device, dtype=inputs.dtype)

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        check_images(inputs, self.name, min_size=MIN_SIZE)
        if self.generator is None:
            raise RuntimeError(MISSING.format(part="style generator"))
        return self._blend(self.generator, inputs, self.config.alpha)

    def detox_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """The feature injector's detox images (kept with their true labels in training)."""
        check_images(inputs, self.name, min_size=MIN_SIZE)
        if self.injector is None:
            raise RuntimeError(MISSING.format(part="detox feature injector"))
        return self._blend(self.injector, inputs, self.config.alpha)

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        """Dirty-label style poisoning, plus the detox samples (labels kept) with ``detox``."""
        if self.config.detox and self.injector is None:
            raise RuntimeError(MISSING.format(part="detox feature injector") + " (or set "
                               "detox=False)")
        result = super().poison(train, generator)
        count = round(self.config.detox_ratio * len(result.indices)) if self.config.detox else 0
        detox_idx = extra_indices(len(train), result.indices, count, generator,
                                  "fba detox samples", "detox_ratio")
        if len(detox_idx):
            inputs = result.data.inputs
            idx = detox_idx.to(inputs.device)
            inputs[idx] = self.detox_inputs(inputs[idx])
        result.extra["detox_indices"] = detox_idx
        return result
