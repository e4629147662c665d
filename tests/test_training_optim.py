"""core.training: the optimizer choice (SGD / Adam / AdamW), gradient clipping and lr warmup."""
import math
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.adapter import TaskAdapter
from core.config import ConfigError, from_dict
from core.data import TensorData
from core.loop import batch_indices
from core.registry import DEFENSES
from core.seeding import make_generator, seed_everything
from core.training import TrainConfig, build_optimizer, build_scheduler, fit

CPU = torch.device("cpu")


class Toy(TaskAdapter):
    """Cross-entropy classification of plain feature vectors (no augmentation)."""

    name = "toy_optim"

    def load_splits(self, *args, **kwargs):
        raise NotImplementedError

    def loss(self, model, inputs, targets):
        return F.cross_entropy(model(inputs), targets)

    def sample_losses(self, model, inputs, targets):
        return F.cross_entropy(model(inputs), targets, reduction="none")

    def evaluate(self, *args, **kwargs):
        return {}


class LinearLoss(Toy):
    """loss = scale · mean(model(x)): its gradient does not depend on the parameters."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def loss(self, model, inputs, targets):
        return self.scale * model(inputs).mean()


def problem(n: int = 200) -> TensorData:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    return TensorData(x, y)


def mlp(dropout: float = 0.2) -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))


def flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def old_fit(model, adapter, data, config, seed, parameters=None):
    """``fit`` as it was before the optimizer / grad_clip / warmup options (SGD only), on CPU."""
    augmentation = adapter.train_augmentation()
    generator = make_generator(seed)
    steps = batch_indices(len(data), config.batch_size, config.epochs, None, generator)
    params = parameters if parameters is not None else [p for p in model.parameters()
                                                         if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=False)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(steps))
                 if config.lr_schedule == "cosine" else None)
    losses = torch.zeros(len(steps))
    model.train()
    with torch.random.fork_rng(devices=[]):
        seed_everything(seed)
        for step, index in enumerate(steps):
            inputs, targets = augmentation(data.inputs[index], data.targets[index], generator)
            loss = adapter.loss(model, inputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses[step] = loss.detach()
    model.eval()
    return losses.tolist()


# -- defaults: SGD, bit for bit as before --------------------------------------------------------
def test_defaults_are_sgd_without_clipping_or_warmup():
    config = TrainConfig()
    assert (config.optimizer, config.grad_clip, config.warmup_steps) == ("sgd", 0.0, 0)
    optimizer = build_optimizer([nn.Parameter(torch.zeros(2))], config)
    assert type(optimizer) is torch.optim.SGD
    group = optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]) == \
        (0.05, 0.9, 5e-4, False)


@pytest.mark.parametrize("options, subset", [
    ({"epochs": 3, "batch_size": 32, "lr": 0.1}, False),
    ({"epochs": 2, "batch_size": 50, "lr": 0.05, "lr_schedule": "constant",
      "weight_decay": 0.0}, False),
    ({"epochs": 2, "batch_size": 40}, True)])
def test_default_sgd_is_bit_identical_to_the_old_fit(options, subset):
    config = TrainConfig(progress=False, **options)
    reference, model = mlp(), mlp()
    ref_params = [reference[3].weight, reference[3].bias] if subset else None
    params = [model[3].weight, model[3].bias] if subset else None
    expected = old_fit(reference, Toy(), problem(), config, 5, ref_params)
    info = fit(model, Toy(), problem(), config, CPU, seed=5, parameters=params)
    assert info["loss_curve"] == expected                    # exact floats, not approximately
    assert torch.equal(flat(model), flat(reference))


def test_the_old_fit_reference_still_matches_a_recorded_curve():
    """Guards ``old_fit`` itself: the last loss as the pre-change ``fit`` recorded it
    (2026-11-21, torch 2.11, CPU); approximately, since other builds may round differently."""
    config = TrainConfig(epochs=3, batch_size=32, lr=0.1, progress=False)
    curve = old_fit(mlp(), Toy(), problem(), config, 5)
    assert len(curve) == 18
    assert curve[-1] == pytest.approx(0.5713133215904236, rel=1e-4)


# -- the optimizers ------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.1), ("adam", 0.01), ("adamw", 0.01)])
def test_every_optimizer_lowers_the_loss(optimizer, lr):
    model = mlp(dropout=0.0)
    config = TrainConfig(epochs=15, batch_size=50, lr=lr, optimizer=optimizer, progress=False)
    data = problem()
    with torch.no_grad():
        before = float(Toy().loss(model, data.inputs, data.targets))
    info = fit(model, Toy(), data, config, CPU, seed=0)
    with torch.no_grad():
        after = float(Toy().loss(model, data.inputs, data.targets))
    assert info["steps"] == 60 and after < 0.6 * before, (before, after)


def test_adam_and_adamw_differ_only_through_weight_decay():
    data = problem()
    runs = {}
    for name, wd in [("adam", 0.0), ("adamw", 0.0), ("adam", 0.1), ("adamw", 0.1)]:
        model = mlp()
        fit(model, Toy(), data, TrainConfig(epochs=2, batch_size=50, lr=0.01, optimizer=name,
                                            weight_decay=wd, progress=False), CPU, seed=0)
        runs[name, wd] = flat(model)
    torch.testing.assert_close(runs["adam", 0.0], runs["adamw", 0.0])
    assert not torch.allclose(runs["adam", 0.1], runs["adamw", 0.1])


# -- gradient clipping ---------------------------------------------------------------------------
def one_step_change(config: TrainConfig, adapter: TaskAdapter) -> float:
    """Norm of the parameter change of one full-batch step of a linear model."""
    torch.manual_seed(0)
    model = nn.Linear(6, 1)
    before = flat(model)
    fit(model, adapter, problem(64), config, CPU, seed=0)
    return float((flat(model) - before).norm())


def test_grad_clip_bounds_the_update():
    base = dict(epochs=1, batch_size=64, lr=0.1, momentum=0.0, weight_decay=0.0,
                lr_schedule="constant", progress=False)
    huge = LinearLoss(scale=1e6)
    unclipped = one_step_change(TrainConfig(**base), huge)
    clipped = one_step_change(TrainConfig(grad_clip=1.0, **base), huge)
    assert unclipped > 1e4
    assert clipped == pytest.approx(0.1 * 1.0, rel=1e-4)      # lr × max norm
    # a gradient already below the bound is left alone
    small = LinearLoss(scale=1e-3)
    assert one_step_change(TrainConfig(grad_clip=1.0, **base), small) == \
        one_step_change(TrainConfig(**base), small)


# -- warmup --------------------------------------------------------------------------------------
def test_warmup_makes_the_first_step_small():
    base = dict(epochs=1, batch_size=64, lr=0.1, momentum=0.0, weight_decay=0.0,
                lr_schedule="constant", progress=False)
    plain = one_step_change(TrainConfig(**base), LinearLoss())
    warm = one_step_change(TrainConfig(warmup_steps=10, **base), LinearLoss())
    assert warm == pytest.approx(plain / 10, rel=1e-5)


def lr_trace(config: TrainConfig, total: int) -> list[float]:
    optimizer = build_optimizer([nn.Parameter(torch.zeros(1))], config)
    scheduler = build_scheduler(optimizer, config, total)
    trace = []
    for _ in range(total):
        trace.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return trace


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_warmup_is_linear_then_follows_the_schedule(optimizer):
    cosine = lr_trace(TrainConfig(lr=1.0, warmup_steps=4, optimizer=optimizer), 14)
    assert cosine[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    decay = [0.5 * (1 + math.cos(math.pi * k / 10)) for k in range(10)]
    assert cosine[4:] == pytest.approx(decay)
    constant = lr_trace(TrainConfig(lr=1.0, warmup_steps=4, lr_schedule="constant",
                                    optimizer=optimizer), 8)
    assert constant == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0])
    # longer than the run: it just stops while still warming up
    assert lr_trace(TrainConfig(lr=1.0, warmup_steps=10), 3) == pytest.approx([0.1, 0.2, 0.3])


def test_without_warmup_the_schedule_is_the_old_one():
    cosine = lr_trace(TrainConfig(lr=1.0), 10)
    assert cosine == pytest.approx([0.5 * (1 + math.cos(math.pi * k / 10)) for k in range(10)])
    assert lr_trace(TrainConfig(lr=1.0, lr_schedule="constant"), 3) == [1.0, 1.0, 1.0]


# -- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"optimizer": "lamb"}, "unknown optimizer 'lamb'"),
    ({"lr_schedule": "step"}, "unknown lr_schedule"),
    ({"grad_clip": -1.0}, "grad_clip must be ≥ 0"),
    ({"grad_clip": float("nan")}, "grad_clip must be ≥ 0"),
    ({"warmup_steps": -5}, "warmup_steps must be ≥ 0"),
    ({"momentum": -0.1}, "momentum must be ≥ 0"),
    ({"weight_decay": -1e-4}, "weight_decay must be ≥ 0"),
    ({"lr": 0.0}, "lr > 0")])
def test_bad_values_raise(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


def test_configs_from_dicts_check_names_and_values():
    config = from_dict(TrainConfig, {"optimizer": "adamw", "grad_clip": "1.0", "warmup_steps": 20})
    assert (config.optimizer, config.grad_clip, config.warmup_steps) == ("adamw", 1.0, 20)
    with pytest.raises(ConfigError, match="unknown option 'optimiser'.*'optimizer'"):
        from_dict(TrainConfig, {"optimiser": "adam"})
    with pytest.raises(ConfigError, match="not one of"):
        from_dict(TrainConfig, {"optimizer": "lamb"})
    with pytest.raises(ConfigError, match="integer"):
        from_dict(TrainConfig, {"warmup_steps": 2.5})


def test_the_backdoored_model_cache_key_ignores_the_new_options_at_their_defaults():
    from benchmarks.runner.matrix import train_cache_key

    old_keys = {"epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_schedule", "amp",
                "channels_last", "progress"}
    assert set(train_cache_key(TrainConfig(progress=False))) == old_keys
    changed = train_cache_key(TrainConfig(optimizer="adam", warmup_steps=3, grad_clip=1.0))
    assert set(changed) == old_keys | {"optimizer", "grad_clip", "warmup_steps"}


# -- the training-time defenses follow the TrainConfig -------------------------------------------
def test_cbd_and_abl_train_with_the_configured_optimizer(monkeypatch):
    import core.defenses  # noqa: F401  (registers the defenses)
    import core.defenses.cbd as cbd
    import core.training as training

    built = []

    def spy(params, config, model=None):
        optimizer = build_optimizer(params, config, model)
        built.append(type(optimizer).__name__)
        return optimizer

    monkeypatch.setattr(cbd, "build_optimizer", spy)
    monkeypatch.setattr(training, "build_optimizer", spy)   # fit, as ABL's stage 2 calls it
    config = TrainConfig(epochs=2, batch_size=32, lr=0.01, optimizer="adamw", grad_clip=1.0,
                         warmup_steps=3, progress=False)
    start = time.perf_counter()
    for name, options in [("cbd", {"backdoor_epochs": 1}),
                          ("abl", {"isolation_epochs": 1, "unlearning_epochs": 1,
                                   "isolation_ratio": 0.05})]:
        defense = DEFENSES.get(name).from_options({**options, "progress": False})
        result = defense.train(mlp(), Toy(), problem(), config, CPU, seed=0)
        assert all(math.isfinite(v) for v in result.diagnostics["train_loss_curve" if name == "abl"
                                                               else "loss_curve"])
    assert built == ["AdamW", "AdamW"]
    assert time.perf_counter() - start < 30
