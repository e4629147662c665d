"""Video action recognition: CNN+LSTM recognisers, the clean-label video backdoor, NFT on clips.

Paper (Table 3): an ImageNet ResNet-50 per frame + LSTM on UCF-101 and HMDB-51, one frame in
five at a fixed size, attacked with the clean-label video backdoor of Zhao et al. (CVPR 2020),
purified by NFT with frame-consistent image augmentations + MixUp on a 5 % clean split.

Here: ``io.py`` (PyAV decode / encode), ``datasets/`` (UCF-101 and HMDB-51 official layouts, the
composed ``moving_objects`` set, in-memory ``synthetic`` clips; uint8 clip cache),
``compose.py`` (motion rendering), ``models.py`` (``cnn_lstm_*``: torchvision ResNet per frame
+ LSTM), ``attacks/`` (``clean_label_video``, ``frame_patch``), ``augmentations.py``
(``clip_crop_flip``), ``adapter.py``. Registrations use the ``video`` namespace; decoding needs
the ``video`` extra (PyAV).
"""
from . import attacks, augmentations, datasets, models  # noqa: F401  (registration)
from .adapter import VideoTask

__all__ = ["VideoTask"]
