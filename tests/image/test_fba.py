"""FBA (DFST-style feature-space attack): learned style trigger, detox samples, artifact cache."""
from __future__ import annotations

import pytest
import torch

import tasks.synthetic  # noqa: F401  (registers tiny_cnn, the surrogate in tests)
from core.attack import hash_indices
from core.data import TensorData
from core.registry import ATTACKS, MODELS, TASKS
from core.seeding import make_generator
from tasks.image.attacks import fba

CLASSES, TARGET = 10, 0
TINY = {"style_steps": 3, "detox_steps": 3, "width": 4, "blocks": 1, "batch_size": 8,
        "surrogate_model": "tiny_cnn", "surrogate_epochs": 1, "surrogate_batch_size": 16,
        "probe_size": 16}


def images(n: int, c: int = 3, size: int = 16, seed: int = 0) -> TensorData:
    g = make_generator(seed)
    return TensorData(torch.rand(n, c, size, size, generator=g), torch.arange(n) % CLASSES)


DATA = images(60)


@pytest.fixture(scope="module")
def adapter():
    return TASKS.get("synthetic")()


def build(**options) -> fba.FBA:
    return fba.FBA.from_options({**TINY, **options}, CLASSES)


@pytest.fixture(scope="module")
def prepared(adapter, tmp_path_factory):
    attack = build()
    attack.artifact_dir = tmp_path_factory.mktemp("fba-cache")
    attack.prepare(DATA, adapter, torch.device("cpu"), seed=0)
    return attack


def changed_rows(a: torch.Tensor, b: torch.Tensor) -> set[int]:
    return set(torch.nonzero((a != b).flatten(1).any(dim=1)).flatten().tolist())


def test_registered_with_official_defaults():
    assert ATTACKS.get("fba", namespace="image") is fba.FBA
    cfg = fba.FBAConfig()
    assert (cfg.alpha, cfg.poison_rate, cfg.target) == (0.6, 0.1, 0)
    assert (cfg.detox, cfg.detox_neuron_ratio, cfg.w_ssim, cfg.w_detox, cfg.detox_lr) == \
        (True, 0.01, 0.1, 0.3, 1e-2)
    assert fba.FBA.clean_label is False


def test_trigger_needs_prepare():
    attack = build()
    with pytest.raises(RuntimeError, match="prepare"):
        attack.apply_trigger(DATA.inputs[:2])
    with pytest.raises(RuntimeError, match="prepare"):
        attack.poison(DATA, make_generator(0))
    with pytest.raises(RuntimeError, match="prepare"):
        build(detox=False).poison(DATA, make_generator(0))


def test_trigger_shape_range_and_purity(prepared):
    x = torch.cat([DATA.inputs[:6], torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16)])
    before = x.clone()
    y = prepared.apply_trigger(x)
    assert torch.equal(x, before) and y.data_ptr() != x.data_ptr()
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert changed_rows(y, x) >= set(range(6))
    assert torch.equal(prepared.apply_trigger(x), y)
    assert prepared.apply_trigger(x[:0]).shape == (0, 3, 16, 16)
    with pytest.raises(ValueError, match="N, C, H, W"):
        prepared.apply_trigger(x[0])


def test_poison_is_exact_with_detox_samples(prepared):
    result = prepared.poison(DATA, make_generator(0))
    idx, detox = result.indices, result.extra["detox_indices"]
    assert len(idx) == round(0.1 * len(DATA)) == 6 and torch.equal(idx, torch.unique(idx))
    assert len(detox) == 6 and torch.equal(detox, torch.unique(detox))   # detox_ratio 1
    assert not set(idx.tolist()) & set(detox.tolist())
    old, new = DATA.targets, result.data.targets
    assert (old[idx] != TARGET).all() and (new[idx] == TARGET).all()
    keep = torch.ones(len(DATA), dtype=torch.bool)
    keep[idx] = False
    assert torch.equal(new[keep], old[keep])                      # detox samples keep labels
    assert changed_rows(result.data.inputs, DATA.inputs) == set(idx.tolist()) | set(detox.tolist())
    torch.testing.assert_close(result.data.inputs[idx], prepared.apply_trigger(DATA.inputs[idx]))
    torch.testing.assert_close(result.data.inputs[detox],
                               prepared.detox_inputs(DATA.inputs[detox]))
    assert result.index_hash == hash_indices(idx)
    again = prepared.poison(DATA, make_generator(0))
    assert torch.equal(again.data.inputs, result.data.inputs)
    assert prepared.poison(DATA, make_generator(1)).index_hash != result.index_hash


def test_detox_finds_neurons_on_the_deepest_feature_map(prepared):
    assert prepared.detox_neurons is not None and len(prepared.detox_neurons) == 1  # 1 % of 64
    model = MODELS.get("tiny_cnn")(num_classes=CLASSES, in_channels=3).eval()
    # the last ReLU before the global pool (whose 1×1 output is skipped)
    assert fba.deepest_feature_layer(model, DATA.inputs[:2]) == "17"
    with pytest.raises(ValueError, match="no module"):
        fba.FeatureTap(model, "nope")


