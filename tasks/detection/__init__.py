"""The two detection tasks, sharing datasets, loaders and splits (``base.py``): ``detection``,
multi-label classification of detection datasets (VOC07, VOC12, COCO and a composed set of real
objects on real backgrounds) with the clean-image backdoor of Chen et al. (ICLR 2023), the
paper's Table 2 (``adapter.py``); and ``detection_boxes``, object detection with BadDet's
backdoors (``box_adapter.py``). Importing registers datasets, models, attacks, augmentations,
each in the namespace of the task that uses it.
"""
from . import attacks, augmentations, box_augmentations, box_models, datasets, models  # noqa: F401
