"""ISSBA, the invisible sample-specific backdoor (Li, Li, Wu, Li, He & Lyu, "Invisible Backdoor
Attack with Sample-Specific Triggers", ICCV 2021; official code yuezunli/ISSBA, whose trigger
encoder is StegaStamp, Tancik, Mildenhall & Ng, CVPR 2020).

A steganography encoder hides one fixed secret bit string in every poisoned image: the encoder
maps (image, secret) to a residual, the poisoned image is clip(image + residual, 0, 1), and the
residual differs from image to image (sample-specific, invisible). Dirty label, all-to-one,
poison rate 10 % (docs/design.md §5; the paper's ImageNet setting).

How the encoder is learned (in ``prepare``, on the attacker's training images): a StegaStamp
encoder/decoder pair is trained jointly with a fresh random secret for every image in every batch
(so the encoder must really hide bits: with one fixed secret the decoder could output it from
its bias and the residual would learn nothing); loss = ``secret_weight`` × bit BCE +
``l2_weight`` × mean squared residual, after ``secret_only_epochs`` epochs of bit BCE alone.
Poisoning then encodes the one secret drawn from ``secret_seed``. ``attack.decode_bits`` reads
a secret back, and ``poison`` records the measured residual (L∞, mean, RMS, PSNR) in
``attack.artifacts["trigger"]``.

Sources of the defaults: the official ISSBA release only ships a pre-trained TensorFlow encoder
for ImageNet (``encode_image.py``: ``secret_size`` 100 = a 7-character string + BCH code);
for 32×32 images we follow BackdoorBox's ISSBA (THUYimingLi/BackdoorBox ``core/attacks/ISSBA.py``
and ``tests/test_ISSBA.py``, by an ISSBA author): 20 secret bits, 20 encoder epochs of which
the first 2 use the secret loss only, Adam lr 1e-4, batch 32, loss weights 2.0 (L2 residual) and
1.5 (secret); encoder/decoder layer widths as its PyTorch port of StegaStamp.

Where ours differs from the original: (1) no LPIPS perceptual loss (it needs pre-trained AlexNet
weights that we cannot download) and no critic/discriminator term (BackdoorBox leaves the
critic untrained by default); the L2 residual penalty (in RGB; StegaStamp weighs YUV channels)
is what keeps the trigger small, and ``residual_bound`` optionally caps it hard: residual =
b·tanh(r / b), the identity for small r and never beyond b in L∞ (the original is unbounded, so
the default is ``None``; the measured residual is recorded either way). (2) No spatial-transformer in the decoder and none of
StegaStamp's print-and-photograph distortions (warp, blur, noise, colour, JPEG) between encoder
and decoder: our trigger only has to survive digital poisoning. (3) The encoder is trained on
the attacker's own training set (BackdoorBox also adds the test images) with secrets drawn anew
each batch from a seeded generator (BackdoorBox draws one per image once). (4) TensorFlow's
asymmetric "same" padding of stride-2 convolutions is replaced by PyTorch's symmetric padding;
as in StegaStamp (not BackdoorBox, which keeps PyTorch's defaults) the encoder starts from He
and the decoder from Glorot initialisation, and as in BackdoorBox the secret's dense layer maps
straight to a full-resolution plane (StegaStamp: 50×50, upsampled ×8 to 400×400).
(5) The poisoned set is built statically by ``Attack.poison`` (exact count, seeded indices);
BackdoorBox mixes a fixed share of poisoned images into every batch instead.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.attack import AttackConfig, PoisonResult
from core.data import TensorData
from core.loop import batch_indices
from core.registry import ATTACKS
from core.seeding import make_generator
from core.config import require

from .learned import LearnedTriggerAttack, data_key, epoch_means, run_steps, seeded


@dataclass(frozen=True)
class ISSBAConfig(AttackConfig):
    """ISSBA: dirty label, all-to-one, 10 % (docs/design.md §5). Encoder/decoder sizes and training:
    BackdoorBox's ISSBA for 32×32 images (see the module docstring)."""

    secret_bits: int = 20                    # BackdoorBox secret_size (official ImageNet: 100)
    secret_seed: int = 0                     # fixes the one secret every poisoned image carries
    residual_bound: float | None = None      # L∞ cap b·tanh(r/b); None = unbounded (original)
    # StegaStamp U-Net: one conv at full resolution, then one stride-2 level per further width
    encoder_widths: tuple[int, ...] = (32, 32, 64, 128, 256)
    # StegaStamp decoder convs (spatial transformer dropped) and the dense layer after them
    decoder_widths: tuple[int, ...] = (32, 32, 64, 64, 64, 128, 128)
    decoder_strides: tuple[int, ...] = (2, 1, 2, 1, 2, 2, 2)
    decoder_hidden: int = 512
    encoder_epochs: int = 20                 # BackdoorBox enc_total_epoch
    secret_only_epochs: int = 2              # BackdoorBox enc_secret_only_epoch
    encoder_batch_size: int = 32             # BackdoorBox
    encoder_lr: float = 1e-4                 # Adam, BackdoorBox / StegaStamp
    secret_weight: float = 1.5               # BackdoorBox loss weights (LPIPS 1.5, critic 0.5
    l2_weight: float = 2.0                   # dropped, see the module docstring)
    # epochs over which the L2 weight rises linearly from 0 after the secret-only phase
    # (StegaStamp ramps it over 15,000 of 140,000 steps; BackdoorBox switches it on at once: 0)
    l2_ramp_epochs: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.secret_bits >= 1, f"issba secret_bits must be ≥ 1, got {self.secret_bits}")
        require(self.residual_bound is None or 0.0 < self.residual_bound <= 1.0,
                f"issba residual_bound must be None or lie in (0, 1], got {self.residual_bound}")
        require(len(self.encoder_widths) >= 1 and min(self.encoder_widths) >= 1,
                f"issba encoder_widths must be non-empty and positive, got {self.encoder_widths}")
        require(len(self.decoder_widths) >= 1 and min(self.decoder_widths) >= 1,
                f"issba decoder_widths must be non-empty and positive, got {self.decoder_widths}")
        require(len(self.decoder_strides) == len(self.decoder_widths)
                and set(self.decoder_strides) <= {1, 2},
                f"issba decoder_strides must hold one stride (1 or 2) per decoder width, got "
                f"{self.decoder_strides} for {len(self.decoder_widths)} widths")
        require(self.decoder_hidden >= 1,
                f"issba decoder_hidden must be ≥ 1, got {self.decoder_hidden}")
        require(self.encoder_epochs >= 1,
                f"issba encoder_epochs must be ≥ 1, got {self.encoder_epochs}")
        require(0 <= self.secret_only_epochs <= self.encoder_epochs,
                f"issba secret_only_epochs must lie in [0, encoder_epochs="
                f"{self.encoder_epochs}], got {self.secret_only_epochs}")
        require(self.encoder_batch_size >= 1,
                f"issba encoder_batch_size must be ≥ 1, got {self.encoder_batch_size}")
        require(self.encoder_lr > 0, f"issba encoder_lr must be > 0, got {self.encoder_lr}")
        require(self.secret_weight > 0,
                f"issba secret_weight must be > 0, got {self.secret_weight}")
        require(self.l2_weight >= 0, f"issba l2_weight must be ≥ 0, got {self.l2_weight}")
        require(self.l2_ramp_epochs >= 0,
                f"issba l2_ramp_epochs must be ≥ 0, got {self.l2_ramp_epochs}")


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    """Odd kernels: symmetric "same" padding; the 2×2 up-convs are padded by the caller."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2 if kernel % 2 else 0)


def _init_(module: nn.Module, weight_init: Callable[[torch.Tensor], Any]) -> None:
    """The TensorFlow original's initialisation (PyTorch's default differs): ``weight_init``
    for every conv / dense weight, zero biases. He init keeps the residual from vanishing
    through the deep U-Net at the start, which is when the bits are hardest to learn."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            weight_init(m.weight)
            nn.init.zeros_(m.bias)


