"""Image classification: datasets, models, trigger attacks and NFT augmentations.

Conventions every part follows: images are float32 tensors in [0, 1] with shape (N, C, H, W)
(loaders return uint8 and the adapter converts); models take [0, 1] inputs without a separate
normalisation step; triggers keep pixels in [0, 1]; everything runs batched on the tensors'
device. Registrations go to the core registries under the namespace ``image`` (models under
their bare names, e.g. ``preact_resnet18``).
"""
from . import attacks, augmentations, datasets, models  # noqa: F401  (registration)
from .adapter import ImageTask  # noqa: F401
