"""The airbench-style victim's pieces: whitening init, frozen parameters, Dirac init, the
translate range of its augmentation, and the adapter calling the whitening init."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.registry import AUGMENTATIONS, MODELS
from core.data import TensorData
from core.adapter import Splits
from tasks.image.adapter import ImageTask
from tasks.image.models.airbench import Airbench


def _images(n: int = 400) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    base = torch.rand(n, 1, 32, 32, generator=g)
    # correlated channels and neighbouring pixels, as in natural images
    x = torch.cat([base, 0.7 * base + 0.3 * torch.rand(n, 1, 32, 32, generator=g),
                   torch.rand(n, 1, 32, 32, generator=g)], dim=1)
    return (x + torch.roll(x, 1, dims=3)) / 2


def test_whitening_filters_decorrelate_the_patches():
    model = Airbench(widths=(8, 16, 16))
    images = _images()
    model.init_whitening(images, eps=1e-6)
    w = model.whiten.weight
    assert w.shape == (24, 3, 2, 2)
    assert torch.equal(w[12:], -w[:12])                        # each filter and its negation
    out = nn.functional.conv2d(images, w[:12])                  # (N, 12, 31, 31), no bias
    feats = out.permute(0, 2, 3, 1).reshape(-1, 12)
    cov = torch.cov(feats.T)
    assert torch.allclose(cov, torch.eye(12), atol=2e-2)


def test_frozen_parameters_and_dirac_init():
    model = Airbench(widths=(8, 16, 16))
    assert not model.whiten.weight.requires_grad and model.whiten.bias.requires_grad
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 6 and all(not m.weight.requires_grad and m.bias.requires_grad
                                   for m in norms)
    assert norms[0].momentum == pytest.approx(0.4) and norms[0].eps == 1e-12
    conv = model.layer2.conv1                                   # 8 -> 16 channels
    x = torch.randn(1, 8, 5, 5)
    assert torch.allclose(nn.functional.conv2d(x, conv.weight[:8], padding=1), x)


def test_registered_sizes_and_bad_input():
    assert sum(p.numel() for p in MODELS.get("airbench_cpu")().parameters()) == 498_104
    assert sum(p.numel() for p in MODELS.get("airbench")().parameters()) == 1_972_792
    assert sum(p.numel() for p in MODELS.get("airbench95")().parameters()) == 4_606_520
    assert MODELS.get("airbench_cpu")()(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="32×32"):
        MODELS.get("airbench")(image_size=64)
    with pytest.raises(ValueError, match="init_whitening"):
        Airbench().init_whitening(torch.rand(2, 1, 32, 32))


def test_translate_2_moves_images_by_at_most_2_pixels():
    task = ImageTask()
    aug = AUGMENTATIONS.get("crop_flip", namespace="image")(task, padding=2, flip=False)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    out, _ = aug(x, torch.zeros(64, dtype=torch.long), torch.Generator().manual_seed(1))
    ys, xs = torch.nonzero(out[:, 0] == 1.0, as_tuple=True)[1:]
    assert len(ys) == 64
    assert (ys - 8).abs().max() <= 2 and (xs - 8).abs().max() <= 2
    assert len(set(zip(ys.tolist(), xs.tolist()))) > 10        # the offsets do vary


def test_the_adapter_whitens_from_the_training_images():
    task = ImageTask()
    images = _images(64)
    data = TensorData(images, torch.arange(64) % 10)
    splits = Splits(train=data, test=data, clean=data, num_classes=10)
    torch.manual_seed(0)
    model = task.build_model("airbench_cpu", splits)
    reference = Airbench(widths=(32, 128, 128))
    reference.init_whitening(images)
    assert torch.allclose(model.whiten.weight, reference.whiten.weight)
