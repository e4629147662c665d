"""``airbench``: a compact, fast-converging CIFAR-10 net in the spirit of airbench94.

Written from a reading of Keller Jordan's public CIFAR-10 speedrun code (``airbench94.py``,
github.com/KellerJordan/cifar10-airbench); nothing is copied. What the architecture keeps:

- a **whitening first layer**: a 2×2 conv, no padding, whose 2·3·2·2 = 24 filters are set from the
  eigen-decomposition of the covariance of 2×2 training-image patches (each eigenvector scaled by
  1/sqrt(eigenvalue + eps), and its negation) and then frozen; only its bias trains
  (``init_whitening`` sets it from data, the runner's image adapter calls it before training);
- three conv groups ``conv3×3 → maxpool2 → BN → GELU → conv3×3 → BN → GELU`` with widths
  (64, 256, 256) in the original (``widths`` sets them; the CPU preset narrows them);
- BatchNorm with frozen γ = 1 (only β trains, at a 64× learning rate: the recipe is in
  ``benchmarks/runner/presets/quick.yaml``), momentum 0.4 in PyTorch's convention (the original's 0.6 is the
  weight of the running value), eps 1e-12;
- Dirac (identity) initialisation of the first ``in`` filters of every 3×3 conv;
- a 3×3 max-pool, a bias-free linear head, the logits scaled by 1/9 (``temperature``).

Not kept: test-time augmentation (the suite evaluates every model the same way, without TTA: the
original's flip + translate TTA adds about half a point), ``torch.compile`` and fp16/bf16 BatchNorm
tricks, progressive freezing of the whitening bias (it only saves time).

NFT masks this net's convs through their BatchNorm γ (docs/design.md §2): γ is frozen at 1 for training,
but the mask is a separate parameter, so NFT's gradient reaches it all the same.
"""
from __future__ import annotations

import torch
from torch import nn

from core.registry import MODELS

WIDTHS = (64, 256, 256)          # airbench94's block widths
CPU_WIDTHS = (32, 128, 128)      # the CPU ``quick`` preset's victim (airbench_cpu)
WIDTHS_95 = (128, 384, 384)      # airbench95's block widths (legacy/airbench95.py)
WHITEN_KERNEL = 2
WHITEN_EPS = 5e-4                # added to the patch-covariance eigenvalues (original: 5e-4)


class BatchNormFrozenGamma(nn.BatchNorm2d):
    """BatchNorm2d with γ fixed at 1 (not trained) and β trained, airbench's setting."""

    def __init__(self, num_features: int, momentum: float = 0.4, eps: float = 1e-12) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.weight.requires_grad_(False)


class ConvGroup(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNormFrozenGamma(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = BatchNormFrozenGamma(cout)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class Airbench(nn.Module):
    """whiten (2×2 conv, frozen weights) → GELU → 3 conv groups → maxpool3 → linear / 9."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3,
                 widths: tuple[int, int, int] = WIDTHS, temperature: float = 1 / 9,
                 normalized_whitening: bool = False) -> None:
        super().__init__()
        self.normalized_whitening = normalized_whitening
        whiten_width = 2 * in_channels * WHITEN_KERNEL ** 2
        self.whiten = nn.Conv2d(in_channels, whiten_width, WHITEN_KERNEL, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.act = nn.GELU()
        self.layer1 = ConvGroup(whiten_width, widths[0])
        self.layer2 = ConvGroup(widths[0], widths[1])
        self.layer3 = ConvGroup(widths[1], widths[2])
        self.pool = nn.MaxPool2d(3)
        self.classifier = nn.Linear(widths[2], num_classes, bias=False)
        self.temperature = temperature
        self._dirac_init()

    def _dirac_init(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module is not self.whiten:
                cin = module.in_channels
                with torch.no_grad():
                    torch.nn.init.dirac_(module.weight[:cin])

    @torch.no_grad()
    def init_whitening(self, images: torch.Tensor, eps: float = WHITEN_EPS) -> None:
        """Set the frozen whitening filters from 2×2 patches of ``images`` (N, C, H, W), [0, 1]."""
        if images.dim() != 4 or images.shape[1] != self.whiten.in_channels:
            raise ValueError(f"init_whitening needs (N, {self.whiten.in_channels}, H, W) images, "
                             f"got {tuple(images.shape)}")
        k = WHITEN_KERNEL
        c = images.shape[1]
        images = images.float()
        if self.normalized_whitening:     # airbench94: per-channel standardised images
            mean = images.mean(dim=(0, 2, 3))
            std = images.std(dim=(0, 2, 3))
            images = (images - mean[:, None, None]) / std[:, None, None]
        patches = images.unfold(2, k, 1).unfold(3, k, 1)                # N C H' W' kh kw
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)   # rows (C, kh, kw)
        if not self.normalized_whitening:
            patches = patches - patches.mean(dim=0, keepdim=True)
        cov = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(cov)              # ascending, columns
        eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.T.flip(0)
        filters = (eigenvectors / torch.sqrt(eigenvalues + eps)[:, None]).view(-1, c, k, k)
        filters = torch.cat([filters, -filters])
        if self.normalized_whitening:
            # fold the standardisation into the layer: w·(x − m)/s = (w/s)·x − Σ (w/s)·m, so the
            # net sees [0, 1] images and starts exactly where airbench94's zero bias starts
            filters = filters / std[None, :, None, None]
            self.whiten.bias.copy_(-(filters * mean[None, :, None, None]).sum(dim=(1, 2, 3)))
        self.whiten.weight.copy_(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.whiten(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(x) * self.temperature


@MODELS.register("airbench", input_shape=(3, 32, 32))
def airbench(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """airbench94's widths (64, 256, 256): 1,972,792 parameters (10 classes); the GPU victim."""
    _check_size(image_size)
    return Airbench(num_classes, in_channels, WIDTHS)


@MODELS.register("airbench94", input_shape=(3, 32, 32))
def airbench94(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """``airbench`` with airbench94's whitening: the patch covariance of per-channel standardised
    images, uncentred, eps 5e-4 on that scale, the standardisation folded into the frozen
    filters and the bias's start (``airbench`` whitens centred [0, 1] patches, where the same
    eps damps the small eigenvalues ~10× harder, and starts the bias at 0)."""
    _check_size(image_size)
    return Airbench(num_classes, in_channels, WIDTHS, normalized_whitening=True)


@MODELS.register("airbench95", input_shape=(3, 32, 32))
def airbench95(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """``airbench94`` at airbench95's widths (128, 384, 384): the public time-to-95 % variant changes
    only the widths, the learning rate and the length (its recipe: ``quick_hiacc95`` preset)."""
    _check_size(image_size)
    return Airbench(num_classes, in_channels, WIDTHS_95, normalized_whitening=True)


@MODELS.register("airbench_cpu", input_shape=(3, 32, 32))
def airbench_cpu(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """Half-width airbench (32, 128, 128): 498,104 parameters (10 classes); the CPU ``quick`` victim."""
    _check_size(image_size)
    return Airbench(num_classes, in_channels, CPU_WIDTHS)


def _check_size(image_size: int) -> None:
    if image_size != 32:
        raise ValueError(f"airbench is laid out for 32×32 inputs (the final 3×3 max-pool), got "
                         f"{image_size}; use resnet18 or preact_resnet18 for other sizes")