class StegaEncoder(nn.Module):
    """StegaStamp's U-Net encoder: (secret bits, image) → residual of the image's shape.

    The secret goes through a dense layer to a full-resolution map that is stacked on the
    image; ``widths[0]`` is a full-resolution conv, each further width one stride-2 level; the
    way up doubles the resolution (nearest), applies a 2×2 conv, concatenates the skip features
    (and, at the top, the input stack) and merges them with a 3×3 conv."""

    def __init__(self, secret_bits: int, shape: tuple[int, int, int], widths: tuple[int, ...],
                 bound: float | None) -> None:
        super().__init__()
        c, h, w = shape
        self.shape, self.bound = shape, bound
        self.secret_dense = nn.Linear(secret_bits, c * h * w)
        self.down = nn.ModuleList(
            [_conv(2 * c, widths[0])]
            + [_conv(widths[k - 1], widths[k], stride=2) for k in range(1, len(widths))])
        levels = range(len(widths) - 2, -1, -1)
        self.up = nn.ModuleList(_conv(widths[k + 1], widths[k], kernel=2) for k in levels)
        self.merge = nn.ModuleList(_conv(2 * widths[k] + (2 * c if k == 0 else 0), widths[k])
                                   for k in levels)
        self.residual = nn.Conv2d(widths[0], c, 1)
        _init_(self, nn.init.kaiming_normal_)            # StegaStamp: he_normal, zero biases

    def forward(self, secret: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        c, h, w = self.shape
        plane = F.relu(self.secret_dense(secret - 0.5)).view(-1, c, h, w)
        stack = torch.cat([plane, image - 0.5], dim=1)
        skips, x = [], stack
        for conv in self.down:
            x = F.relu(conv(x))
            skips.append(x)
        for level, (up, merge) in enumerate(zip(self.up, self.merge)):
            k = len(skips) - 2 - level
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = F.relu(up(F.pad(x, (0, 1, 0, 1))))       # 2×2 "same" conv (TF pads right/bottom)
            parts = [skips[k], x] + ([stack] if k == 0 else [])
            x = F.relu(merge(torch.cat(parts, dim=1)))
        residual = self.residual(x)
        return residual if self.bound is None else self.bound * torch.tanh(residual / self.bound)


class StegaDecoder(nn.Module):
    """StegaStamp's decoder without its spatial transformer: 3×3 convs (ReLU) → dense →
    one logit per secret bit."""

    def __init__(self, secret_bits: int, shape: tuple[int, int, int], widths: tuple[int, ...],
                 strides: tuple[int, ...], hidden: int) -> None:
        super().__init__()
        cin, h, w = shape
        layers: list[nn.Module] = []
        for width, stride in zip(widths, strides):
            layers += [_conv(cin, width, stride=stride), nn.ReLU(inplace=True)]
            cin, h, w = width, (h - 1) // stride + 1, (w - 1) // stride + 1
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * h * w, hidden),
                                  nn.ReLU(inplace=True), nn.Linear(hidden, secret_bits))
        _init_(self, nn.init.xavier_uniform_)            # StegaStamp: Keras default (Glorot)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image - 0.5))


