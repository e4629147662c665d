"""Registered image models (``core.registry.MODELS``, global names).

Every factory is ``name(num_classes=10, in_channels=3, image_size=32) -> nn.Module``, builds
from scratch (no pretrained weights, no downloads) and takes float32 inputs in [0, 1] of shape
(N, in_channels, image_size, image_size); there is no separate normalisation layer.

==================  ==========================================================  ==============
name                what                                                        params (10 cl.)
==================  ==========================================================  ==============
small_cnn           4 conv-BN-ReLU (20-40-80-80), the CPU ``quick`` model         95,390
preact_resnet18     PreActResNet-18, ANP/NFT official layout (paper default)      11,172,170
resnet18            torchvision ResNet, CIFAR stem below 128 px                   11,173,962
resnet34            (same)                                                        21,282,122
resnet50            (same, Bottleneck)                                            23,520,842
vgg16               VGG-16-BN, small 512-wide classifier                          14,986,698
efficientnet_b0     torchvision EfficientNet-B0                                   4,020,358
vit_small           torchvision ViT-S, patch 4/8/16 for 32/64/224 px              21,342,346
==================  ==========================================================  ==============
"""
from . import airbench, efficientnet, preact_resnet, resnet, small_cnn, vgg, vit  # noqa: F401  (register)

__all__ = ["airbench", "efficientnet", "preact_resnet", "resnet", "small_cnn", "vgg", "vit"]
