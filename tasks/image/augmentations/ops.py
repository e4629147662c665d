"""Batched image ops shared by RandAugment and AugMix (and the box mask of CutMix / Cutout).

Every op maps a batch (n, C, H, W) in [0, 1] and a per-sample value tensor (n,) to a batch of the
same shape, dtype and device. The semantics are torchvision's tensor ops (``adjust_*``,
``posterize``, ``solarize``, ``autocontrast``, ``equalize``) computed for a whole batch at once,
with one value per sample; the geometric ops (rotate, shear, translate) build one 2×3 affine
matrix per sample and resample with ``grid_sample`` (nearest, zero fill, about the image centre).

``apply_per_sample`` lets every sample pick its own op: each op runs once, on the sub-batch of the
samples that chose it (a loop over the op set, never over samples).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

Value = Callable[[torch.Tensor], torch.Tensor]


def as_column(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(n,) values -> (n, 1, 1, 1) on ``like``'s device and dtype."""
    return value.to(device=like.device, dtype=like.dtype).view(-1, 1, 1, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(n, 1, H, W) luma (ITU-R 601-2 weights, as torchvision) of RGB; channel mean otherwise."""
    if x.shape[1] == 3:
        weights = torch.tensor([0.2989, 0.587, 0.114], dtype=x.dtype, device=x.device)
        return (x * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    return x.mean(dim=1, keepdim=True)


def blend(x: torch.Tensor, degenerate: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL ``ImageEnhance``: ``degenerate + factor·(x − degenerate)``, clamped to [0, 1]."""
    return torch.lerp(degenerate.expand_as(x), x, as_column(factor, x)).clamp_(0.0, 1.0)


# -- colour ops (value: enhancement factor, 1 = identity) --------------------------------------
def brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (x * as_column(factor, x)).clamp_(0.0, 1.0)


def contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return blend(x, mean, factor)


def color(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Saturation: blend with the grayscale image."""
    return blend(x, grayscale(x), factor)


def sharpness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with PIL's 3×3 smoothing filter (centre weight 5/13); the border stays as it is."""
    c, h, w = x.shape[1:]
    if h < 3 or w < 3:
        return x.clone()
    kernel = torch.ones(3, 3, dtype=x.dtype, device=x.device)
    kernel[1, 1] = 5.0
    kernel = (kernel / kernel.sum()).expand(c, 1, 3, 3)
    degenerate = x.clone()
    degenerate[..., 1:-1, 1:-1] = F.conv2d(x, kernel, groups=c)
    return blend(x, degenerate, factor)


# -- tone ops ---------------------------------------------------------------------------------
def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Keep the top ``bits`` (0–8) of each 8-bit value."""
    step = as_column(2.0 ** (8 - bits.round().clamp(0, 8)), x)
    return (torch.floor(torch.round(x * 255) / step) * step / 255).clamp_(0.0, 1.0)


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Invert the pixels ≥ ``threshold`` (> 1 leaves the image unchanged)."""
    return torch.where(x >= as_column(threshold, x), 1.0 - x, x)


def autocontrast(x: torch.Tensor, value: torch.Tensor | None = None) -> torch.Tensor:
    """Stretch each channel to [0, 1]; constant channels are left alone (as torchvision)."""
    low = x.amin(dim=(-2, -1), keepdim=True)
    high = x.amax(dim=(-2, -1), keepdim=True)
    flat = high <= low
    scale = torch.where(flat, torch.ones_like(high), 1.0 / (high - low).masked_fill(flat, 1.0))
    low = low.masked_fill(flat, 0.0)
    return ((x - low) * scale).clamp_(0.0, 1.0)


def equalize(x: torch.Tensor, value: torch.Tensor | None = None) -> torch.Tensor:
    """Histogram equalisation per channel on the 8-bit values (torchvision's LUT rule), batched
    with one 256-bin histogram per (sample, channel)."""
    n, c, h, w = x.shape
    levels = torch.round(x * 255).clamp_(0, 255).long().view(n * c, h * w)
    hist = torch.zeros(n * c, 256, dtype=torch.long, device=x.device)
    hist.scatter_add_(1, levels, torch.ones_like(levels))
    last = 255 - (hist.flip(1) > 0).long().argmax(dim=1, keepdim=True)   # brightest used level
    step = (h * w - hist.gather(1, last)) // 255
    safe = step.clamp(min=1)
    lut = (hist.cumsum(dim=1) + safe // 2) // safe
    lut = F.pad(lut, (1, 0))[:, :-1].clamp_(0, 255)
    out = torch.where(step > 0, lut.gather(1, levels), levels)
    return (out.to(x.dtype) / 255).view(n, c, h, w)


# -- geometric ops: one affine map per sample (output -> input, normalised coordinates) ----------
def affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample each sample with its (2, 3) ``theta`` (``affine_grid`` convention, align_corners
    False), nearest neighbour, zero fill. The grid is built by broadcasting (``affine_grid``'s
    batched matmul is several times slower on CPU)."""
    n, _, h, w = x.shape
    t = theta.to(device=x.device, dtype=x.dtype)[:, :, :, None, None]      # (n, 2, 3, 1, 1)
    bx = (torch.arange(w, device=x.device, dtype=x.dtype) * 2 + 1) / w - 1
    by = (torch.arange(h, device=x.device, dtype=x.dtype) * 2 + 1) / h - 1
    grid = t[:, :, 0] * bx[None, None, None, :] + t[:, :, 1] * by[None, None, :, None] + t[:, :, 2]
    return F.grid_sample(x, grid.permute(0, 2, 3, 1), mode="nearest", padding_mode="zeros",
                         align_corners=False)


def _theta(n: int) -> torch.Tensor:
    return torch.eye(2, 3).repeat(n, 1, 1)


def rotate_theta(degrees: torch.Tensor, h: int, w: int) -> torch.Tensor:
    angle = degrees.float().cpu() * (math.pi / 180.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = _theta(len(angle))
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * (h / w)   # pixel-space rotation on any aspect
    theta[:, 1, 0], theta[:, 1, 1] = sin * (w / h), cos
    return theta


def shear_x_theta(shear: torch.Tensor, h: int, w: int) -> torch.Tensor:
    theta = _theta(len(shear))
    theta[:, 0, 1] = shear.float().cpu() * (h / w)
    return theta


def shear_y_theta(shear: torch.Tensor, h: int, w: int) -> torch.Tensor:
    theta = _theta(len(shear))
    theta[:, 1, 0] = shear.float().cpu() * (w / h)
    return theta


def translate_x_theta(fraction: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Shift right by ``fraction`` of the width (negative: left)."""
    theta = _theta(len(fraction))
    theta[:, 0, 2] = -2.0 * fraction.float().cpu()
    return theta


def translate_y_theta(fraction: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Shift down by ``fraction`` of the height (negative: up)."""
    theta = _theta(len(fraction))
    theta[:, 1, 2] = -2.0 * fraction.float().cpu()
    return theta


def _geometric(builder: Callable[[torch.Tensor, int, int], torch.Tensor]
               ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def op(x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return affine(x, builder(value, x.shape[-2], x.shape[-1]))
    op.__name__ = builder.__name__.removesuffix("_theta")
    op.__doc__ = builder.__doc__
    return op


rotate = _geometric(rotate_theta)
shear_x = _geometric(shear_x_theta)
shear_y = _geometric(shear_y_theta)
translate_x = _geometric(translate_x_theta)
translate_y = _geometric(translate_y_theta)


# -- op tables and per-sample dispatch ----------------------------------------------------------
@dataclass(frozen=True)
class OpSpec:
    """An op with the map from a level to its value.

    ``value`` receives the level in [0, 1] (or [−1, 1] with a random sign when ``signed``) and
    returns the op's argument (degrees, enhancement factor, bits, …). A pixel op gives ``fn``
    (batch, values) -> batch; a geometric op gives ``theta`` (values, H, W) -> (k, 2, 3) affine
    matrices instead, so that all geometric picks of a step share one resampling. Neither:
    identity.
    """

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    value: Value = lambda level: level
    signed: bool = False
    theta: Callable[[torch.Tensor, int, int], torch.Tensor] | None = None


def apply_per_sample(x: torch.Tensor, choice: torch.Tensor, level: torch.Tensor,
                     sign: torch.Tensor, specs: Sequence[OpSpec]) -> torch.Tensor:
    """Sample i gets ``specs[choice[i]]`` at ``level[i]`` (times ``sign[i]`` if signed).

    ``choice``, ``level`` and ``sign`` are CPU tensors of shape (n,); ``choice[i] < 0`` means
    identity. Each pixel op runs once on the sub-batch that chose it; all geometric picks are
    resampled together with their per-sample matrices.
    """
    h, w = x.shape[-2:]
    out = x.clone()
    geo_index, geo_theta = [], []
    for k, spec in enumerate(specs):
        if spec.fn is None and spec.theta is None:
            continue
        index = torch.nonzero(choice == k).flatten()
        if len(index) == 0:
            continue
        value = spec.value(level[index] * sign[index] if spec.signed else level[index])
        if spec.theta is not None:
            geo_index.append(index)
            geo_theta.append(spec.theta(value, h, w))
            continue
        index_dev = index.to(x.device)
        out[index_dev] = spec.fn(x[index_dev], value).to(x.dtype)  # type: ignore[misc]
    if geo_index:
        index_dev = torch.cat(geo_index).to(x.device)
        out[index_dev] = affine(x[index_dev], torch.cat(geo_theta)).to(x.dtype)
    return out


def box_mask(boxes: torch.Tensor, height: int, width: int,
             device: torch.device | str) -> torch.Tensor:
    """(n, 1, H, W) bool mask, True inside each sample's box ``(y0, y1, x0, x1)`` (half-open)."""
    boxes = boxes.to(device)
    rows = torch.arange(height, device=device)[None, :]
    cols = torch.arange(width, device=device)[None, :]
    in_rows = (rows >= boxes[:, 0:1]) & (rows < boxes[:, 1:2])
    in_cols = (cols >= boxes[:, 2:3]) & (cols < boxes[:, 3:4])
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]


__all__ = ["OpSpec", "affine", "apply_per_sample", "as_column", "autocontrast", "blend",
           "box_mask", "brightness", "color", "contrast", "equalize", "grayscale", "posterize",
           "rotate", "rotate_theta", "sharpness", "shear_x", "shear_x_theta", "shear_y",
           "shear_y_theta", "solarize", "translate_x", "translate_x_theta", "translate_y",
           "translate_y_theta"]
