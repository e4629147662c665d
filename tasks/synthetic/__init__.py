"""A tiny synthetic image-classification task for tests and the ``smoke`` preset.

Images are class prototypes (smooth random patterns) with contrast jitter, random shifts, eight
random binary 3×3 texture patches and Gaussian noise, generated from a seed in well under a
second. The texture patches matter: without them NFT barely moved the blend ASR during
development (77 % after 300 steps, seed 0; our reading: with no high-frequency content in clean
images the trigger detectors are silent on the clean set, so mask tuning has no signal to act on).
With eight of them, NFT removes the ``blend`` backdoor (smoke preset: ASR ~98 % → 1.6–3.4 %, seeds 0–2).

Attacks: ``blend`` (the one the smoke preset and tests use) and ``patch`` (a BadNets-style
corner checkerboard). NFT does *not* remove ``patch`` on this toy task (ASR stays 99.6–100 %,
seeds 0–2, results/synthetic_smoke.md), which we keep as an honest negative case rather than hide.
"""
from . import attacks, models  # noqa: F401  (registration)
