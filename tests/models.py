"""Small models covering the architectures the mask engine must handle."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def cnn_bn(num_classes: int = 5) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))


def mlp(num_classes: int = 5) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.ReLU(),
                         nn.Linear(32, 32), nn.LayerNorm(32), nn.ReLU(),
                         nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, num_classes))


class PreActBlock(nn.Module):
    """Pre-activation residual block: the BN before conv1 sees the block input, not a conv."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out += shortcut          # in place, as many real ResNets write it
        return out


class PreActNet(nn.Module):
    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.block1 = PreActBlock(8, 16, 2)
        self.block2 = PreActBlock(16, 16, 1)
        self.bn = nn.BatchNorm2d(16)
        self.linear = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block2(self.block1(self.conv1(x)))
        out = F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)
        return self.linear(out)


class PointNetTiny(nn.Module):
    """PointNet-style: shared Conv1d + BatchNorm1d per point, max-pool, MLP head."""

    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(3, 16, 1), nn.BatchNorm1d(16), nn.ReLU(),
                                      nn.Conv1d(16, 32, 1), nn.BatchNorm1d(32), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(32, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                  nn.Linear(16, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (N, 3, points)
        return self.head(self.features(x).max(dim=-1).values)


class Conv3dNet(nn.Module):
    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(),
                                  nn.Conv3d(4, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class TinySeq2Seq(nn.Module):
    """A transformer encoder–decoder over token ids (post-norm, with dropout)."""

    def __init__(self, vocab: int = 20, d: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.transformer = nn.Transformer(d_model=d, nhead=2, num_encoder_layers=2,
                                          num_decoder_layers=2, dim_feedforward=32,
                                          dropout=0.1, batch_first=True)
        self.out = nn.Linear(d, vocab)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return self.out(self.transformer(self.embed(src), self.embed(tgt)))


def image_batch(n: int = 6, size: int = 8) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(0))


CASES = {
    "cnn_bn": (cnn_bn, lambda: image_batch()),
    "mlp": (mlp, lambda: image_batch()),
    "preact": (PreActNet, lambda: image_batch()),
    "pointnet": (PointNetTiny, lambda: torch.randn(6, 3, 32, generator=torch.Generator().manual_seed(0))),
    "conv3d": (Conv3dNet, lambda: torch.randn(4, 3, 4, 6, 6, generator=torch.Generator().manual_seed(0))),
    "seq2seq": (TinySeq2Seq, lambda: (torch.randint(0, 20, (4, 7), generator=torch.Generator().manual_seed(0)),
                                      torch.randint(0, 20, (4, 5), generator=torch.Generator().manual_seed(1)))),
}


def call(model: nn.Module, batch):
    return model(*batch) if isinstance(batch, tuple) else model(batch)
