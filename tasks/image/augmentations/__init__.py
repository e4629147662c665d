"""Image augmentations for NFT (docs/design.md §2, supp. Table 7), registered under the ``image`` namespace.

``crop_flip`` is the task's light augmentation (random crop + horizontal flip); the others are
the alternatives to MixUp the paper compares: ``cutmix``, ``cutout``, ``augmix``, ``randaugment``
and ``pgd`` (adversarial; needs ``bind(model, loss_fn)``). Each is built by
``AUGMENTATIONS.build(name, adapter, namespace="image", **options)``; all work on whole batches
(N, C, H, W) in [0, 1] on the inputs' device and draw their randomness from the CPU generator
they are called with. ``ops`` holds the batched ops shared by AugMix and RandAugment.
"""
from . import augmix, crop_flip, cutmix, cutout, ops, pgd, randaugment  # noqa: F401  (register)
from .augmix import AugMix
from .crop_flip import RandomCropFlip
from .cutmix import CutMix
from .cutout import Cutout
from .pgd import PGDAugment
from .randaugment import RandAugment

IMAGE_AUGMENTATIONS = ("crop_flip", "cutmix", "cutout", "augmix", "randaugment", "pgd")

__all__ = ["AugMix", "Cutout", "CutMix", "IMAGE_AUGMENTATIONS", "PGDAugment", "RandAugment",
           "RandomCropFlip"]
