import copy

import pytest
import torch
from torch import nn

from core.masks import NoMaskableLayerError, fold_masks, inject_masks, trace_layers
from models import CASES, PreActNet, TinySeq2Seq, call, cnn_bn, image_batch, mlp


def _prepared(name: str):
    torch.manual_seed(0)
    factory, batch_fn = CASES[name]
    model = factory()
    batch = batch_fn()
    # non-trivial BN statistics so that eval mode differs from train mode
    model.train()
    with torch.no_grad():
        call(model, batch)
    return model, batch


def _randomise(masked) -> None:
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for layer in masked:
            layer.mask.copy_(torch.rand(layer.mask.shape, generator=gen) * 0.9 + 0.05)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_all_ones_masks_leave_outputs_unchanged(name, mode):
    model, batch = _prepared(name)
    reference = copy.deepcopy(model)
    masked = inject_masks(model, batch)
    assert masked, "something must be masked"
    for m in (model, reference):
        m.train(mode == "train")
    torch.manual_seed(1)
    want = call(reference, batch)
    torch.manual_seed(1)
    got = call(model, batch)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("mask_bias", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_folded_equals_masked_same_class_and_keys(name, mask_bias):
    model, batch = _prepared(name)
    keys = list(model.state_dict().keys())
    classes = {n: type(m) for n, m in model.named_modules()}
    masked = inject_masks(model, batch, mask_bias=mask_bias)
    _randomise(masked)
    model.eval()
    masked_out = call(model, batch)
    fold_masks(model)
    assert list(model.state_dict().keys()) == keys
    assert {n: type(m) for n, m in model.named_modules()} == classes
    torch.testing.assert_close(call(model, batch), masked_out, rtol=0, atol=1e-5)
    # a fresh, unmasked copy loads the folded weights
    fresh = CASES[name][0]()
    fresh.load_state_dict(model.state_dict())


@pytest.mark.parametrize("name", list(CASES))
def test_gradients_reach_exactly_the_masks(name):
    model, batch = _prepared(name)
    for p in model.parameters():
        p.requires_grad_(False)
    masked = inject_masks(model, batch)
    model.train()
    out = call(model, batch)
    # a loss that depends on every output unit, with non-uniform weights
    weights = torch.linspace(0.5, 1.5, out.shape[-1])
    (out.tanh() * weights).sum().backward()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(trainable) == sorted(n for n, _ in model.named_parameters() if n.endswith(".mask"))
    assert len(trainable) == len(masked)
    for layer in masked:
        assert layer.mask.grad is not None, layer.name
        assert layer.mask.grad.abs().sum() > 0, f"{layer.name} ({layer.via}) has a zero gradient"


def test_conv_followed_by_batchnorm_is_masked_through_gamma():
    model, batch = _prepared("cnn_bn")
    masked = inject_masks(model, batch)
    by_name = {m.name: m for m in masked}
    assert "0" not in by_name                      # first maskable layer: never masked
    assert by_name["3"].via == "norm" and by_name["3"].target == "4"
    assert by_name["6"].via == "norm" and by_name["6"].target == "7"   # GroupNorm γ
    assert "11" not in by_name                     # classifier: not masked by default
    assert [m.depth for m in masked] == [1, 2]


def test_weight_rows_masked_where_no_norm_follows():
    model, batch = _prepared("mlp")
    masked = {m.name: m for m in inject_masks(model, batch, mask_classifier=True)}
    assert masked["3"].via == "norm" and masked["3"].target == "4"      # Linear → LayerNorm
    assert masked["6"].via == "weight"                                  # Linear → ReLU
    assert masked["8"].via == "weight"                                  # classifier, asked for


def test_preact_pairs_by_data_flow_not_module_order():
    model, batch = _prepared("preact")
    traced = trace_layers(model, batch)
    assert traced.followed_by["conv1"] == "block1.bn1"
    assert traced.followed_by["block1.conv1"] == "block1.bn2"
    assert "block1.conv2" not in traced.followed_by      # its output meets the shortcut first
    assert "block1.shortcut" not in traced.followed_by
    masked = {m.name: m for m in inject_masks(model, batch)}
    assert masked["block1.conv2"].via == "weight"
    assert masked["block1.conv1"].target == "block1.bn2"


def test_transformer_masks_feed_forward_not_fused_attention():
    model, batch = _prepared("seq2seq")
    masked = inject_masks(model, batch)
    names = [m.name for m in masked]
    assert any(n.endswith("linear1") for n in names) and any(n.endswith("linear2") for n in names)
    assert not any("self_attn" in n or "multihead_attn" in n for n in names)
    assert sum("decoder" in n for n in names) >= 2


def test_mask_bias_scales_bias_too():
    model, batch = _prepared("mlp")
    masked = inject_masks(model, batch, mask_bias=True, mask_classifier=True)
    layer = next(m for m in masked if m.via == "weight")
    module = dict(model.named_modules())[layer.target]
    raw_bias = module.parametrizations.bias.original.detach().clone()
    with torch.no_grad():
        layer.mask.fill_(0.5)
    torch.testing.assert_close(module.bias, raw_bias * 0.5)


def test_exclude_patterns():
    model, batch = _prepared("preact")
    masked = inject_masks(model, batch, exclude=("block2.*",))
    assert not any(m.name.startswith("block2.") for m in masked)


def test_no_maskable_layer_is_a_clear_error():
    with pytest.raises(NoMaskableLayerError, match="no maskable layer"):
        inject_masks(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5)), image_batch())
    with pytest.raises(NoMaskableLayerError):
        inject_masks(nn.Sequential(nn.ReLU()), image_batch())


def test_inject_leaves_mode_and_outputs_of_a_copy_alone():
    model = cnn_bn()
    model.train()
    inject_masks(model, image_batch())
    assert model.training


def test_a_pool_between_conv_and_norm_is_transparent_and_the_mask_learns():
    from core.masks import select_layers

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 6, 3, padding=1), nn.MaxPool2d(2), nn.BatchNorm2d(6),
                          nn.GELU(), nn.Conv2d(6, 6, 3), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(6, 2))
    x = torch.rand(4, 3, 8, 8)
    chosen = select_layers(model, x)
    assert chosen[0] == ("3", "5", "norm")          # conv -> maxpool -> BN: the BN's γ
    assert chosen[1] == ("7", "7", "weight")        # conv -> avgpool -> no norm: weight rows
    masked = inject_masks(model, x)
    model.train()
    model(x).sum().backward()
    assert masked[0].mask.grad is not None and masked[0].mask.grad.abs().sum() > 0
