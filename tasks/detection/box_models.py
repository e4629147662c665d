"""Detectors of the ``boxes`` kind: torchvision's FCOS built from config, no downloads.

Why FCOS with a compact backbone (measured 2026-12-01 on this machine, one torch thread, batch
32 of 64×64 images, one SGD step; other jobs running beside it): torchvision's
``fasterrcnn_mobilenet_v3_large_320_fpn`` (19.0 M parameters, resized to 128 px) trains at
~2 images/s, ``ssdlite320_mobilenet_v3_large`` (2.4 M, its fixed 320 px) at ~4 images/s and
FCOS on a ResNet-18 FPN (19.1 M, 128 px) at ~10 images/s: 4,000 images × 20 epochs would take
hours. torchvision's ``FCOS`` class (its head, anchor-point matching with centre sampling, sigmoid
focal + GIoU + centre-ness losses, NMS post-processing) on a 5-stage conv-BN-ReLU backbone with a
64-channel FPN (``fcos_tiny``, 0.71 M parameters) trains at ~240 images/s at the native 64 px: a
quick victim trains in minutes on one CPU thread. ``fcos_resnet18_fpn`` is the same detector on
torchvision's ResNet-18 for GPU users; ``fcos_micro`` is the tests' variant.

Levels: the FPN reads strides 4, 8 and 16 (+ torchvision's max-pool level, stride 32) with one
anchor point per location of size 4, 8, 16, 32 px, so FCOS's scale ranges ([0, 32), [32, 64),
…, measured on the largest ltrb distance) put the composed set's 10-28 px objects on stride 4-8.
The input transform keeps the image size (``min_size = max_size = image_size``) and applies the
ImageNet normalisation inside the model, so inputs are raw [0, 1] pixels.

``detector_loss`` is the training loss in *both* modes: torchvision detectors return losses
only in train mode, so it runs the same path as ``FCOS.forward`` in training (transform →
backbone → head → anchors → ``compute_loss``) without looking at ``model.training``; normalisation
layers follow the module's mode (running statistics in eval mode). Its value is the sum of
torchvision's loss dict (classification + bbox_regression + bbox_ctrness).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from core.registry import MODELS

NS = "detection_boxes"


def _register(name: str):
    def wrap(fn):
        return MODELS.register(name, fn, namespace=NS, input_shape=(3, 64, 64), outputs="detections")
    return wrap


def _cbr(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


def compact_backbone(widths: tuple[int, int, int, int, int]) -> nn.Sequential:
    """stem (stride 2) → s2 (4) → s3 (8) → s4 (16); two conv-BN-ReLU per stage."""
    w = widths
    return nn.Sequential(OrderedDict([
        ("stem", nn.Sequential(*_cbr(3, w[0], 2), *_cbr(w[0], w[1], 1))),
        ("s2", nn.Sequential(*_cbr(w[1], w[2], 2), *_cbr(w[2], w[2], 1))),
        ("s3", nn.Sequential(*_cbr(w[2], w[3], 2), *_cbr(w[3], w[3], 1))),
        ("s4", nn.Sequential(*_cbr(w[3], w[4], 2), *_cbr(w[4], w[4], 1)))]))


def fcos(body: nn.Module, return_layers: dict[str, str], in_channels: list[int],
         num_classes: int, image_size: int, fpn_channels: int, head_convs: int,
         sizes: tuple[int, ...] = (4, 8, 16, 32), score_thresh: float = 0.05,
         detections_per_img: int = 50) -> nn.Module:
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.fcos import FCOSHead

    backbone = BackboneWithFPN(body, return_layers, in_channels, fpn_channels)
    anchors = AnchorGenerator(tuple((s,) for s in sizes), ((1.0,),) * len(sizes))
    head = FCOSHead(fpn_channels, 1, num_classes, num_convs=head_convs)
    return FCOS(backbone, num_classes, min_size=image_size, max_size=image_size,
                anchor_generator=anchors, head=head, score_thresh=score_thresh,
                detections_per_img=detections_per_img, topk_candidates=200)


@_register("fcos_tiny")
def fcos_tiny(num_classes: int, image_size: int = 64, **_: object) -> nn.Module:
    """FCOS on a compact conv-BN-ReLU backbone (widths 24-32-48-96-128), 64-channel FPN, two
    head convs per branch: 0.71 M parameters, ~240 images/s of 64×64 training on one thread."""
    return fcos(compact_backbone((24, 32, 48, 96, 128)), {"s2": "0", "s3": "1", "s4": "2"},
                [48, 96, 128], num_classes, image_size, fpn_channels=64, head_convs=2)


@_register("fcos_micro")
def fcos_micro(num_classes: int, image_size: int = 64, **_: object) -> nn.Module:
    """The tests' detector: widths 8-8-16-16-32, 32-channel FPN, one head conv. Below 64 px its
    coarsest level is 1×1 and torchvision's head GroupNorm (one channel per group here) refuses
    a batch of a single image there: run it on batches of ≥ 2 images (or at ≥ 64 px)."""
    return fcos(compact_backbone((8, 8, 16, 16, 32)), {"s2": "0", "s3": "1", "s4": "2"},
                [16, 16, 32], num_classes, image_size, fpn_channels=32, head_convs=1)


@_register("fcos_resnet18_fpn")
def fcos_resnet18_fpn(num_classes: int, image_size: int = 64, **_: object) -> nn.Module:
    """torchvision ResNet-18 (weights=None) with a 128-channel FPN on layers 2-4 (strides
    8-32) and four head convs: GPU scale (~10 images/s on one CPU thread)."""
    import torchvision

    body = torchvision.models.resnet18(weights=None)
    layers = {"layer2": "0", "layer3": "1", "layer4": "2"}
    return fcos(body, layers, [128, 256, 512], num_classes, image_size, fpn_channels=128,
                head_convs=4, sizes=(8, 16, 32, 64))


# -- what the adapter calls -----------------------------------------------------------------------
def _as_list(inputs: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
    return list(inputs.unbind(0)) if isinstance(inputs, torch.Tensor) else list(inputs)


def detector_loss_dict(model: nn.Module, inputs: torch.Tensor,
                       targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """torchvision FCOS's training loss dict, in train and eval mode alike (module docstring)."""
    images, targets = model.transform(_as_list(inputs), [dict(t) for t in targets])
    features = list(model.backbone(images.tensors).values())
    head_outputs = model.head(features)
    anchors = model.anchor_generator(images, features)
    per_level = [f.size(2) * f.size(3) for f in features]
    return model.compute_loss(targets, head_outputs, anchors, per_level)


def detector_loss(model: nn.Module, inputs: torch.Tensor,
                  targets: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    return sum(detector_loss_dict(model, inputs, targets).values())


@torch.no_grad()
def detect(model: nn.Module, inputs: torch.Tensor, device: torch.device,
           batch_size: int = 256) -> list[dict[str, torch.Tensor]]:
    """Detections (boxes xyxy in input pixels, scores, labels) on CPU, model in eval mode."""
    was_training = model.training
    model.eval()
    out: list[dict[str, Any]] = []
    try:
        for start in range(0, inputs.shape[0], batch_size):
            batch = inputs[start:start + batch_size].to(device)
            out += [{k: v.detach().cpu() for k, v in d.items()} for d in model(_as_list(batch))]
    finally:
        model.train(was_training)
    return out


def head_layers(model: nn.Module) -> list[str]:
    """Every Conv/Linear of the detector's heads (class, box, centre-ness branches)."""
    head = getattr(model, "head", None)
    if head is None:
        raise ValueError(f"{type(model).__name__} has no 'head': not a torchvision one-stage "
                         f"detector")
    return [f"head.{name}" for name, m in head.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))]
