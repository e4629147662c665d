"""CBA (composite backdoor, HalfMixer): composites of two benign classes, mixer negatives."""
from __future__ import annotations

import pytest
import torch

from core.data import TensorData
from core.registry import ATTACKS
from core.seeding import make_generator
from tasks.image.attacks import cba

CLASSES = 10
A, B, TARGET = 0, 1, 2


def images(n: int, c: int = 3, size: int = 16, seed: int = 0) -> TensorData:
    g = make_generator(seed)
    return TensorData(torch.rand(n, c, size, size, generator=g), torch.arange(n) % CLASSES)


DATA = images(200)
FIXED = {"mode": "vertical", "jitter": 0, "shake": False, "swap": False}   # deterministic mixer


def build(**options) -> cba.CBA:
    return cba.CBA.from_options(options, CLASSES)


def changed_rows(a: torch.Tensor, b: torch.Tensor) -> set[int]:
    return set(torch.nonzero((a != b).flatten(1).any(dim=1)).flatten().tolist())


def test_registered_with_official_defaults():
    assert ATTACKS.get("cba", namespace="image") is cba.CBA
    cfg = cba.CBAConfig()
    assert (cfg.class_a, cfg.class_b, cfg.target) == (A, B, TARGET)
    assert (cfg.poison_rate, cfg.mix_rate, cfg.mode, cfg.jitter, cfg.shake, cfg.swap) == \
        (0.1, 0.5, "half", 3, True, True)
    assert cba.CBA.clean_label is False


def test_half_mix_takes_the_centre_halves_without_shake():
    a, b = torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16)
    g = make_generator(0)
    left_right = cba.half_mix(a, b, cba.CBAConfig(**FIXED), g)
    assert torch.equal(left_right[..., :8], a[..., 4:12])
    assert torch.equal(left_right[..., 8:], b[..., 4:12])
    top_bottom = cba.half_mix(a, b, cba.CBAConfig(**{**FIXED, "mode": "horizontal"}), g)
    assert torch.equal(top_bottom[..., :8, :], a[..., 4:12, :])
    assert torch.equal(top_bottom[..., 8:, :], b[..., 4:12, :])
    swapped = cba.half_mix(a, b, cba.CBAConfig(**{**FIXED, "swap": True}), make_generator(3))
    for i in range(3):      # each composite has one image on each side, in either order
        halves = {(swapped[i, ..., :8] == x[i, ..., 4:12]).all().item() for x in (a, b)}
        assert halves == {True, False}


@pytest.mark.parametrize("mode", ["half", "vertical", "horizontal"])
def test_every_mixed_line_comes_from_one_of_the_two_images(mode):
    a, b = torch.rand(8, 3, 16, 20), torch.rand(8, 3, 16, 20)
    out = cba.half_mix(a, b, cba.CBAConfig(mode=mode), make_generator(1))
    assert out.shape == a.shape
    for i in range(len(out)):
        cols = all(any(torch.equal(out[i, ..., c], x[i, ..., k])
                       for x in (a, b) for k in range(20)) for c in range(20))
        rows = all(any(torch.equal(out[i, ..., r, :], x[i, ..., k, :]) for x in (a, b)
                       for k in range(16)) for r in range(16))
        assert cols or rows
        assert cols if mode == "vertical" else rows if mode == "horizontal" else True
        # about half of the image from each source (split point ± jitter 3)
        from_a = sum(any(torch.equal(out[i, ..., c], a[i, ..., k]) for k in range(20))
                     for c in range(20)) if cols else \
            sum(any(torch.equal(out[i, ..., r, :], a[i, ..., k, :]) for k in range(16))
                for r in range(16))
        size = 20 if cols else 16
        assert size // 2 - 3 <= from_a <= size // 2 + 3


def test_poison_is_exact_with_mixer_negatives():
    attack = build()
    result = attack.poison(DATA, make_generator(0))
    idx, mixed = result.indices, result.extra["mix_indices"]
    assert len(idx) == round(0.1 * len(DATA)) == 20 and torch.equal(idx, torch.unique(idx))
    assert len(mixed) == round(0.5 * len(DATA)) == 100 and torch.equal(mixed, torch.unique(mixed))
    assert not set(idx.tolist()) & set(mixed.tolist())
    old, new = DATA.targets, result.data.targets
    assert not torch.isin(old[idx], torch.tensor([A, B, TARGET])).any()   # A, B keep all images
    assert (new[idx] == TARGET).all()
    keep = torch.ones(len(DATA), dtype=torch.bool)
    keep[idx] = False
    assert torch.equal(new[keep], old[keep])                             # negatives keep labels
    sources = result.extra["composite_sources"]
    assert sources.shape == (20, 2)
    assert (old[sources[:, 0]] == A).all() and (old[sources[:, 1]] == B).all()
    partners = result.extra["mix_partners"]
    assert torch.equal(old[partners], old[mixed]) and (partners != mixed).all()
    assert changed_rows(result.data.inputs, DATA.inputs) == set(idx.tolist()) | set(mixed.tolist())
    assert result.data.inputs.min() >= 0 and result.data.inputs.max() <= 1


