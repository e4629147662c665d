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

What NFT does here (2 CPU cores, ``video_quick`` on the composed ``moving_objects`` set,
``results/video_quick_moving_objects.md``): the CNN+LSTM uses motion (clean accuracy 86–87 %,
10–12 % from a single frame). The original clean-label settings (30 % of the target class, a
trigger of the original's share of the frame) do not implant on this small from-scratch model
(ASR 0.6 %); with 70 % of the target class and a 6×6 trigger ASR is 100 % at 87.3 % clean
accuracy, and NFT (paper budget) leaves it at 100 % on two seeds, as does a bolder NFT (lr 0.2,
η_c 0, classifier masked); AWM removes it (3.2 %), FT on one seed of two (94 % / 15.7 %), I-BAU,
RNP and FT-SAM do not; an 8×8 frame patch (dirty label, 10 %) stays at 100 % after NFT and FT. The paper's Table 3 result
(UCF-101 ASR 81.3 → 13.3 %) is not reproduced at this scale.
"""
from . import attacks, augmentations, datasets, models  # noqa: F401  (registration)
from .adapter import VideoTask

__all__ = ["VideoTask"]
