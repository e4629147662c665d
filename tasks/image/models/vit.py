"""``vit_small``: ViT-S/p via ``torchvision.models.VisionTransformer`` (paper Table 15).

Hidden size 384, 12 layers, 6 heads, MLP 1536 (~21.3M parameters). The patch size follows the
image size so that a small image still gives a usable token grid: 4 up to 32 px (8×8 = 64 patches
at 32×32), 8 up to 64 px (64 patches at 64×64), 16 above (196 patches at 224×224); the image size
must be divisible by it. ``in_channels != 3`` replaces ``conv_proj`` (torchvision's initialisation).
No dropout (torchvision's default), no pretrained weights.

The classifier ``heads.head`` gets a truncated-normal initialisation (std 0.02, as timm does for
training from scratch) instead of torchvision's zeros: a zero head gives every other parameter a
zero gradient on the first step, which hides wiring errors and makes input-gradient attacks on a
fresh model see nothing.

NFT masking (see ``core/masks.py``): the attention projections are NOT masked. torchvision uses
``nn.MultiheadAttention``, whose q/k/v projections are one fused ``in_proj_weight`` and whose
``out_proj`` is applied functionally, so no neuron mask is traced through them. What gets masked
are the MLP blocks' ``linear_1`` / ``linear_2`` (through their weight rows; no norm follows them
directly); ``conv_proj`` is the first layer (never masked) and ``heads.head`` the classifier.
"""
from __future__ import annotations

import math

from torch import nn
from torchvision.models import VisionTransformer

from core.registry import MODELS


def patch_size_for(image_size: int) -> int:
    """4 for images up to 32 px, 8 up to 64 px, 16 beyond."""
    return 4 if image_size <= 32 else 8 if image_size <= 64 else 16


@MODELS.register("vit_small", input_shape=(3, 32, 32))
def vit_small(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """ViT-S (384 hidden, 12 layers, 6 heads, MLP 1536), patch size from ``patch_size_for``."""
    patch = patch_size_for(image_size)
    if image_size % patch:
        raise ValueError(f"vit_small: image_size {image_size} is not divisible by its patch "
                         f"size {patch}")
    model = VisionTransformer(image_size=image_size, patch_size=patch, num_layers=12,
                              num_heads=6, hidden_dim=384, mlp_dim=1536, num_classes=num_classes)
    if in_channels != 3:
        proj = nn.Conv2d(in_channels, 384, kernel_size=patch, stride=patch)
        nn.init.trunc_normal_(proj.weight, std=math.sqrt(1 / (in_channels * patch * patch)))
        nn.init.zeros_(proj.bias)
        model.conv_proj = proj
    nn.init.trunc_normal_(model.heads.head.weight, std=0.02)
    nn.init.zeros_(model.heads.head.bias)
    return model
