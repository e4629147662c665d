"""Point-cloud classifiers in plain PyTorch: PointNet++ SSG / MSG (Qi et al. 2017) and PointNet.

Every model takes a batch of clouds (B, N, 3) (any N ≥ the first level's centres) and returns
class logits (B, C). Shared MLPs are 1×1 convolutions each followed by BatchNorm, so NFT masks
every one of them through the BatchNorm γ (core/masks.py); the first convolution of the model
is left unmasked (paper rule), the classifier too (official code).

Reference sizes (docs/design.md §5c, the PointNet++ SSG ModelNet40 setting without normals):
SA(512 centres, r 0.2, k 32, MLP 64-64-128) → SA(128, r 0.4, k 64, 128-128-256) → global
SA(256-512-1024) → FC 512-256 with dropout 0.4 → classifier; MSG: radii (0.1, 0.2, 0.4) with
k (16, 32, 128) and (0.2, 0.4, 0.8) with k (32, 64, 128). ``pointnet2_ssg_small`` is the
CPU-sized variant of the ``pointcloud_quick`` preset (128 → 32 centres, half-to-quarter widths).
PointNet (Qi et al. 2017a) is the second architecture, without its input/feature T-Nets.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.registry import MODELS

from .ops import group


def shared_mlp(cin: int, widths: Sequence[int], dims: int) -> nn.Sequential:
    conv, norm = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv1d, nn.BatchNorm1d)
    layers: list[nn.Module] = []
    for w in widths:
        layers += [conv(cin, w, 1, bias=False), norm(w), nn.ReLU(inplace=True)]
        cin = w
    return nn.Sequential(*layers)


class SetAbstraction(nn.Module):
    """One SA level: FPS centres, ball-query groups per (radius, k) scale, shared MLP, max-pool;
    several scales (MSG) are concatenated."""

    def __init__(self, npoint: int, radii: Sequence[float], ks: Sequence[int], cin: int,
                 mlps: Sequence[Sequence[int]]) -> None:
        super().__init__()
        if not len(radii) == len(ks) == len(mlps):
            raise ValueError("SetAbstraction needs one k and one MLP per radius")
        self.npoint, self.radii, self.ks = npoint, tuple(radii), tuple(ks)
        self.mlps = nn.ModuleList(shared_mlp(cin + 3, m, dims=2) for m in mlps)
        self.out_channels = sum(m[-1] for m in mlps)

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        outs, centres = [], None
        for radius, k, mlp in zip(self.radii, self.ks, self.mlps):
            centres, grouped = group(xyz, features, self.npoint, radius, k)
            outs.append(mlp(grouped).amax(dim=-1))                  # (B, C, npoint)
        return centres, torch.cat(outs, dim=1).transpose(1, 2)      # (B, npoint, C)


class GlobalAbstraction(nn.Module):
    """The last SA level: all points as one group, shared MLP on (xyz, features), max-pool."""

    def __init__(self, cin: int, widths: Sequence[int]) -> None:
        super().__init__()
        self.mlp = shared_mlp(cin + 3, widths, dims=1)
        self.out_channels = widths[-1]

    def forward(self, xyz: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        x = torch.cat([xyz, features], dim=-1).transpose(1, 2)      # (B, 3 + C, M)
        return self.mlp(x).amax(dim=-1)


def classifier_head(cin: int, widths: Sequence[int], num_classes: int,
                    dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(cin, w, bias=False), nn.BatchNorm1d(w), nn.ReLU(inplace=True),
                   nn.Dropout(dropout)]
        cin = w
    layers.append(nn.Linear(cin, num_classes))
    return nn.Sequential(*layers)


class PointNet2(nn.Module):
    def __init__(self, num_classes: int, levels: Sequence[dict], global_mlp: Sequence[int],
                 head: Sequence[int], dropout: float = 0.4) -> None:
        super().__init__()
        cin, sa = 0, []
        for level in levels:
            sa.append(SetAbstraction(level["npoint"], level["radii"], level["ks"], cin,
                                     level["mlps"]))
            cin = sa[-1].out_channels
        self.sa = nn.ModuleList(sa)
        self.global_sa = GlobalAbstraction(cin, global_mlp)
        self.head = classifier_head(global_mlp[-1], head, num_classes, dropout)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"expected clouds (B, N, 3), got {tuple(points.shape)}")
        xyz, features = points, None
        for level in self.sa:
            xyz, features = level(xyz, features)
        return self.head(self.global_sa(xyz, features))


class PointNet(nn.Module):
    """PointNet without T-Nets: shared MLP per point, max-pool, FC head."""

    def __init__(self, num_classes: int, widths: Sequence[int] = (64, 64, 64, 128, 1024),
                 head: Sequence[int] = (512, 256), dropout: float = 0.3) -> None:
        super().__init__()
        self.mlp = shared_mlp(3, widths, dims=1)
        self.head = classifier_head(widths[-1], head, num_classes, dropout)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"expected clouds (B, N, 3), got {tuple(points.shape)}")
        return self.head(self.mlp(points.transpose(1, 2)).amax(dim=-1))


def _ssg(npoint: int, radius: float, k: int, mlp: Sequence[int]) -> dict:
    return {"npoint": npoint, "radii": (radius,), "ks": (k,), "mlps": (tuple(mlp),)}


@MODELS.register("pointnet2_ssg", namespace="pointcloud", input_shape=(1024, 3))
def pointnet2_ssg(num_classes: int = 40) -> nn.Module:
    """PointNet++ SSG at the reference size (1.5 M parameters for 40 classes)."""
    return PointNet2(num_classes, [_ssg(512, 0.2, 32, (64, 64, 128)),
                                   _ssg(128, 0.4, 64, (128, 128, 256))],
                     global_mlp=(256, 512, 1024), head=(512, 256), dropout=0.4)


@MODELS.register("pointnet2_msg", namespace="pointcloud", input_shape=(1024, 3))
def pointnet2_msg(num_classes: int = 40) -> nn.Module:
    """PointNet++ MSG at the reference size."""
    return PointNet2(num_classes, [
        {"npoint": 512, "radii": (0.1, 0.2, 0.4), "ks": (16, 32, 128),
         "mlps": ((32, 32, 64), (64, 64, 128), (64, 96, 128))},
        {"npoint": 128, "radii": (0.2, 0.4, 0.8), "ks": (32, 64, 128),
         "mlps": ((64, 64, 128), (128, 128, 256), (128, 128, 256))}],
        global_mlp=(256, 512, 1024), head=(512, 256), dropout=0.4)


@MODELS.register("pointnet2_ssg_small", namespace="pointcloud", input_shape=(256, 3))
def pointnet2_ssg_small(num_classes: int = 10) -> nn.Module:
    """CPU-sized SSG: SA(128, r 0.2, k 16, 32-32-64) → SA(32, r 0.4, k 16, 64-64-128) →
    global 128-256 → FC 128 (dropout 0.4)."""
    return PointNet2(num_classes, [_ssg(128, 0.2, 16, (32, 32, 64)),
                                   _ssg(32, 0.4, 16, (64, 64, 128))],
                     global_mlp=(128, 256), head=(128,), dropout=0.4)


@MODELS.register("pointnet2_ssg_tiny", namespace="pointcloud", input_shape=(256, 3))
def pointnet2_ssg_tiny(num_classes: int = 10) -> nn.Module:
    """Seconds-sized SSG for tests and the smoke preset."""
    return PointNet2(num_classes, [_ssg(32, 0.3, 8, (16, 16)), _ssg(8, 0.6, 8, (32, 32))],
                     global_mlp=(32, 64), head=(32,), dropout=0.2)


@MODELS.register("pointnet", namespace="pointcloud", input_shape=(256, 3))
def pointnet(num_classes: int = 40) -> nn.Module:
    """PointNet (vanilla, no T-Nets) at the reference size: 64-64-64-128-1024, FC 512-256."""
    return PointNet(num_classes)


@MODELS.register("pointnet_small", namespace="pointcloud", input_shape=(256, 3))
def pointnet_small(num_classes: int = 10) -> nn.Module:
    """CPU-sized PointNet: 32-64-128-256, FC 128 (also the 3DPC-BA surrogate's default)."""
    return PointNet(num_classes, widths=(32, 64, 128, 256), head=(128,), dropout=0.3)