class StegaStamp(nn.Module):
    """The encoder/decoder pair, cached as one safetensors file."""

    def __init__(self, encoder: StegaEncoder, decoder: StegaDecoder) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder


@ATTACKS.register("issba", namespace="image")
class ISSBA(LearnedTriggerAttack):
    name = "issba"
    Config = ISSBAConfig

    def __init__(self, config: ISSBAConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        # per-epoch mean bit BCE / bit accuracy of the last training run (empty after a cache hit)
        self.history: dict[str, list[float]] = {}

    def secret(self) -> torch.Tensor:
        """The fixed secret (0/1 floats) that every poisoned image carries."""
        bits = torch.randint(0, 2, (self.config.secret_bits,),
                             generator=make_generator(self.config.secret_seed))
        return bits.float()

    # -- learning the encoder ----------------------------------------------------------------
    def build(self, shape: tuple[int, int, int]) -> StegaStamp:
        cfg = self.config
        levels = len(cfg.encoder_widths) - 1
        require(shape[1] % 2 ** levels == 0 and shape[2] % 2 ** levels == 0,
                f"issba: {len(cfg.encoder_widths)} encoder widths halve the resolution "
                f"{levels} times, so height and width must be multiples of {2 ** levels}; "
                f"got {shape[1]}×{shape[2]}")
        return StegaStamp(
            StegaEncoder(cfg.secret_bits, shape, cfg.encoder_widths, cfg.residual_bound),
            StegaDecoder(cfg.secret_bits, shape, cfg.decoder_widths, cfg.decoder_strides,
                         cfg.decoder_hidden))

    def prepare(self, train: TensorData, adapter: Any, device: torch.device, seed: int) -> None:
        """Train (or load from the artifact cache) the encoder/decoder on ``train``'s images."""
        shape = self.train_shape(train)
        device = torch.device(device)
        model = seeded(lambda: self.build(shape), seed).to(device)
        model = self.cached_module(model, "stegastamp", data_key(train, seed),
                                   lambda m: self.learn(m, train, device, seed))
        if self.history:
            self.artifacts["stegastamp"]["train_bit_acc"] = self.history["bit_acc"][-1]
        self.set_network(model, device, shape)

    def learn(self, model: StegaStamp, train: TensorData, device: torch.device,
              seed: int) -> None:
        """StegaStamp training with a random secret per image and batch (seeded)."""
        cfg = self.config
        images = train.inputs.to(device=device, dtype=torch.float32)
        batch = min(cfg.encoder_batch_size, len(images))
        per_epoch = len(images) // batch
        warmup, ramp_steps = cfg.secret_only_epochs * per_epoch, cfg.l2_ramp_epochs * per_epoch
        generator = make_generator(seed)
        order = batch_indices(len(images), batch, cfg.encoder_epochs, None, generator)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.encoder_lr)
        bit_acc = torch.zeros(len(order), device=device)
        counter = itertools.count()

        def step(x: torch.Tensor, _targets: Any) -> torch.Tensor:
            k = next(counter)
            secret = torch.randint(0, 2, (batch, cfg.secret_bits), generator=generator)
            secret = secret.to(device=device, dtype=torch.float32)
            residual = model.encoder(secret, x)
            logits = model.decoder((x + residual).clamp(0.0, 1.0))
            bit_loss = F.binary_cross_entropy_with_logits(logits, secret)
            loss = bit_loss
            if k >= warmup:
                ramp = min(1.0, (k - warmup + 1) / ramp_steps) if ramp_steps else 1.0
                loss = (cfg.secret_weight * bit_loss
                        + ramp * cfg.l2_weight * residual.square().mean())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bit_acc[k] = ((logits.detach() > 0).float() == secret).float().mean()
            return bit_loss

        model.train()
        bit_loss = run_steps(self, "encoder", device, step, TensorData(images, train.targets),
                             order, generator)
        model.eval()
        curves = torch.stack([torch.tensor(bit_loss, device=device), bit_acc])
        self.history = epoch_means(curves, cfg.encoder_epochs, ("bit_loss", "bit_acc"), self.name)

    # -- trigger -----------------------------------------------------------------------------
    def trigger_batch(self, inputs: torch.Tensor) -> torch.Tensor:
        secret = self.secret().to(inputs.device).expand(inputs.shape[0], -1)
        return (inputs + self.network.encoder(secret, inputs)).clamp(0.0, 1.0)

    def decode_bits(self, images: torch.Tensor) -> torch.Tensor:
        """The decoder's bits (0/1 floats, shape (N, secret_bits)) for ``images``, on CPU."""
        network = self.require_network()
        with torch.no_grad():
            chunks = [(network.decoder(images[s:s + self.inference_batch_size].to(self.device))
                       > 0).float().cpu()
                      for s in range(0, images.shape[0], self.inference_batch_size)]
        return torch.cat(chunks)

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        """Dirty-label poisoning; also records how many secret bits the decoder reads back from
        the poisoned images (``artifacts["trigger"]["secret_bit_acc"]``)."""
        result = super().poison(train, generator)
        poisoned = result.data.inputs[result.indices.to(result.data.inputs.device)]
        bits = self.decode_bits(poisoned)
        self.artifacts["trigger"]["secret_bit_acc"] = float((bits == self.secret()).float().mean())
        return result
