"""A tiny synthetic image-classification task for tests and the ``smoke`` preset.

Images are class prototypes (smooth random patterns) plus per-sample shifts, contrast changes and
noise, so a small CNN needs a few epochs to reach high accuracy and a patch trigger is learnable
from a 10 % poison rate. Everything is generated from a seed in well under a second.
"""
from . import attacks, models  # noqa: F401  (registration)
