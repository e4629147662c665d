"""NFT's flat mask vector: same layers as inject_masks, output scaling = weight-row masking."""
import copy

import pytest
import torch
from torch import nn

from core.flat_masks import inject_flat_masks
from core.masks import fold_masks, inject_masks
from core.schedules import MuSchedule
from models import CASES, PreActNet, call, image_batch


class ConvBiasNet(nn.Module):
    """Convs with biases and no norm: weight-row masks with a bias that must stay unscaled."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(6, 6, 3, padding=1)
        self.c = nn.Conv2d(6, 6, 3, padding=1)
        self.head = nn.Linear(6, 4)

    def forward(self, x):
        x = torch.relu(self.a(x))
        x = torch.relu(self.b(x)) + x
        return self.head(torch.relu(self.c(x)).mean((2, 3)))


def _randomise(vector, masked_layers, seed=0):
    with torch.no_grad():
        vector.copy_(torch.rand(vector.shape, generator=torch.Generator().manual_seed(seed)))
        start = 0
        for layer in masked_layers:
            layer.mask.copy_(vector[start:start + layer.num_units])
            start += layer.num_units


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_layers_as_inject_masks(name):
    factory, batch = CASES[name]
    model, x = factory(), batch()
    per_layer = inject_masks(copy.deepcopy(model), x)
    flat = inject_flat_masks(copy.deepcopy(model), x)
    assert [(m.name, m.depth, m.num_units) for m in per_layer] == \
        [(m.name, m.depth, m.num_units) for m in flat.layers]
    assert flat.vector.numel() == sum(m.num_units for m in per_layer)
    assert {m.via for m in flat.layers} <= {"norm", "weight", "output"}


@pytest.mark.parametrize("mask_bias", [False, True])
@pytest.mark.parametrize("factory", [PreActNet, ConvBiasNet])
def test_output_scaling_equals_weight_rows_and_folds_to_the_same_function(factory, mask_bias):
    torch.manual_seed(0)
    model, x = factory().eval(), image_batch()
    reference, flat_model = copy.deepcopy(model), copy.deepcopy(model)
    per_layer = inject_masks(reference, x, mask_bias=mask_bias)
    flat = inject_flat_masks(flat_model, x, mask_bias=mask_bias)
    assert "output" in {m.via for m in flat.layers}      # some conv is scaled at its output
    _randomise(flat.vector, per_layer)
    torch.testing.assert_close(flat_model(x), reference(x), rtol=1e-5, atol=1e-5)
    # mask gradients agree (the output route needs no weight gradient)
    grads = []
    for net, params in ((reference, [m.mask for m in per_layer]), (flat_model, [flat.vector])):
        out = net(x).square().sum()
        grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(out, params)]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-5)
    expected = fold_masks(reference)(x)
    flat.fold(flat_model)
    assert not flat_model._forward_hooks and all(not m._forward_hooks
                                                 for m in flat_model.modules())
    assert list(flat_model.state_dict()) == list(model.state_dict())
    assert type(flat_model) is type(model)
    torch.testing.assert_close(flat_model(x), expected, rtol=1e-5, atol=1e-5)


def test_one_clamp_uses_each_layers_bound_and_one_l1():
    factory, batch = CASES["cnn_bn"]
    flat = inject_flat_masks(factory(), batch())
    schedule = MuSchedule("exponential", 0.8, 0.5)
    lower = flat.lower_bounds(schedule)
    with torch.no_grad():
        flat.vector.fill_(-1.0)
    flat.clamp_(lower)
    for layer in flat.layers:
        assert torch.allclose(layer.mask, torch.full_like(layer.mask,
                                                          schedule(layer.depth, len(flat.layers))))
    with torch.no_grad():
        flat.vector.fill_(2.0)
    flat.clamp_(lower)
    assert torch.equal(flat.vector.detach(), torch.ones_like(flat.vector))
    with torch.no_grad():
        flat.vector.fill_(0.5)
    assert flat.l1().item() == pytest.approx(0.5 * flat.vector.numel())
    assert set(flat.values()) == {m.name for m in flat.layers}


def test_model_takes_its_inputs_after_injection():
    for name, (factory, batch) in CASES.items():
        model, x = factory(), batch()
        inject_flat_masks(model, x)
        assert call(model, x) is not None, name
