"""The input-aware dynamic attack (dyn_one / dyn_all) on tiny synthetic images: learned,
input-specific triggers in [0, 1], exact poisoning with cross samples, seeded determinism and
the artifact cache."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import tasks.synthetic  # noqa: F401  (registers tiny_cnn, the surrogate in these tests)
from core.data import TensorData
from core.registry import ATTACKS, TASKS
from core.seeding import make_generator
from tasks.image.attacks import inputaware
from tasks.image.attacks.inputaware import InputAwareConfig, TriggerNet, sharpen_mask

CLASSES = 4
TARGET = 1
# two epochs of 4 steps: fewer leave the generators' BatchNorm running statistics near their
# initial values, and the eval-mode triggers then barely depend on the image
TINY = {"generator_width": 8, "generator_depth": 2, "mask_epochs": 2, "generator_epochs": 2,
        "batch_size": 16, "surrogate_model": "tiny_cnn", "target": TARGET}
CPU = torch.device("cpu")


def images(n: int = 64, size: int = 16, seed: int = 0) -> TensorData:
    g = make_generator(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    y = (torch.arange(n) % CLASSES)[torch.randperm(n, generator=g)]
    return TensorData(x, y)


DATA = images()


@pytest.fixture(scope="module")
def adapter():
    return TASKS.get("synthetic")()


def make(name: str, **options) -> inputaware.InputAware:
    return ATTACKS.get(name, namespace="image").from_options({**TINY, **options}, CLASSES)


@pytest.fixture(scope="module")
def prepared(adapter) -> dict[str, inputaware.InputAware]:
    """One tiny prepared attack per variant, shared by the read-only tests."""
    out = {}
    for name in ("dyn_one", "dyn_all"):
        attack = make(name)
        attack.prepare(DATA, adapter, CPU, seed=0)
        out[name] = attack
    return out


# -- config -----------------------------------------------------------------------------------
def test_registered_with_the_official_defaults():
    one = ATTACKS.get("dyn_one", namespace="image")
    every = ATTACKS.get("dyn_all", namespace="image")
    assert one is inputaware.InputAwareOne and every is inputaware.InputAwareAll
    cfg = one.Config()
    assert (cfg.poison_rate, cfg.cross_ratio, cfg.mask_density) == (0.1, 0.1, 0.032)
    assert (cfg.lambda_div, cfg.lambda_norm, cfg.epsilon) == (1.0, 100.0, 1e-7)
    assert (cfg.generator_width, cfg.generator_depth) == (32, 3)
    assert (cfg.mask_epochs, cfg.generator_epochs, cfg.batch_size) == (25, 600, 128)
    assert cfg.mask_lr == cfg.generator_lr == cfg.surrogate_lr == 0.01
    assert cfg.target == 0 and not cfg.all_to_all and every.Config().all_to_all
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.mask_density = 0.5  # type: ignore[misc]


@pytest.mark.parametrize("options", [
    {"cross_ratio": -0.1}, {"cross_ratio": 1.0}, {"poison_rate": 0.6, "cross_ratio": 0.5},
    {"mask_density": 0.0}, {"mask_density": 1.0}, {"lambda_div": -1.0}, {"lambda_norm": -1.0},
    {"epsilon": 0.0}, {"generator_width": 0}, {"generator_depth": 0}, {"mask_epochs": 0},
    {"generator_epochs": 0}, {"mask_lr": 0.0}, {"generator_lr": -1.0}, {"surrogate_lr": 0.0},
    {"batch_size": 1}, {"trigger_batch_size": 0}, {"surrogate_model": ""},
    {"poison_rate": 0.0},
])
def test_bad_config_values_raise(options):
    with pytest.raises(ValueError):
        InputAwareConfig(**options)


def test_variants_reject_the_other_mode():
    with pytest.raises(ValueError, match="dyn_all"):
        make("dyn_one", all_to_all=True)
    with pytest.raises(ValueError, match="dyn_one"):
        make("dyn_all", all_to_all=False)


def test_official_cifar_generator_shape():
    net = TriggerNet(3, 3, width=32, depth=3, epsilon=1e-7)
    assert [block[0].out_channels for block in net.encoder] == [32, 64, 128]
    assert [block[3].out_channels for block in net.decoder] == [64, 32, 3]
    assert not isinstance(net.decoder[-1][-1], torch.nn.ReLU)   # the output block has no ReLU
    out = net.eval()(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32) and 0 < out.min() and out.max() < 1
    m = sharpen_mask(torch.tensor([0.0, 0.5, 1.0]), 1e-7)
    assert m[0] < 1e-6 and m[1] == pytest.approx(0.5) and m[2] > 1 - 1e-6


# -- before prepare ---------------------------------------------------------------------------
def test_trigger_and_poison_need_prepare():
    attack = make("dyn_one")
    with pytest.raises(RuntimeError, match="prepare"):
        attack.apply_trigger(DATA.inputs[:2])
    with pytest.raises(RuntimeError, match="prepare"):
        attack.poison(DATA, make_generator(0))


def test_prepare_rejects_images_too_small(adapter):
    attack = make("dyn_one", generator_depth=3)
    with pytest.raises(ValueError, match="too small"):
        attack.prepare(images(8, size=4), adapter, CPU, seed=0)


# -- triggers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dyn_one", "dyn_all"])
def test_trigger_shape_range_and_purity(name, prepared):
    attack = prepared[name]
    x = DATA.inputs[:10].clone()
    y = attack.apply_trigger(x)
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert 0.0 <= y.min() and y.max() <= 1.0
    assert torch.equal(x, DATA.inputs[:10])          # argument untouched
    assert not torch.equal(y, x)
    # eval-mode generators: a sample's trigger does not depend on its batch
    assert torch.allclose(attack.apply_trigger(x[3:5]), y[3:5], atol=1e-6)
    with pytest.raises(ValueError, match="channel"):
        attack.apply_trigger(torch.rand(2, 1, 16, 16))


def test_trigger_is_input_specific(prepared):
    attack = prepared["dyn_one"]
    a, b = DATA.inputs[:8], DATA.inputs[8:16]
    own, foreign = attack.stamp(a, a), attack.stamp(a, b)   # same base images, other triggers
    assert not torch.allclose(own, foreign, atol=1e-3)
    residual = attack.apply_trigger(DATA.inputs[:2]) - DATA.inputs[:2]
    assert not torch.allclose(residual[0], residual[1], atol=1e-3)


# -- poisoning --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dyn_one", "dyn_all"])
def test_poison_is_exact_with_disjoint_cross_samples(name, prepared):
    attack = prepared[name]
    result = attack.poison(DATA, make_generator(5))
    idx, cross = result.indices, result.extra["cross_indices"]
    partners = result.extra["cross_partners"]
    n = len(DATA)
    assert len(idx) == round(0.1 * n) and len(cross) == round(0.1 * n)
    assert set(idx.tolist()).isdisjoint(cross.tolist())
    assert torch.equal(torch.sort(idx).values, idx) and len(set(idx.tolist())) == len(idx)
    assert (partners != cross).all()
    y0, y1 = DATA.targets, result.data.targets
    if name == "dyn_one":
        assert (y0[idx] != TARGET).all() and (y1[idx] == TARGET).all()
    else:
        assert torch.equal(y1[idx], (y0[idx] + 1) % CLASSES)
    untouched = torch.ones(n, dtype=torch.bool)
    untouched[idx] = False
    assert torch.equal(y1[untouched], y0[untouched])          # cross samples keep their labels
    assert torch.allclose(result.data.inputs[idx], attack.apply_trigger(DATA.inputs[idx]))
    assert torch.allclose(result.data.inputs[cross],
                          attack.stamp(DATA.inputs[cross], DATA.inputs[partners]))
    untouched[cross] = False
    assert torch.equal(result.data.inputs[untouched], DATA.inputs[untouched])
    changed = (result.data.inputs != DATA.inputs).flatten(1).any(1)
    assert changed[idx].all() and changed[cross].all()
    assert torch.equal(DATA.inputs, images().inputs)            # training set not modified


def test_poison_without_cross_samples(prepared):
    attack = make("dyn_one", cross_ratio=0.0)
    learned = prepared["dyn_one"]
    attack.mask_net, attack.pattern_net = learned.mask_net, learned.pattern_net
    result = attack.poison(DATA, make_generator(0))
    assert len(result.extra["cross_indices"]) == 0 and len(result.indices) == 6


# -- determinism and cache --------------------------------------------------------------------
def test_same_seed_same_triggers(adapter, prepared):
    again = make("dyn_one")
    again.prepare(DATA, adapter, CPU, seed=0)
    x = DATA.inputs[:6]
    assert torch.equal(again.apply_trigger(x), prepared["dyn_one"].apply_trigger(x))
    other = make("dyn_one")
    other.prepare(DATA, adapter, CPU, seed=1)
    assert not torch.allclose(other.apply_trigger(x), again.apply_trigger(x))


def test_cache_round_trip(adapter, tmp_path):
    first = make("dyn_all")
    first.artifact_dir = tmp_path
    first.prepare(DATA, adapter, CPU, seed=3)
    assert {p: a["cache_hit"] for p, a in first.artifacts.items()} == {"mask": False,
                                                                       "pattern": False}
    assert len(list(tmp_path.glob("attack-dyn_all-*.safetensors"))) == 2
    second = make("dyn_all")
    second.artifact_dir = tmp_path
    second.prepare(DATA, adapter, CPU, seed=3)
    assert all(a["cache_hit"] for a in second.artifacts.values())
    x = DATA.inputs[:6]
    assert torch.equal(first.apply_trigger(x), second.apply_trigger(x))
    # other data (or seed) learns again
    third = make("dyn_all")
    third.artifact_dir = tmp_path
    third.prepare(images(seed=9), adapter, CPU, seed=3)
    assert not any(a["cache_hit"] for a in third.artifacts.values())
