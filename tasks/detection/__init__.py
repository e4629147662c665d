"""The detection task: multi-label classification of detection datasets (VOC07, VOC12, COCO and
a composed set of real objects on real backgrounds) with the clean-image backdoor of Chen et al.
(ICLR 2023), the paper's Table 2 (kind ``multilabel``), and object detection with BadDet's
backdoors (kind ``boxes``, ``boxes.py``). Importing registers datasets, models, attacks, augmentations.
"""
from . import attacks, augmentations, box_augmentations, box_models, datasets, models  # noqa: F401
