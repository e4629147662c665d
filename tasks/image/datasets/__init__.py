"""Image classification datasets, registered in ``core.registry.DATASETS`` under ``image``.

Each loader is ``load(root, image_size=None, max_per_class=None) -> ImageDataset`` and reads
``root/<name>/`` as prepared by ``data_scripts/<name>.py``:

=================  ===========================================================  ============
name               layout under ``root/<name>/``                                default size
=================  ===========================================================  ============
``cifar10``        ``cifar-10-batches-py/`` pickles, or ``train|test/<class>/*``  32
``gtsrb``          official ``GTSRB/Final_Training``, ``GTSRB/Final_Test``        32 (resized)
``tiny_imagenet``  official ``tiny-imagenet-200/`` (val = test split)            64
``imagenet``       ``train|val/<wnid>/*.JPEG``; use ``max_per_class``             224 (crop)
``image_folder``   ``train|test/<class>/*`` (or ``folder=PATH``)                  native
=================  ===========================================================  ============
"""
from . import cifar10, folder, gtsrb, imagenet, tiny_imagenet  # noqa: F401  (they register)
from .decoding import ImageDecodeError
from .folders import DatasetNotFoundError
from .image_dataset import ImageDataset

__all__ = ["DatasetNotFoundError", "ImageDataset", "ImageDecodeError"]
