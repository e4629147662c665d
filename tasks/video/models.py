"""CNN+LSTM action recognisers: a torchvision ResNet applied to every frame, an LSTM over the
frames, a classifier on the last step (the paper's video model: ImageNet ResNet-50 per frame +
LSTM; docs/design.md §5b).

``cnn_lstm(num_classes, depth=…, widths=…, stem=…, hidden=…)`` builds the frame CNN from
torchvision's ``ResNet``/``BasicBlock``/``Bottleneck`` with any stage widths (torchvision's
constructor fixes them at 64-512, too wide for CPU presets), so the registered sizes run from a
tiny CPU model to the paper's ResNet-50 (``cnn_lstm_resnet50``, 2048-d features, GPU). Nothing
is downloaded: ``pretrained`` takes a path to local torchvision ResNet weights (safetensors or a
plain state_dict read with ``weights_only=True``), loaded into the frame CNN only.

On CUDA, gradients through the model in eval mode (I-BAU's and AWM's trigger search, the
attack's PGD) run the LSTM without cuDNN, whose RNN backward refuses eval mode.

Inputs: clips (N, T, 3, H, W), uint8 in 0..255 (how the datasets keep them: converted per batch
here) or float in [0, 1]; the ImageNet mean/std normalisation is part of the model.

What NFT masks in it (core/masks.py rules): every ResNet convolution except the first, through
the BatchNorm γ that follows it; the LSTM's input projection (``proj_in``, Linear → LayerNorm,
through the LayerNorm γ) and output projection (``proj_out``, Linear, through its weight rows).
Not masked: the first convolution (paper), the classifier (unless ``mask_classifier``) and the
``nn.LSTM`` itself, whose gate matrices are not Conv/Linear modules (a row of ``weight_ih`` is
one gate of one unit, not a neuron).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from core.registry import MODELS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BLOCKS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)),
          50: (Bottleneck, (3, 4, 6, 3)), 10: (BasicBlock, (1, 1, 1, 1))}


class FrameResNet(ResNet):
    """torchvision's ResNet with chosen stage widths and stem, returning pooled features."""

    def __init__(self, depth: int = 18, widths: tuple[int, ...] = (64, 128, 256, 512),
                 stem: Literal["imagenet", "small", "small_s2"] = "imagenet") -> None:
        if depth not in BLOCKS:
            raise ValueError(f"ResNet depth must be one of {sorted(BLOCKS)}, got {depth}")
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"need 4 positive stage widths, got {widths}")
        block, layers = BLOCKS[depth]
        super().__init__(block, list(layers))      # torchvision's init, then resized below
        self.inplanes = widths[0]
        if stem == "imagenet":     # 7×7/2 conv + 3×3/2 max-pool (torchvision)
            self.conv1 = nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False)
        elif stem in ("small", "small_s2"):   # 3×3 conv (stride 1 or 2), no pooling: 32-64 px
            stride = 2 if stem == "small_s2" else 1
            self.conv1 = nn.Conv2d(3, widths[0], 3, stride=stride, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            raise ValueError(f"stem must be 'imagenet', 'small' or 'small_s2', got {stem!r}")
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.fc = nn.Identity()
        self.out_features = widths[3] * block.expansion
        for m in self.modules():                  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class CNNLSTM(nn.Module):
    """Frame CNN → ``proj_in`` (Linear + LayerNorm + ReLU) → LSTM → ``proj_out`` (Linear +
    ReLU) on the last step → ``classifier``."""

    def __init__(self, num_classes: int, depth: int = 18,
                 widths: tuple[int, ...] = (64, 128, 256, 512),
                 stem: Literal["imagenet", "small", "small_s2"] = "imagenet", hidden: int = 512,
                 lstm_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.cnn = FrameResNet(depth, tuple(widths), stem)
        self.proj_in = nn.Linear(self.cnn.out_features, hidden)
        self.norm_in = nn.LayerNorm(hidden)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=lstm_layers, batch_first=True)
        self.proj_out = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def frames(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, T, 3, H, W) uint8 or [0, 1] float → normalised (N·T, 3, H, W) float."""
        if clips.dim() != 5 or clips.shape[2] != 3:
            raise ValueError(f"CNNLSTM takes clips (N, T, 3, H, W), got {tuple(clips.shape)}")
        x = clips.flatten(0, 1)
        x = x.float().div(255.0) if x.dtype == torch.uint8 else x.float()
        return (x - self.mean) / self.std

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        n, t = clips.shape[:2]
        f = self.cnn(self.frames(clips)).view(n, t, -1)
        h = torch.relu(self.norm_in(self.proj_in(f)))
        if h.is_cuda and not self.training and torch.is_grad_enabled():
            # cuDNN's RNN backward refuses eval mode ("cudnn RNN backward can only be called in
            # training mode"), which I-BAU/AWM/PGD need (gradients through a model in eval
            # mode): run the LSTM without cuDNN then; same maths, slower kernel
            with torch.backends.cudnn.flags(enabled=False):
                seq, _ = self.lstm(h)
        else:
            seq, _ = self.lstm(h)
        return self.dropout(torch.relu(self.proj_out(seq[:, -1])))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(clips))


def load_pretrained_cnn(model: CNNLSTM, path: str | Path) -> CNNLSTM:
    """Load local torchvision ResNet weights into the frame CNN (``fc.*`` ignored). Safetensors
    or a state_dict read with ``weights_only=True``; a size mismatch is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path} (no downloads are made)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = model.cnn.load_state_dict(state, strict=False)
    except RuntimeError as exc:   # shape mismatches
        raise ValueError(f"{path} does not fit the frame CNN: {str(exc)[:300]}") from None
    if unexpected or any(not k.startswith("fc.") for k in missing):
        raise ValueError(f"{path} does not fit the frame CNN: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return model


def _factory(depth: int, widths: tuple[int, ...], stem: str, hidden: int):
    def build(num_classes: int, pretrained: str | None = None, dropout: float = 0.0,
              **_: object) -> CNNLSTM:
        model = CNNLSTM(num_classes, depth, widths, stem, hidden, dropout=dropout)  # type: ignore[arg-type]
        return load_pretrained_cnn(model, pretrained) if pretrained else model
    return build


# tiny: tests / smoke; small: CPU presets (frames of 32-64 px, stride-2 stem); resnet18/50: GPU, paper = resnet50
MODELS.register("cnn_lstm_tiny", _factory(10, (8, 8, 16, 16), "small", 16), namespace="video",
                input_shape=(4, 3, 32, 32))
MODELS.register("cnn_lstm_small", _factory(10, (16, 32, 64, 128), "small_s2", 128),
                namespace="video", input_shape=(4, 3, 32, 32))
MODELS.register("cnn_lstm_resnet18", _factory(18, (64, 128, 256, 512), "imagenet", 512),
                namespace="video", input_shape=(4, 3, 32, 32))
MODELS.register("cnn_lstm_resnet50", _factory(50, (64, 128, 256, 512), "imagenet", 512),
                namespace="video", input_shape=(4, 3, 32, 32))
