"""The airbench-style training options of TrainConfig: Nesterov, normalisation-layer lr scale,
triangle schedule, label smoothing, lookahead (each off at its default)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.classification import ClassificationAdapter
from core.data import TensorData
from core.training import Lookahead, TrainConfig, build_optimizer, build_scheduler, fit


class Toy(ClassificationAdapter):
    name = "toy"

    def load_splits(self, *args, **kwargs):  # pragma: no cover - not used
        raise NotImplementedError


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def test_norm_lr_scale_puts_norm_parameters_in_their_own_group():
    model = _model()
    config = TrainConfig(lr=0.1, weight_decay=0.02, norm_lr_scale=64.0, nesterov=True)
    opt = build_optimizer(model.parameters(), config, model)
    assert len(opt.param_groups) == 2
    other, norm = opt.param_groups
    assert {id(p) for p in norm["params"]} == {id(p) for p in model[1].parameters()}
    assert norm["lr"] == pytest.approx(6.4) and norm["weight_decay"] == pytest.approx(0.02 / 64)
    assert other["lr"] == pytest.approx(0.1) and other["nesterov"] is True
    # lr·wd (the decay per step) is the same in both groups
    assert norm["lr"] * norm["weight_decay"] == pytest.approx(other["lr"] * other["weight_decay"])


def test_triangle_schedule_rises_to_the_peak_then_falls_to_the_end():
    param = nn.Parameter(torch.zeros(1))
    config = TrainConfig(lr=1.0, lr_schedule="triangle", triangle=(0.2, 1.0, 0.07),
                         triangle_peak=0.25)
    opt = build_optimizer([param], config)
    sched = build_scheduler(opt, config, 100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.2)
    assert max(lrs) == pytest.approx(1.0) and lrs.index(max(lrs)) == 25
    assert lrs[-1] == pytest.approx(0.07 + (1.0 - 0.07) / 75, rel=1e-6)
    assert all(a <= b for a, b in zip(lrs[:25], lrs[1:26]))
    assert all(a >= b for a, b in zip(lrs[25:], lrs[26:]))


def test_smooth_targets_matches_torch_label_smoothing():
    adapter = Toy()
    adapter.num_classes = 3
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 1, 2, 1, 0])
    soft = adapter.smooth_targets(labels, 0.2)
    ours = -(soft * F.log_softmax(logits, -1)).sum(-1).mean()
    assert ours == pytest.approx(F.cross_entropy(logits, labels, label_smoothing=0.2).item())


def test_lookahead_pulls_weights_to_the_slow_copy_and_finishes_on_it():
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    look = Lookahead(model, TrainConfig(lookahead_every=2, lookahead_decay=0.5), total_steps=4)
    with torch.no_grad():
        model.weight.fill_(3.0)
    look.step(0)                                   # not a pull step
    assert model.weight.flatten().tolist() == [3.0, 3.0]
    look.step(1)                                   # decay 0.5·(2/4)^3 = 1/16
    expected = 1.0 + (3.0 - 1.0) * (1 - 1 / 16)
    assert model.weight.flatten().tolist() == pytest.approx([expected] * 2)
    with torch.no_grad():
        model.weight.fill_(10.0)
    look.finish()                                  # decay 1: the model takes the slow copy
    assert model.weight.flatten().tolist() == pytest.approx([expected] * 2)


def test_the_recipe_trains_deterministically_under_a_seed():
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    data = TensorData(x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long())
    config = TrainConfig(epochs=3, batch_size=64, lr=0.5, momentum=0.85, nesterov=True,
                         weight_decay=1e-3, norm_lr_scale=8.0, lr_schedule="triangle",
                         label_smoothing=0.2, lookahead_every=2, progress=False)
    adapter = Toy()
    adapter.num_classes = 3
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = _model()
        info = fit(model, adapter, data, config, "cpu", seed=3)
        runs.append((info["loss_curve"], [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert runs[0][0][-1] < runs[0][0][0]


def test_bad_recipe_options_are_refused():
    with pytest.raises(ValueError, match="nesterov"):
        TrainConfig(nesterov=True, optimizer="adam")
    with pytest.raises(ValueError, match="label_smoothing"):
        TrainConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match="triangle"):
        TrainConfig(triangle_peak=1.0)


def test_cpu_bf16_trains_in_autocast_and_hands_back_a_contiguous_model():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 8, 8)
    data = TensorData(x, (x.mean((1, 2, 3)) > 0.5).long())
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    seen = []
    model[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    adapter = Toy()
    adapter.num_classes = 3
    fit(model, adapter, data, TrainConfig(epochs=1, batch_size=32, cpu_bf16=True,
                                          progress=False), "cpu")
    assert seen and all(d == torch.bfloat16 for d in seen)
    assert all(p.is_contiguous() for p in model.parameters())
    seen.clear()
    fit(model, adapter, data, TrainConfig(epochs=1, batch_size=32, progress=False), "cpu")
    assert seen and all(d == torch.float32 for d in seen)