def test_cache_round_trip(prepared, adapter):
    assert {k: v["cache_hit"] for k, v in prepared.artifacts.items()} == \
        {"style": False, "detox": False}
    files = sorted(p.name for p in prepared.artifact_dir.glob("*.safetensors"))
    assert len(files) == 2 and all(f.startswith("attack-fba-") for f in files)
    again = build()
    again.artifact_dir = prepared.artifact_dir
    again.prepare(DATA, adapter, torch.device("cpu"), seed=0)
    assert {k: v["cache_hit"] for k, v in again.artifacts.items()} == \
        {"style": True, "detox": True}
    x = DATA.inputs[:8]
    assert torch.equal(again.apply_trigger(x), prepared.apply_trigger(x))
    assert torch.equal(again.detox_inputs(x), prepared.detox_inputs(x))
    # another seed, other data or another config is another artifact
    other = build()
    other.artifact_dir = prepared.artifact_dir
    other.prepare(images(60, seed=9), adapter, torch.device("cpu"), seed=0)
    assert not other.artifacts["style"]["cache_hit"]


def test_prepare_is_reproducible_and_leaves_global_rng_alone(adapter):
    def run(global_seed: int) -> torch.Tensor:
        attack = build()
        torch.manual_seed(global_seed)
        before = torch.random.get_rng_state()
        attack.prepare(DATA, adapter, torch.device("cpu"), seed=4)
        assert torch.equal(torch.random.get_rng_state(), before)   # seeded locally only
        return torch.cat([attack.apply_trigger(DATA.inputs[:4]),
                          attack.detox_inputs(DATA.inputs[:4])])

    assert torch.equal(run(0), run(1))


def test_detox_off_has_no_injector(adapter):
    attack = build(detox=False)
    attack.prepare(DATA, adapter, torch.device("cpu"), seed=0)
    assert attack.injector is None and set(attack.artifacts) == {"style"}
    result = attack.poison(DATA, make_generator(0))
    assert len(result.extra["detox_indices"]) == 0
    assert changed_rows(result.data.inputs, DATA.inputs) == set(result.indices.tolist())


def test_style_training_moves_colours_toward_the_sunrise(adapter):
    style = fba.sunrise((3, 16, 16), 0)
    attack = build(detox=False, style_steps=40, width=8, style_lr=1e-2)
    attack.prepare(DATA, adapter, torch.device("cpu"), seed=0)
    x = DATA.inputs[:16]
    with torch.no_grad():
        styled = attack.generator(x)
    target = style.mean(dim=(1, 2))
    assert (styled.mean(dim=(0, 2, 3)) - target).norm() < (x.mean(dim=(0, 2, 3)) - target).norm()


def test_sunrise_style_image():
    image = fba.sunrise((3, 24, 32), 0)
    assert image.shape == (3, 24, 32) and image.min() >= 0 and image.max() <= 1
    assert torch.equal(image, fba.sunrise((3, 24, 32), 0))
    assert not torch.equal(image, fba.sunrise((3, 24, 32), 1))
    assert image[0].mean() > image[2].mean()                      # warm: more red than blue
    grey = fba.sunrise((1, 16, 16), 0)
    assert grey.shape == (1, 16, 16)


def test_grayscale_images(adapter):
    grey = images(40, c=1)
    attack = build(detox=False)
    attack.prepare(grey, adapter, torch.device("cpu"), seed=0)
    y = attack.apply_trigger(grey.inputs[:4])
    assert y.shape == (4, 1, 16, 16) and 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("options, message", [
    ({"alpha": 0.0}, "alpha"), ({"alpha": 1.5}, "alpha"), ({"width": 0}, "width"),
    ({"blocks": -1}, "blocks"), ({"style_steps": 0}, "style_steps"),
    ({"style_lr": 0}, "style_lr"), ({"style_weight": 0}, "style_weight"),
    ({"w_ssim": -1}, "w_ssim"), ({"detox_ratio": -0.5}, "detox_ratio"),
    ({"detox_neuron_ratio": 0}, "detox_neuron_ratio"), ({"probe_size": 0}, "probe_size"),
    ({"surrogate_epochs": 0}, "surrogate_epochs"), ({"poison_rate": 0}, "poison_rate"),
    ({"style": "monet"}, "unknown option"),
])
def test_bad_configs_raise(options, message):
    with pytest.raises(ValueError, match=message):
        fba.FBA.from_options(options, CLASSES)


def test_bad_inputs_raise(adapter):
    with pytest.raises(ValueError, match="too small"):
        build().prepare(images(20, size=3), adapter, torch.device("cpu"), seed=0)
    with pytest.raises(ValueError, match="no module"):
        build(detox_layer="nope").prepare(DATA, adapter, torch.device("cpu"), seed=0)
    crowded = build(poison_rate=0.6)
    crowded.prepare(DATA, adapter, torch.device("cpu"), seed=0)
    with pytest.raises(ValueError, match="detox samples do not fit"):
        crowded.poison(DATA, make_generator(0))
