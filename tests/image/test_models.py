"""Every registered image model: shapes, gradients, mask injection / folding, sizes.

Kept fast for 2 CPU cores: gradients and masks on 2×3×32×32 batches; other input shapes with a
no-grad batch of one; structure and parameter counts on the ``meta`` device (no real weights).
"""
from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import tasks.image.models  # noqa: F401  (registers the models)
from core.masks import fold_masks, inject_masks
from core.registry import MODELS

#: every model that tasks/image/models registers (read from the registry: a new one is tested
#: here with no edit)
IMAGE_MODELS = sorted(name for namespace, name in MODELS.entries() if namespace is None
                      and MODELS.get(name).__module__.startswith("tasks.image.models"))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(name: str, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return MODELS.build(name, **kwargs)


def build_meta(name: str, **kwargs) -> nn.Module:
    """The model's structure without allocating or initialising weights."""
    with torch.device("meta"):
        return MODELS.build(name, **kwargs)


def close(a: torch.Tensor, b: torch.Tensor, tol: float) -> bool:
    """Max difference relative to the reference's scale (fresh models can emit tiny logits in
    eval mode: their BatchNorm running statistics are still the initial ones)."""
    return bool((a - b).abs().max() <= tol * b.abs().max())


def forward_backward(model: nn.Module, x: torch.Tensor, num_classes: int) -> None:
    model.train()
    out = model(x)
    assert out.shape == (x.shape[0], num_classes)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    target = torch.arange(x.shape[0]) % num_classes
    (nn.functional.cross_entropy(out, target) + out.pow(2).mean()).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]  # airbench
    missing = [n for n, p in trainable if p.grad is None]                  # freezes some
    assert not missing, f"parameters without gradient: {missing[:5]}"
    bad = [n for n, p in trainable if not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad[:5]}"
    zero = [n for n, p in trainable if p.grad.abs().sum() == 0]
    assert not zero, f"all-zero gradients: {zero[:5]}"


def test_every_model_is_registered_with_the_uniform_signature():
    for name in IMAGE_MODELS:
        assert name in MODELS, name
        params = inspect.signature(MODELS.get(name)).parameters
        assert [(p, params[p].default) for p in list(params)[:3]] == [
            ("num_classes", 10), ("in_channels", 3), ("image_size", 32)], name


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_forward_backward_32(name):
    model = build(name, num_classes=7)
    torch.manual_seed(1)
    forward_backward(model, torch.rand(2, 3, 32, 32), 7)


@pytest.mark.parametrize("name,in_channels,size", [
    ("small_cnn", 1, 32), ("small_cnn", 3, 64), ("preact_resnet18", 1, 32),
    ("preact_resnet18", 3, 64)])
def test_forward_backward_other_inputs(name, in_channels, size):
    model = build(name, num_classes=5, in_channels=in_channels, image_size=size)
    torch.manual_seed(1)
    forward_backward(model, torch.rand(2, in_channels, size, size), 5)


@pytest.mark.parametrize("name,in_channels,size", [
    ("resnet18", 1, 32), ("resnet34", 3, 64), ("vgg16", 1, 64), ("efficientnet_b0", 1, 64),
    ("vit_small", 1, 32), ("vit_small", 3, 64), ("resnet18", 1, 224)])
def test_eval_forward_other_inputs(name, in_channels, size):
    model = build(name, num_classes=3, in_channels=in_channels, image_size=size).eval()
    with torch.no_grad():
        out = model(torch.rand(1, in_channels, size, size))
        assert out.shape == (1, 3) and torch.isfinite(out).all()
        with pytest.raises(RuntimeError):  # the stem really takes `in_channels` channels
            model(torch.rand(1, in_channels + 1, size, size))


def test_vit_patch_size_follows_image_size():
    for size, patch in [(28, 4), (32, 4), (64, 8), (224, 16)]:
        model = build_meta("vit_small", image_size=size)
        assert model.patch_size == patch and model.conv_proj.kernel_size == (patch, patch)
        assert model.seq_length == (size // patch) ** 2 + 1
        assert (model.hidden_dim, len(model.encoder.layers), model.mlp_dim) == (384, 12, 1536)
        assert model.encoder.layers[0].self_attention.num_heads == 6
    with pytest.raises(ValueError, match="divisible"):
        build_meta("vit_small", image_size=100)


def test_resnet_stem_depends_on_image_size():
    for name in ["resnet18", "resnet50", "preact_resnet18"]:
        small = build_meta(name, image_size=64)
        assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
        assert isinstance(small.maxpool, nn.Identity)
        big = build_meta(name, image_size=224, in_channels=1)
        assert big.conv1.kernel_size == (7, 7) and big.conv1.stride == (2, 2)
        assert big.conv1.in_channels == 1 and isinstance(big.maxpool, nn.MaxPool2d)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "vgg16", "small_cnn"])
