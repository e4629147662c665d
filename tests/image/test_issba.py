"""ISSBA: the learned steganography trigger (shape, range, bound, sample-specific, the secret
read back), exact dirty-label poisoning, seeding, the artifact cache and the errors. Tiny nets on
64 random 3×16×16 images; the one real training run (~2 s) is shared by the module."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from core.attack import AttackConfig, poison_count
from core.data import TensorData
from core.registry import ATTACKS
from core.seeding import make_generator
from tasks.image.attacks.issba import ISSBA, ISSBAConfig

CLASSES, TARGET = 4, 1
TINY = dict(secret_bits=8, encoder_widths=(8, 16, 16), decoder_widths=(8, 16, 16),
            decoder_strides=(2, 2, 2), decoder_hidden=32, encoder_batch_size=4, encoder_lr=2e-3)
# long enough for the decoder to read the secret (bits learned by epoch ~6 on this data)
TRAINED = dict(TINY, encoder_epochs=12, secret_only_epochs=8, l2_ramp_epochs=4,
               residual_bound=0.25, target=TARGET)
QUICK = dict(TINY, encoder_epochs=1, secret_only_epochs=0)     # seeding / cache tests
BOUND = TRAINED["residual_bound"]


def images(n: int = 64, seed: int = 0, size: int = 16) -> TensorData:
    g = make_generator(seed)
    return TensorData(torch.rand(n, 3, size, size, generator=g), torch.arange(n) % CLASSES)


DATA = images()


def prepared(options: dict, seed: int = 0, artifact_dir=None, data: TensorData = DATA) -> ISSBA:
    attack = ISSBA.from_options(options, CLASSES)
    attack.artifact_dir = artifact_dir
    attack.prepare(data, None, torch.device("cpu"), seed)
    return attack


@pytest.fixture(scope="module")
def trained() -> ISSBA:
    return prepared(TRAINED)


def test_registered_with_frozen_original_defaults():
    assert ATTACKS.get("issba", namespace="image") is ISSBA and ISSBA.name == "issba"
    assert not ISSBA.clean_label
    config = ISSBAConfig()
    assert isinstance(config, AttackConfig) and ISSBAConfig.__doc__
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.secret_bits = 3
    assert (config.poison_rate, config.target, config.all_to_all) == (0.1, 0, False)
    assert (config.secret_bits, config.encoder_epochs, config.secret_only_epochs) == (20, 20, 2)
    assert (config.encoder_batch_size, config.encoder_lr) == (32, 1e-4)
    assert (config.secret_weight, config.l2_weight, config.residual_bound) == (1.5, 2.0, None)
    assert config.encoder_widths == (32, 32, 64, 128, 256)
    assert ISSBA(config, 10).describe()["name"] == "issba"


def test_trigger_shape_range_bound_and_purity(trained):
    x = torch.cat([DATA.inputs[:20], torch.zeros(2, 3, 16, 16), torch.ones(2, 3, 16, 16)])
    before = x.clone()
    y = trained.apply_trigger(x)
    assert torch.equal(x, before) and y.data_ptr() != x.data_ptr()
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert (y - x).abs().max() <= BOUND + 1e-6
    assert (y - x).abs().flatten(1).amax(dim=1)[:20].min() > 0      # every image is changed
    assert torch.equal(trained.apply_trigger(x), y)                  # deterministic
    # batching is invisible: one image at a time gives the same trigger
    trained.inference_batch_size = 1
    try:
        assert torch.allclose(trained.apply_trigger(x[:3]), y[:3], atol=1e-6)
    finally:
        del trained.inference_batch_size


def test_trigger_is_sample_specific(trained):
    x = DATA.inputs[:16]
    residual = trained.apply_trigger(x) - x
    assert residual.std(dim=0).mean() > 1e-3                          # not one fixed pattern
    assert not torch.allclose(residual[0], residual[1], atol=1e-4)


def test_decoder_reads_the_secret_back(trained):
    loss = trained.history["bit_loss"]
    assert len(loss) == TRAINED["encoder_epochs"] and loss[-1] < loss[0] - 0.1
    assert trained.artifacts["stegastamp"]["train_bit_acc"] > 0.7
    secret = trained.secret()
    assert secret.shape == (8,) and set(secret.tolist()) <= {0.0, 1.0}
    x = DATA.inputs
    hit = (trained.decode_bits(trained.apply_trigger(x)) == secret).float().mean()
    clean = (trained.decode_bits(x) == secret).float().mean()
    assert hit >= 0.75 and hit > clean + 0.15, (float(hit), float(clean))


def test_dirty_label_poison_is_exact(trained):
    result = trained.poison(DATA, make_generator(5))
    idx = result.indices
    count = poison_count(len(DATA), 0.1)
    assert len(idx) == count == 6 and torch.equal(idx, torch.sort(idx.unique()).values)
    assert (DATA.targets[idx] != TARGET).all()
    assert (result.data.targets[idx] == TARGET).all()
    rest = torch.ones(len(DATA), dtype=torch.bool)
    rest[idx] = False
    assert torch.equal(result.data.targets[rest], DATA.targets[rest])
    assert torch.equal(result.data.inputs[rest], DATA.inputs[rest])
    assert torch.equal(result.data.inputs[idx], trained.apply_trigger(DATA.inputs[idx]))
    assert result.index_hash == trained.poison(DATA, make_generator(5)).index_hash
    stats = trained.artifacts["trigger"]
    assert stats["count"] == 6 and 0 < stats["max_abs"] <= BOUND + 1e-6
    assert stats["psnr_db"] > 10 and 0 <= stats["secret_bit_acc"] <= 1


def test_unbounded_residual_is_measured():
    attack = prepared(QUICK)
    attack.poison(DATA, make_generator(0))
    stats = attack.artifacts["trigger"]
    assert stats["count"] == 6
    assert 0 < stats["mean_abs"] <= stats["rms"] <= stats["max_abs"] <= 1.0


def test_prepare_is_seeded():
    x = DATA.inputs[:8]
    a, b, c = prepared(QUICK, seed=0), prepared(QUICK, seed=0), prepared(QUICK, seed=1)
    assert torch.equal(a.apply_trigger(x), b.apply_trigger(x))
    assert a.history == b.history
    assert not torch.equal(a.apply_trigger(x), c.apply_trigger(x))
    other_secret = ISSBA.from_options(dict(QUICK, secret_seed=1), CLASSES)
    assert not torch.equal(other_secret.secret(), a.secret())


def test_artifact_cache_round_trip(tmp_path):
    first = prepared(QUICK, artifact_dir=tmp_path)
    assert first.artifacts["stegastamp"]["cache_hit"] is False
    assert len(list(tmp_path.glob("attack-issba-stegastamp-*.safetensors"))) == 1
    second = prepared(QUICK, artifact_dir=tmp_path)
    assert second.artifacts["stegastamp"]["cache_hit"] is True and second.history == {}
    x = DATA.inputs[:8]
    assert torch.equal(second.apply_trigger(x), first.apply_trigger(x))
    relabelled = TensorData(DATA.inputs, (DATA.targets + 1) % CLASSES)
    for attack in (prepared(QUICK, seed=1, artifact_dir=tmp_path),
                   prepared(QUICK, artifact_dir=tmp_path, data=relabelled)):
        assert attack.artifacts["stegastamp"]["cache_hit"] is False
    assert len(list(tmp_path.glob("*.safetensors"))) == 3


def test_trigger_needs_prepare():
    attack = ISSBA.from_options(QUICK, CLASSES)
    for call in (lambda: attack.apply_trigger(DATA.inputs[:2]),
                 lambda: attack.poison(DATA, make_generator(0)),
                 lambda: attack.decode_bits(DATA.inputs[:2])):
        with pytest.raises(RuntimeError, match="prepare"):
            call()


def test_image_checks():
    attack = prepared(QUICK)
    with pytest.raises(ValueError, match="N, C, H, W"):
        attack.apply_trigger(DATA.inputs[0])
    with pytest.raises(ValueError, match="float"):
        attack.apply_trigger((DATA.inputs[:2] * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="learned on images of shape"):
        attack.apply_trigger(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="multiples of 4"):
        prepared(QUICK, data=images(8, size=10))


INVALID = [
    ({"secret_bits": 0}, "secret_bits"),
    ({"residual_bound": 0.0}, "residual_bound"),
    ({"residual_bound": 1.5}, "residual_bound"),
    ({"encoder_widths": ()}, "encoder_widths"),
    ({"encoder_widths": (8, 0)}, "encoder_widths"),
    ({"decoder_widths": (8, 8), "decoder_strides": (2,)}, "decoder_strides"),
    ({"decoder_strides": (3, 1, 2, 1, 2, 2, 2)}, "decoder_strides"),
    ({"decoder_hidden": 0}, "decoder_hidden"),
    ({"encoder_epochs": 0}, "encoder_epochs"),
    ({"secret_only_epochs": 21}, "secret_only_epochs"),
    ({"secret_only_epochs": -1}, "secret_only_epochs"),
    ({"encoder_batch_size": 0}, "encoder_batch_size"),
    ({"encoder_lr": 0.0}, "encoder_lr"),
    ({"secret_weight": 0.0}, "secret_weight"),
    ({"l2_weight": -1.0}, "l2_weight"),
    ({"l2_ramp_epochs": -1}, "l2_ramp_epochs"),
    ({"poison_rate": 0.0}, "poison_rate"),
]


@pytest.mark.parametrize("options,message", INVALID, ids=[m for _, m in INVALID])
def test_invalid_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        ISSBAConfig(**options)


def test_target_out_of_range_and_unknown_option():
    with pytest.raises(ValueError, match="out of range"):
        ISSBA(ISSBAConfig(target=4), CLASSES)
    with pytest.raises(ValueError, match="unknown option"):
        ISSBA.from_options({"secret_size": 20}, CLASSES)
