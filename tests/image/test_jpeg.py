"""``data.jpeg_quality``: every image re-encoded once at load (tasks/image/jpeg.py)."""
from __future__ import annotations

import pytest
import torch

from tasks.image.adapter import ImageDataOptions, ImageTask
from tasks.image.jpeg import reencode_jpeg
from tests.image.test_datasets import make_cifar_pickles


def _smooth_images(n: int = 6, channels: int = 3) -> torch.Tensor:
    """Smooth gradients plus a little texture: JPEG keeps them well at high quality."""
    y, x = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    planes = [(x * 4 + y * 2 + 30 * c + 10 * k) % 200 + 20 for k in range(n) for c in range(channels)]
    return torch.stack(planes).view(n, channels, 32, 32).to(torch.uint8)


def test_reencode_keeps_shape_and_loses_more_at_lower_quality():
    images = _smooth_images()
    high, low = reencode_jpeg(images, 95), reencode_jpeg(images, 10)
    assert high.shape == images.shape and high.dtype == torch.uint8
    err = lambda a: (a.float() - images.float()).abs().mean().item()   # noqa: E731
    assert err(high) < err(low)
    assert err(high) < 6.0 and err(low) > err(high) + 1.0
    assert not torch.equal(low, images)


def test_reencode_grayscale_and_determinism():
    images = _smooth_images(channels=1)
    once = reencode_jpeg(images, 50)
    assert once.shape == images.shape and torch.equal(once, reencode_jpeg(images, 50))


@pytest.mark.parametrize("bad", [0, 101])
def test_quality_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="1..100"):
        reencode_jpeg(_smooth_images(), bad)
    with pytest.raises(ValueError, match="jpeg_quality must lie in 1..100"):
        ImageDataOptions(jpeg_quality=bad)


def test_reencode_refuses_float_images():
    with pytest.raises(ValueError, match="uint8"):
        reencode_jpeg(_smooth_images().float(), 75)


def test_adapter_reencodes_every_split_and_keeps_labels(tmp_path):
    make_cifar_pickles(tmp_path)
    plain = ImageTask().load_splits("cifar10", tmp_path, {"clean_per_class": 1}, seed=0)
    jpeg = ImageTask().load_splits("cifar10", tmp_path, {"clean_per_class": 1, "jpeg_quality": 30},
                                   seed=0)
    for a, b in ((plain.train, jpeg.train), (plain.test, jpeg.test), (plain.clean, jpeg.clean)):
        assert torch.equal(a.targets, b.targets) and a.inputs.shape == b.inputs.shape
        assert not torch.equal(a.inputs, b.inputs)
        expected = reencode_jpeg((a.inputs * 255).round().to(torch.uint8), 30).float() / 255
        assert torch.equal(b.inputs, expected)
