"""Helpers of the video attacks: clip checks, dtype-preserving patch pasting, quantisation.

Clips are (N, T, 3, H, W), uint8 (0..255, how the datasets keep them) or float in [0, 1].
Attacks return the dtype they were given; a float result meant for a uint8 training set is
rounded to the 8-bit grid, as a poisoned video file would be.
"""
from __future__ import annotations

import torch


def check_clips(inputs: torch.Tensor, attack: str, patch: int = 1) -> None:
    if inputs.dim() != 5 or inputs.shape[2] != 3:
        raise ValueError(f"{attack}: expected clips (N, T, 3, H, W), got {tuple(inputs.shape)}")
    if min(inputs.shape[-2:]) < patch:
        raise ValueError(f"{attack}: a {patch}×{patch} trigger does not fit "
                         f"{inputs.shape[-2]}×{inputs.shape[-1]} frames")


def to_unit(clips: torch.Tensor) -> torch.Tensor:
    """uint8 → float in [0, 1]; float passes through (as float32)."""
    return clips.float().div(255.0) if clips.dtype == torch.uint8 else clips.float()


def like(values: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Float ``values`` in [0, 1] in ``reference``'s dtype (uint8: rounded to 0..255)."""
    values = values.clamp(0.0, 1.0)
    if reference.dtype == torch.uint8:
        return values.mul(255.0).round().to(torch.uint8)
    return values.to(reference.dtype)


def paste_bottom_right(clips: torch.Tensor, patch: torch.Tensor,
                       alpha: float = 1.0) -> torch.Tensor:
    """A copy of ``clips`` with ``patch`` (3, s, s) in [0, 1] in the bottom-right corner of
    every frame (blended with opacity ``alpha``), in ``clips``' dtype."""
    s = patch.shape[-1]
    out = clips.clone()
    region = to_unit(out[..., -s:, -s:])
    mixed = (1.0 - alpha) * region + alpha * patch.to(region.device, region.dtype)
    out[..., -s:, -s:] = like(mixed, clips)
    return out
