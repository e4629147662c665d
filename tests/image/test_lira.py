"""LIRA: the learned ε-bounded trigger (shape, range, L∞ bound, sample-specific), stage-1
training (both generators, with and without the look-ahead step, the task augmentation), exact
dirty-label poisoning, seeding, the artifact cache and the errors. Tiny generators and the
synthetic ``tiny_cnn`` surrogate on 64 random 3×16×16 images, one stage-1 epoch (< 1 s each)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import tasks.synthetic  # noqa: F401  (registers tiny_cnn, the surrogate in these tests)
from core.attack import AttackConfig, poison_count
from core.data import TensorData
from core.registry import ATTACKS, UnknownNameError
from core.seeding import make_generator
from tasks.image.attacks.learned import seeded
from tasks.image.attacks.lira import LIRA, AutoencoderGenerator, LIRAConfig, UNetGenerator

CLASSES, TARGET = 4, 1
TINY = dict(generator_widths=(4, 8), stage1_epochs=1, stage1_batch_size=16,
            surrogate_model="tiny_cnn", surrogate_lr=0.05, generator_lr=1e-3, target=TARGET)


def images(n: int = 64, seed: int = 0, size: int = 16) -> TensorData:
    """Pixels in [0.1, 0.9], so that ε never hits the clip and the perturbation is g's own."""
    g = make_generator(seed)
    x = 0.1 + 0.8 * torch.rand(n, 3, size, size, generator=g)
    return TensorData(x, torch.arange(n) % CLASSES)


DATA = images()


