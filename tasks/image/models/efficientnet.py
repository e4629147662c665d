"""``efficientnet_b0``: torchvision's EfficientNet-B0, freshly initialised (paper Table 15).

``torchvision.models.efficientnet_b0(weights=None, num_classes=...)``; for ``in_channels != 3``
the stem conv (``features.0.0``) is replaced by one with the same shape otherwise. The model is an
ordinary ``torchvision.models.EfficientNet`` and a purified one loads with torchvision alone.

Small images: the architecture is unchanged (no CIFAR re-striding). Its total stride of 32
leaves 1×1 feature maps at 32×32 from ``features.6`` on (2×2 at 64×64, 7×7 at 224×224). It
trains and runs at those sizes, but the last stages see no spatial context, so expect lower
CIFAR-10 / GTSRB accuracy than from the ResNets; upsampling inputs is left to the caller. With
1×1 maps, BatchNorm in train mode needs batches of at least 2. Train mode also applies
torchvision's stochastic depth (up to 0.2) and classifier dropout (0.2).

NFT masking: every conv feeds a BatchNorm (masked through γ) except the squeeze-excitation 1×1
convs ``fc1`` / ``fc2`` (masked through their weight rows); the final ``classifier.1`` is the
classifier.
"""
from __future__ import annotations

from torch import nn
from torchvision.models import efficientnet_b0 as tv_efficientnet_b0

from core.registry import MODELS


@MODELS.register("efficientnet_b0", input_shape=(3, 32, 32))
def efficientnet_b0(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """EfficientNet-B0 from scratch; ``image_size`` does not change the architecture (see above)."""
    if image_size < 32:
        raise ValueError(f"efficientnet_b0 needs image_size >= 32 (stride 32), got {image_size}")
    model = tv_efficientnet_b0(weights=None, num_classes=num_classes)
    if in_channels != 3:
        old = model.features[0][0]
        stem = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, stride=old.stride,
                         padding=old.padding, bias=False)
        nn.init.kaiming_normal_(stem.weight, mode="fan_out")  # torchvision's conv init
        model.features[0][0] = stem
    return model
