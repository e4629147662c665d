"""Video backdoor attacks (registered under ``video``): ``clean_label_video`` (Zhao et al.
2020) and ``frame_patch`` (BadNets-style static patch)."""
from . import clean_label_video, frame_patch  # noqa: F401  (registration)