def test_batchnorm_after_every_conv(name):
    model = build_meta(name)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    bns = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == len(bns) > 0
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_masks_inject_and_fold(name):
    model = build(name)
    x = torch.rand(1, 3, 32, 32)  # masks are traced in eval mode: one image is enough
    keys = list(model.state_dict().keys())
    cls = type(model)
    model.eval()
    with torch.no_grad():
        before = model(x)
    masked = inject_masks(model, x)
    assert len(masked) >= 3
    assert not any("self_attention" in layer.name for layer in masked)
    with torch.no_grad():
        assert close(model(x), before, 1e-5)  # masks start at 1
        for layer in masked:
            layer.mask.uniform_(0.3, 1.0)
        after_masking = model(x)
    assert not close(after_masking, before, 1e-2)  # the masks are used
    folded = fold_masks(model)
    assert type(folded) is cls
    assert list(folded.state_dict().keys()) == keys
    with torch.no_grad():
        assert close(folded(x), after_masking, 1e-4)


def test_mask_routes():
    """Conv→BN pairs are masked through γ; residual sums and MLP layers through weight rows."""
    x = torch.rand(1, 3, 32, 32)
    routes = {layer.name: layer.via for layer in inject_masks(build("preact_resnet18"), x)}
    assert "conv1" not in routes  # first layer never masked
    assert routes["layer1.0.conv1"] == "norm"  # feeds bn2 directly
    assert routes["layer1.0.conv2"] == "weight"  # summed with the shortcut before the next BN
    assert routes["layer2.0.shortcut.0"] == "weight"
    assert "linear" not in routes and len(routes) == 19
    routes = {layer.name: layer.via for layer in inject_masks(build("small_cnn"), x)}
    assert routes == {"features.4": "norm", "features.8": "norm", "features.12": "norm"}
    routes = {layer.name: layer.via for layer in inject_masks(build("resnet18"), x)}
    assert set(routes.values()) == {"norm"} and len(routes) == 19 and "fc" not in routes
    routes = {layer.name: layer.via for layer in inject_masks(build("vit_small"), x)}
    assert len(routes) == 24 and set(routes.values()) == {"weight"}
    assert all(".mlp." in name for name in routes)


def test_parameter_counts():
    counts = {name: n_params(build_meta(name)) for name in IMAGE_MODELS}
    assert 80_000 <= counts["small_cnn"] <= 110_000
    assert counts["small_cnn"] == n_params(build_meta("small_cnn", image_size=64))
    assert counts["preact_resnet18"] == 11_172_170  # ≈ 11.2M, the official layout
    assert n_params(build_meta("preact_resnet18", num_classes=100)) == 11_172_170 + 90 * 513
    expected_millions = {"resnet18": 11.2, "resnet34": 21.3, "resnet50": 23.5, "vgg16": 15.0,
                         "efficientnet_b0": 4.0, "vit_small": 21.3}
    for name, millions in expected_millions.items():
        assert round(counts[name] / 1e6, 1) == millions, (name, counts[name])


def test_small_cnn_layout():
    model = build_meta("small_cnn")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == 4 and [c.out_channels for c in convs] == [b.num_features for b in bns]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 3
    assert isinstance(model.classifier, nn.Linear)


def test_preact_resnet18_official_state_dict_names():
    keys = list(build_meta("preact_resnet18").state_dict())
    for key in ["conv1.weight", "layer1.0.bn1.weight", "layer1.0.conv2.weight",
                "layer2.0.shortcut.0.weight", "layer4.1.bn2.running_var", "bn.weight",
                "linear.weight", "linear.bias"]:
        assert key in keys, key
    assert "layer1.0.shortcut.0.weight" not in keys  # identity shortcut in stage 1


def test_construction_is_deterministic_under_seed():
    a, b, c = build("small_cnn", seed=3), build("small_cnn", seed=3), build("small_cnn", seed=4)
    for (key, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), key
    assert not torch.equal(a.classifier.weight, c.classifier.weight)


def test_size_checks():
    with pytest.raises(ValueError):
        build_meta("vgg16", image_size=16)
    with pytest.raises(ValueError):
        build_meta("small_cnn", image_size=4)
    with pytest.raises(ValueError):
        build_meta("efficientnet_b0", image_size=16)


def test_torchvision_resnet18_is_torchvision_s_model_as_is():
    import torchvision

    from core.registry import MODELS

    ours = MODELS.get("torchvision_resnet18")(num_classes=10, image_size=32)
    ref = torchvision.models.resnet18(num_classes=10)
    assert type(ours) is type(ref)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    assert isinstance(ours.maxpool, torch.nn.MaxPool2d) and ours.conv1.kernel_size == (7, 7)
    assert ours.eval()(torch.rand(2, 3, 32, 32)).shape == (2, 10)