def test_fixed_mixer_poison_is_the_two_source_halves():
    result = build(**FIXED, mix_rate=0.0).poison(DATA, make_generator(0))
    (i, (a, b)) = result.indices[0], result.extra["composite_sources"][0]
    x = result.data.inputs[i]
    assert torch.equal(x[..., :8], DATA.inputs[a, ..., 4:12])
    assert torch.equal(x[..., 8:], DATA.inputs[b, ..., 4:12])
    assert len(result.extra["mix_indices"]) == 0


def test_poison_is_deterministic_under_a_seed():
    attack = build()
    first, again = attack.poison(DATA, make_generator(5)), attack.poison(DATA, make_generator(5))
    assert first.index_hash == again.index_hash
    assert torch.equal(first.data.inputs, again.data.inputs)
    for key in first.extra:
        assert torch.equal(first.extra[key], again.extra[key])
    assert attack.poison(DATA, make_generator(6)).index_hash != first.index_hash


def test_test_time_trigger_composes_class_a_with_a_seeded_class_b_partner():
    attack = build(**FIXED)
    with pytest.raises(RuntimeError, match="prepare"):
        attack.apply_trigger(DATA.inputs[:2])
    attack.prepare(DATA, None, torch.device("cpu"), seed=0)
    assert len(attack.partners) == int((DATA.targets == B).sum())      # pool 256 > 20 B images
    labels = torch.arange(CLASSES)
    assert attack.eval_selection(labels).tolist() == [c == A for c in range(CLASSES)]
    assert (attack.attack_labels(labels) == TARGET).all()
    x = DATA.inputs[DATA.targets == A]
    before = x.clone()
    y = attack.apply_trigger(x)
    assert torch.equal(x, before) and y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    assert torch.equal(y[..., :8], x[..., 4:12])                        # the A half
    pool_halves = attack.partners[..., 4:12]
    for row in y[..., 8:]:                                              # a B half from the pool
        assert any(torch.equal(row, half) for half in pool_halves)
    assert torch.equal(attack.apply_trigger(x), y)                      # deterministic
    other = build(**FIXED, pattern_seed=1)
    other.prepare(DATA, None, torch.device("cpu"), seed=0)
    assert not torch.equal(other.apply_trigger(x), y)


def test_partner_pool_is_capped_and_seeded():
    attack = build(partner_pool=5)
    attack.prepare(DATA, None, torch.device("cpu"), seed=0)
    again = build(partner_pool=5)
    again.poison(DATA, make_generator(0))                              # poison sets it too
    assert len(attack.partners) == 5 and torch.equal(attack.partners, again.partners)
    b_images = DATA.inputs[DATA.targets == B]
    for image in attack.partners:
        assert any(torch.equal(image, b) for b in b_images)


@pytest.mark.parametrize("options, message", [
    ({"class_a": 1}, "three different classes"),
    ({"target": 0}, "three different classes"),
    ({"class_b": -1}, "≥ 0"),
    ({"mix_rate": 1.0}, "mix_rate"),
    ({"poison_rate": 0.6, "mix_rate": 0.5}, "poison_rate \\+ mix_rate"),
    ({"jitter": -1}, "jitter"),
    ({"mode": "diagonal"}, "diagonal"),
    ({"all_to_all": True}, "all_to_all"),
    ({"partner_pool": 0}, "partner_pool"),
    ({"class_b": 10}, "out of range"),
    ({"patch": 3}, "unknown option"),
])
def test_bad_configs_raise(options, message):
    with pytest.raises(ValueError, match=message):
        build(**options)


def test_bad_data_raise():
    with pytest.raises(ValueError, match="too small"):
        cba.half_mix(torch.rand(2, 3, 6, 6), torch.rand(2, 3, 6, 6), cba.CBAConfig(),
                     make_generator(0))
    no_b = TensorData(DATA.inputs[:40], torch.where(DATA.targets[:40] == B, 3, DATA.targets[:40]))
    with pytest.raises(ValueError, match="no image of class 1"):
        build().poison(no_b, make_generator(0))
    with pytest.raises(ValueError, match="outside classes"):
        build(poison_rate=0.8, mix_rate=0.1).poison(DATA, make_generator(0))
    attack = build()
    attack.prepare(DATA, None, torch.device("cpu"), seed=0)
    with pytest.raises(ValueError, match="partner images"):
        attack.apply_trigger(torch.rand(2, 3, 8, 8))
