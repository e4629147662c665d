import math

import pytest
import torch

from core.masks import inject_masks
from core.regularizer import mask_l1, resolve_eta_c
from core.schedules import SCHEDULES, MuSchedule, clamp_masks
from models import PreActNet, image_batch


def test_exponential_matches_official_formula():
    mu = MuSchedule()   # α 0.8, β 0.5
    assert mu(1, 10) == pytest.approx(0.8 * math.exp(-0.5))
    assert mu(4, 10) == pytest.approx(0.8 * math.exp(-2.0))


@pytest.mark.parametrize("kind", SCHEDULES)
def test_every_family_is_bounded_and_non_increasing(kind):
    bounds = MuSchedule(kind, alpha=0.7, beta=0.25).bounds(12)
    assert all(0.0 <= b <= 0.7 + 1e-12 for b in bounds)
    assert all(a >= b - 1e-12 for a, b in zip(bounds, bounds[1:]))
    if kind == "constant":
        assert bounds == [0.7] * 12
    else:
        assert bounds[-1] < bounds[0]


def test_bad_schedule_settings_are_errors():
    with pytest.raises(ValueError, match="unknown μ schedule"):
        MuSchedule("quadratic")
    with pytest.raises(ValueError):
        MuSchedule(alpha=1.5)
    with pytest.raises(ValueError):
        MuSchedule()(0, 5)


def test_clamp_respects_each_layers_bound():
    model = PreActNet()
    masked = inject_masks(model, image_batch())
    schedule = MuSchedule("exponential", 0.8, 0.5)
    with torch.no_grad():
        for layer in masked:
            layer.mask.copy_(torch.linspace(-1.0, 2.0, layer.num_units))
    clamp_masks(masked, schedule)
    for layer in masked:
        low = schedule(layer.depth, len(masked))
        assert layer.mask.min().item() == pytest.approx(low)
        assert layer.mask.max().item() == pytest.approx(1.0)


def test_regulariser_value_and_eta_c():
    model = PreActNet()
    masked = inject_masks(model, image_batch())
    with torch.no_grad():
        masked[0].mask.fill_(0.5)          # contributes 0.5 per unit
        masked[1].mask[0] = 0.25           # contributes 0.75
    expected = 0.5 * masked[0].num_units + 0.75
    assert mask_l1(masked).item() == pytest.approx(expected)
    assert resolve_eta_c(5.0) == pytest.approx(1e-3 / 5.0)        # η₀ / N_c
    assert resolve_eta_c(5.0, eta_c=5e-4) == 5e-4                  # paper Table 18 override
    with pytest.raises(ValueError):
        resolve_eta_c(0.0)