class FlipTask:
    """A stand-in adapter whose training augmentation flips images and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def train_augmentation(self):
        def flip(x, y, generator):
            self.calls += 1
            return x.flip(-1), y
        return flip


def prepared(options: dict | None = None, seed: int = 0, artifact_dir=None,
             data: TensorData = DATA, adapter=None, classes: int = CLASSES) -> LIRA:
    attack = LIRA.from_options({**TINY, **(options or {})}, classes)
    attack.artifact_dir = artifact_dir
    attack.prepare(data, adapter, torch.device("cpu"), seed)
    return attack


@pytest.fixture(scope="module")
def lira() -> LIRA:
    return prepared()


def test_registered_with_frozen_original_defaults():
    assert ATTACKS.get("lira", namespace="image") is LIRA and LIRA.name == "lira"
    assert not LIRA.clean_label
    config = LIRAConfig()
    assert isinstance(config, AttackConfig) and LIRAConfig.__doc__
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.eps = 0.1
    assert (config.poison_rate, config.target, config.all_to_all) == (0.1, 0, False)
    assert (config.eps, config.alpha, config.generator) == (0.01, 0.5, "unet")
    assert config.widths == (64, 128, 256, 512) and config.lookahead
    assert LIRAConfig(generator="autoencoder").widths == (16, 32, 64, 128)
    assert (config.generator_lr, config.surrogate_lr, config.surrogate_momentum) == \
        (1e-4, 0.01, 0.9)
    assert (config.stage1_epochs, config.stage1_batch_size) == (50, 128)
    assert LIRA(config, 10).describe()["name"] == "lira"


@pytest.mark.parametrize("generator", ["unet", "autoencoder"])
def test_generators_keep_the_image_shape_and_range(generator):
    cls = UNetGenerator if generator == "unet" else AutoencoderGenerator
    net = cls(3, LIRAConfig(generator=generator).widths).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1.0


def test_trigger_shape_range_bound_and_purity(lira):
    x = torch.cat([DATA.inputs[:20], torch.zeros(2, 3, 16, 16), torch.ones(2, 3, 16, 16)])
    before = x.clone()
    y = lira.apply_trigger(x)
    assert torch.equal(x, before) and y.data_ptr() != x.data_ptr()
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert (y - x).abs().max() <= lira.config.eps + 1e-6
    assert (y - x).abs().flatten(1).amax(dim=1)[:20].min() > 0      # every image is changed
    assert torch.equal(lira.apply_trigger(x), y)                     # deterministic (eval BN)


def test_trigger_is_sample_specific(lira):
    x = DATA.inputs[:16]
    perturbation = lira.apply_trigger(x) - x                          # never clipped here
    assert perturbation.std(dim=0).mean() > 1e-6                     # not one fixed pattern
    assert not torch.allclose(perturbation[0], perturbation[1], atol=1e-7)


@pytest.mark.parametrize("generator,lookahead", [("unet", True), ("autoencoder", False)])
def test_stage_one_trains_both_generators(generator, lookahead):
    task = FlipTask()
    attack = prepared({"generator": generator, "lookahead": lookahead, "eps": 0.05,
                       "stage1_epochs": 2}, adapter=task)
    assert task.calls == 2 * (len(DATA) // 16)                       # one call per batch
    history = attack.history
    assert set(history) == {"generator_loss", "clean_ce", "backdoor_ce"}
    assert all(len(v) == 2 for v in history.values())
    record = attack.artifacts["generator"]
    assert record["cache_hit"] is False and record["surrogate_backdoor_ce"] > 0
    x = DATA.inputs[:8]
    assert (attack.apply_trigger(x) - x).abs().max() <= 0.05 + 1e-6
    # stage 1 moved the generator away from its (seed-0) initialisation
    initial = seeded(lambda: attack.build((3, 16, 16)), 0).state_dict()
    trained = attack.network.state_dict()
    assert initial.keys() == trained.keys()
    assert not all(torch.equal(initial[k], trained[k]) for k in initial)


def test_dirty_label_poison_is_exact(lira):
    result = lira.poison(DATA, make_generator(5))
    idx = result.indices
    assert len(idx) == poison_count(len(DATA), 0.1) == 6
    assert torch.equal(idx, torch.sort(idx.unique()).values)
    assert (DATA.targets[idx] != TARGET).all() and (result.data.targets[idx] == TARGET).all()
    rest = torch.ones(len(DATA), dtype=torch.bool)
    rest[idx] = False
    assert torch.equal(result.data.targets[rest], DATA.targets[rest])
    assert torch.equal(result.data.inputs[rest], DATA.inputs[rest])
    assert torch.equal(result.data.inputs[idx], lira.apply_trigger(DATA.inputs[idx]))
    assert result.index_hash == lira.poison(DATA, make_generator(5)).index_hash
    stats = lira.artifacts["trigger"]
    assert stats["count"] == 6 and 0 < stats["max_abs"] <= lira.config.eps + 1e-6


def test_all_to_all_labels():
    attack = prepared({"all_to_all": True})
    result = attack.poison(DATA, make_generator(0))
    idx = result.indices
    assert len(idx) == 6
    assert torch.equal(result.data.targets[idx], (DATA.targets[idx] + 1) % CLASSES)


def test_prepare_is_seeded(lira):
    x = DATA.inputs[:8]
    again, other = prepared(seed=0), prepared(seed=1)
    assert torch.equal(again.apply_trigger(x), lira.apply_trigger(x))
    assert again.history == lira.history
    assert not torch.equal(other.apply_trigger(x), lira.apply_trigger(x))


def test_artifact_cache_round_trip(tmp_path):
    first = prepared(artifact_dir=tmp_path)
    assert first.artifacts["generator"]["cache_hit"] is False
    assert len(list(tmp_path.glob("attack-lira-generator-*.safetensors"))) == 1
    second = prepared(artifact_dir=tmp_path)
    assert second.artifacts["generator"]["cache_hit"] is True and second.history == {}
    x = DATA.inputs[:8]
    assert torch.equal(second.apply_trigger(x), first.apply_trigger(x))
    relabelled = TensorData(DATA.inputs, (DATA.targets + 1) % CLASSES)
    for attack in (prepared(seed=1, artifact_dir=tmp_path),
                   prepared(artifact_dir=tmp_path, data=relabelled),
                   prepared(artifact_dir=tmp_path, classes=CLASSES + 1)):
        assert attack.artifacts["generator"]["cache_hit"] is False
    assert len(list(tmp_path.glob("*.safetensors"))) == 4


def test_trigger_needs_prepare():
    attack = LIRA.from_options(TINY, CLASSES)
    with pytest.raises(RuntimeError, match="prepare"):
        attack.apply_trigger(DATA.inputs[:2])
    with pytest.raises(RuntimeError, match="prepare"):
        attack.poison(DATA, make_generator(0))


def test_image_checks(lira):
    with pytest.raises(ValueError, match="N, C, H, W"):
        lira.apply_trigger(DATA.inputs[0])
    with pytest.raises(ValueError, match="float"):
        lira.apply_trigger((DATA.inputs[:2] * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="learned on images of shape"):
        lira.apply_trigger(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="multiples of 2"):
        prepared(data=images(16, size=9))
    with pytest.raises(ValueError, match="multiples of 4"):
        prepared({"generator": "autoencoder"}, data=images(16, size=10))


def test_unknown_surrogate_fails_clearly():
    with pytest.raises(UnknownNameError, match="no_such_model"):
        prepared({"surrogate_model": "no_such_model"})


INVALID = [
    ({"eps": 0.0}, "eps"),
    ({"eps": 1.5}, "eps"),
    ({"alpha": 1.0}, "alpha"),
    ({"alpha": -0.1}, "alpha"),
    ({"generator": "vae"}, "generator"),
    ({"generator_widths": (4, 0)}, "generator_widths"),
    ({"generator_lr": 0.0}, "generator_lr"),
    ({"stage1_epochs": 0}, "stage1_epochs"),
    ({"stage1_batch_size": 1}, "stage1_batch_size"),
    ({"surrogate_lr": -1.0}, "surrogate_lr"),
    ({"surrogate_momentum": 1.0}, "surrogate_momentum"),
    ({"poison_rate": 1.5}, "poison_rate"),
]


@pytest.mark.parametrize("options,message", INVALID, ids=[m for _, m in INVALID])
def test_invalid_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        LIRAConfig(**options)


def test_target_out_of_range_and_unknown_option():
    with pytest.raises(ValueError, match="out of range"):
        LIRA(LIRAConfig(target=4), CLASSES)
    with pytest.raises(ValueError, match="unknown option"):
        LIRA.from_options({"epsilon": 0.01}, CLASSES)
    with pytest.raises(ValueError):
        LIRA.from_options({"generator": "vae"}, CLASSES)
