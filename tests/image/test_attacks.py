"""Every image trigger attack: exact poisoning, labels, determinism, trigger range and purity,
plus the attack-specific formulas (corner patterns, SIG signal, PGD budget, dithering, …)."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import tasks.image.attacks  # noqa: F401  (registers the attacks)
import tasks.synthetic  # noqa: F401  (registers tiny_cnn, the CLB surrogate in tests)
from core.attack import Attack, AttackConfig, hash_indices
from core.data import TensorData
from core.registry import ATTACKS, TASKS
from core.seeding import make_generator
from tasks.image.attacks.bppa import floyd_steinberg, squeeze

ALL = ["badnets", "blend", "bppa", "clb", "sig", "trojan_all", "trojan_one", "wanet"]
DIRTY = ["badnets", "blend", "bppa", "trojan_all", "trojan_one", "wanet"]
CLEAN = ["clb", "sig"]
SEEDED = ["blend", "trojan_all", "trojan_one", "wanet"]          # have a pattern_seed
EXTRA = {"wanet": "noise_indices", "bppa": "negative_indices"}    # extra samples they change
REGISTERED = [n for n in ATTACKS.names("image") if f"image/{n}" in ATTACKS]
#: attacks whose trigger exists only after prepare() (they declare it: Attack.needs_prepare)
NEEDS_PREPARE = sorted(n for n in REGISTERED if ATTACKS.get(n, namespace="image").needs_prepare)
# learned triggers exist only after prepare(); their own test files check them on trained nets
NAMES = sorted((set(ALL) | set(REGISTERED)) - set(NEEDS_PREPARE))
CLASSES = 10
TARGET = 2
CLB_TEST = {"surrogate_model": "tiny_cnn", "surrogate_epochs": 1, "pgd_steps": 2}


def images(n: int, c: int, size: int, seed: int) -> TensorData:
    g = make_generator(seed)
    x = torch.rand(n, c, size, size, generator=g)
    y = torch.arange(n) % CLASSES
    return TensorData(x, y[torch.randperm(n, generator=g)])


DATA = {"rgb32": images(200, 3, 32, 0), "rgb64": images(40, 3, 64, 1),
        "gray32": images(60, 1, 32, 2), "rgb8": images(20, 3, 8, 3)}
RGB = DATA["rgb32"]


@pytest.fixture(scope="module")
def adapter():
    task = TASKS.get("synthetic")()
    task.load_splits("synthetic", None, {"train_size": 300, "test_size": 50,
                                         "clean_per_class": 2, "image_size": 16}, seed=0)
    return task


@pytest.fixture(scope="module")
def surrogate(adapter):
    """One tiny CLB surrogate (1 epoch on RGB), shared by the CLB tests through set_surrogate."""
    attack = ATTACKS.get("clb", namespace="image").from_options(CLB_TEST, CLASSES)
    attack.prepare(RGB, adapter, torch.device("cpu"), seed=0)
    assert attack.surrogate is not None and not attack.surrogate.training
    return attack.surrogate


def make(name: str, adapter, surrogate=None, **options) -> Attack:
    """The attack with ``options``; CLB gets the shared tiny surrogate when one is given."""
    cls = ATTACKS.get(name, namespace="image")
    if name != "clb":
        return cls.from_options(options, CLASSES)
    attack = cls.from_options({**CLB_TEST, **options}, CLASSES)
    if surrogate is not None:
        attack.set_surrogate(surrogate, adapter, "cpu")
    return attack


def changed_rows(a: torch.Tensor, b: torch.Tensor) -> set[int]:
    return set(torch.nonzero((a != b).flatten(1).any(dim=1)).flatten().tolist())


# -- registry -------------------------------------------------------------------------------
def test_every_attack_is_registered_with_a_frozen_config():
    assert set(ALL) <= set(REGISTERED), f"missing: {set(ALL) - set(REGISTERED)}"
    # the paper's Table 1 attacks beyond ALL, and the composites of supp. Table 12
    learned = set(NEEDS_PREPARE) | {"badnets_blend_trojan", "sig_clb"}
    assert learned <= set(REGISTERED), f"missing: {learned - set(REGISTERED)}"
    for name in ALL:
        cls = ATTACKS.get(name, namespace="image")
        assert issubclass(cls, Attack) and cls.name == name
        assert cls.clean_label == (name in CLEAN)
        assert issubclass(cls.Config, AttackConfig) and cls.Config.__doc__
        assert cls.__module__.startswith("tasks.image.attacks.")
        config = cls.Config()
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.target = 1
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        assert ("pattern_seed" in fields) == (name in SEEDED)
        assert cls(config, CLASSES).describe()["name"] == name


def test_design_defaults():
    get = lambda name: ATTACKS.get(name, namespace="image").Config()  # noqa: E731
    assert (get("badnets").size, get("badnets").corner, get("badnets").alpha) == \
        (3, "bottom_left", 1.0)
    assert get("blend").alpha == 0.2
    assert get("sig").poison_rate == 0.8 and get("sig").frequency == 6
    assert get("sig").delta == pytest.approx(20 / 255)
    clb = get("clb")
    assert clb.pgd_eps == pytest.approx(8 / 255) and clb.poison_rate == 1.0
    assert clb.surrogate_model == "small_cnn"
    wanet = get("wanet")
    assert (wanet.k, wanet.s, wanet.grid_rescale, wanet.cross_ratio) == (4, 0.5, 1.0, 2.0)
    assert (get("bppa").squeeze_num, get("bppa").neg_ratio) == (8, 0.1)
    assert not get("trojan_one").all_to_all and get("trojan_all").all_to_all
    for name in DIRTY:
        assert get(name).poison_rate == 0.1 and get(name).target == 0


# -- poisoning ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DIRTY)
def test_dirty_label_poison_is_exact(name, adapter):
    attack = make(name, adapter, target=TARGET)
    result = attack.poison(RGB, make_generator(0))
    idx = result.indices
    assert len(idx) == round(0.1 * len(RGB)) == 20
    assert torch.equal(idx, torch.unique(idx))                     # sorted, distinct
    old, new = RGB.targets, result.data.targets
    if name == "trojan_all":
        assert torch.equal(new[idx], (old[idx] + 1) % CLASSES)
    else:
        assert (old[idx] != TARGET).all() and (new[idx] == TARGET).all()
    rest = torch.ones(len(RGB), dtype=torch.bool)
    rest[idx] = False
    assert torch.equal(new[rest], old[rest])
    # the training trigger is exactly the test trigger
    torch.testing.assert_close(result.data.inputs[idx], attack.apply_trigger(RGB.inputs[idx]))
    extra = result.extra.get(EXTRA.get(name), torch.empty(0, dtype=torch.long))
    if name in EXTRA:
        expected = {"wanet": 40, "bppa": 20}[name]               # 2 × 20 poisoned; 10 % of 200
        assert len(extra) == expected and torch.equal(extra, torch.unique(extra))
        assert not set(extra.tolist()) & set(idx.tolist())
        assert torch.equal(new[extra], old[extra])               # labels kept
    else:
        assert result.extra == {}
    assert changed_rows(result.data.inputs, RGB.inputs) == set(idx.tolist()) | set(extra.tolist())
    assert result.index_hash == hash_indices(idx)


@pytest.mark.parametrize("name", CLEAN)
@pytest.mark.parametrize("rate", [None, 0.5])
def test_clean_label_poison_keeps_labels(name, rate, adapter, surrogate):
    options = {"target": TARGET} if rate is None else {"target": TARGET, "poison_rate": rate}
    attack = make(name, adapter, surrogate, **options)
    result = attack.poison(RGB, make_generator(0))
    n_target = int((RGB.targets == TARGET).sum())
    rate = attack.config.poison_rate
    assert rate == (0.5 if "poison_rate" in options else {"sig": 0.8, "clb": 1.0}[name])
    assert len(result.indices) == round(rate * n_target) == {0.8: 16, 1.0: 20, 0.5: 10}[rate]
    assert (RGB.targets[result.indices] == TARGET).all()
    assert torch.equal(result.data.targets, RGB.targets)
    assert changed_rows(result.data.inputs, RGB.inputs) == set(result.indices.tolist())
    # ASR counts only non-target test images, judged against the target label
    labels = torch.arange(CLASSES)
    assert attack.eval_selection(labels).tolist() == [c != TARGET for c in range(CLASSES)]
    assert (attack.attack_labels(labels) == TARGET).all()


@pytest.mark.parametrize("name", ALL)
def test_poison_is_deterministic_under_a_seed(name, adapter, surrogate):
    attack = make(name, adapter, surrogate, **({"poison_rate": 0.5} if name == "clb" else {}))
    first = attack.poison(RGB, make_generator(5))
    again = attack.poison(RGB, make_generator(5))
    assert again.index_hash == first.index_hash
    assert torch.equal(again.data.inputs, first.data.inputs)
    assert torch.equal(again.data.targets, first.data.targets)
    assert again.extra.keys() == first.extra.keys()
    for key in first.extra:
        assert torch.equal(again.extra[key], first.extra[key])
    other = attack.poison(RGB, make_generator(6))
    assert other.index_hash != first.index_hash


@pytest.mark.parametrize("name", SEEDED)
def test_pattern_seed_fixes_the_trigger(name, adapter):
    x = RGB.inputs[:8]
    base = make(name, adapter).apply_trigger(x)
    assert torch.equal(make(name, adapter, pattern_seed=0).apply_trigger(x), base)
    assert not torch.allclose(make(name, adapter, pattern_seed=1).apply_trigger(x), base)


def test_clb_is_reproducible_from_scratch(adapter):
    small = RGB.subset(torch.arange(64))

    def run(seed):
        attack = ATTACKS.get("clb", namespace="image").from_options(
            {**CLB_TEST, "surrogate_batch_size": 32}, CLASSES)
        torch.manual_seed(seed)          # the global RNG must not matter
        attack.prepare(small, adapter, torch.device("cpu"), seed=3)
        return attack.poison(small, make_generator(0))
    a, b = run(0), run(1)
    assert a.index_hash == b.index_hash and torch.equal(a.data.inputs, b.data.inputs)


# -- triggers -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("data", list(DATA), ids=list(DATA))
def test_trigger_range_shape_and_purity(name, data, adapter):
    attack = make(name, adapter)                        # triggers need no surrogate
    x = DATA[data].inputs
    x = torch.cat([x, torch.zeros_like(x[:2]), torch.ones_like(x[:2])])
    before = x.clone()
    y = attack.apply_trigger(x)
    assert torch.equal(x, before)                       # argument untouched
    assert y.data_ptr() != x.data_ptr()
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert changed_rows(y, x) >= set(range(len(x) - 4)), "every random image must change"
    assert torch.equal(attack.apply_trigger(x), y)      # deterministic


@pytest.mark.parametrize("name", NEEDS_PREPARE)
def test_learned_triggers_need_prepare_first(name):
    attack = ATTACKS.get(name, namespace="image").from_options({}, CLASSES)
    with pytest.raises(RuntimeError, match="prepare"):
        attack.apply_trigger(RGB.inputs[:4])
    if name != "cba":          # cba composes training images with each other: needs no prepare
        with pytest.raises(RuntimeError, match="prepare"):
            attack.poison(RGB, make_generator(0))


@pytest.mark.parametrize("name", ALL)
def test_trigger_rejects_non_image_batches(name, adapter):
    attack = make(name, adapter)
    with pytest.raises(ValueError, match="N, C, H, W"):
        attack.apply_trigger(RGB.inputs[0])
    with pytest.raises(ValueError, match="float"):
        attack.apply_trigger((RGB.inputs[:2] * 255).to(torch.uint8))


def test_badnets_checkerboard_in_the_corner(adapter):
    x = RGB.inputs[:4]
    y = make("badnets", adapter).apply_trigger(x)
    board = torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 0, 1]])
    assert torch.equal(y[..., -3:, :3], board.expand(4, 3, 3, 3))          # bottom-left
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[-3:, :3] = False
    assert torch.equal(y[..., outside], x[..., outside])
    official = make("badnets", adapter, corner="bottom_right", alpha=0.6).apply_trigger(x)
    torch.testing.assert_close(official[..., -3:, -3:], 0.4 * x[..., -3:, -3:] + 0.6 * board)
    assert torch.equal(official[..., :, :-3], x[..., :, :-3])


def test_blend_mixes_a_fixed_noise_image(adapter):
    attack = make("blend", adapter)
    noise = attack.apply_trigger(torch.zeros(1, 3, 32, 32))[0] / 0.2
    assert noise.std() > 0.2 and not torch.allclose(noise[0], noise[1])   # per-channel noise
    x = RGB.inputs[:4]
    torch.testing.assert_close(attack.apply_trigger(x), 0.8 * x + 0.2 * noise)
    grey = make("blend", adapter, shared_channels=True).apply_trigger(torch.zeros(1, 3, 8, 8))
    assert torch.equal(grey[0, 0], grey[0, 1]) and torch.equal(grey[0, 1], grey[0, 2])


def test_sig_adds_a_horizontal_sinusoid(adapter):
    x = torch.full((2, 3, 32, 32), 0.5)
    y = make("sig", adapter).apply_trigger(x)
    j = torch.arange(32, dtype=torch.float64)
    expected = 0.5 + 20 / 255 * torch.sin(2 * math.pi * j * 6 / 32)
    torch.testing.assert_close(y, expected.float().expand(2, 3, 32, 32))
    assert (y - x).abs().max() == pytest.approx(20 / 255, abs=1e-3)


def test_trojan_variants_share_a_watermark(adapter):
    x = RGB.inputs[:4]
    one, every = make("trojan_one", adapter), make("trojan_all", adapter)
    assert torch.equal(one.apply_trigger(x), every.apply_trigger(x))
    assert (one.attack_labels(torch.arange(CLASSES)) == 0).all()
    assert every.attack_labels(torch.arange(CLASSES)).tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert every.eval_selection(torch.arange(CLASSES)).all()
    mask, _ = one.watermark(x)
    assert 0.02 < mask.mean() < 0.3                     # a visible but partial mark
    changed = (one.apply_trigger(x) != x).any(dim=1)
    assert not changed[:, mask[0] == 0].any()           # only the watermark pixels change


def test_clb_four_corner_trigger_and_pgd_budget(adapter, surrogate):
    attack = make("clb", adapter, surrogate, target=TARGET)
    x = torch.full((2, 3, 32, 32), 0.5)
    y = attack.apply_trigger(x)
    right = torch.tensor([[0.0, 0, 1], [0, 1, 0], [1, 0, 1]])
    for rows in (slice(0, 3), slice(29, 32)):
        assert torch.equal(y[..., rows, 29:], right.expand(2, 3, 3, 3))
        assert torch.equal(y[..., rows, :3], right.flip(-1).expand(2, 3, 3, 3))
    assert (y[..., 3:29, :] == 0.5).all() and (y[..., :, 3:29] == 0.5).all()
    # PGD: inside the ε-ball and [0, 1], and it raises the surrogate's loss on the true label
    clean = RGB.inputs[RGB.targets == TARGET]
    adv = attack.perturb(clean, make_generator(0))
    assert (adv - clean).abs().max() <= 8 / 255 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1 and not torch.equal(adv, clean)
    # with a surrogate that has a real gradient (a fixed linear model) PGD raises its loss
    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, CLASSES))
    ascent = make("clb", adapter, linear, target=TARGET, pgd_steps=5)
    labels = torch.full((len(clean),), TARGET)
    with torch.no_grad():
        before = adapter.loss(linear, clean, labels)
        after = adapter.loss(linear, ascent.perturb(clean, make_generator(0)), labels)
    assert after > before + 0.2
    # poisoned images = PGD + trigger: off the corners they stay within ε of the clean image
    result = attack.poison(RGB, make_generator(0))
    diff = (result.data.inputs[result.indices] - RGB.inputs[result.indices]).abs()
    assert diff[..., 3:29, :].max() <= 8 / 255 + 1e-6 and diff.max() > 0.5


def test_clb_needs_prepare_unless_pgd_is_off(adapter):
    cls = ATTACKS.get("clb", namespace="image")
    with pytest.raises(RuntimeError, match="prepare"):
        cls.from_options({}, CLASSES).poison(RGB, make_generator(0))
    plain = cls.from_options({"pgd_steps": 0}, CLASSES)
    result = plain.poison(RGB, make_generator(0))
    torch.testing.assert_close(result.data.inputs[result.indices],
                               plain.apply_trigger(RGB.inputs[result.indices]))


def test_wanet_warp_and_noise_mode(adapter):
    attack = make("wanet", adapter)
    flat = torch.full((2, 3, 32, 32), 0.3)
    torch.testing.assert_close(attack.apply_trigger(flat), flat)     # no border leak
    grid = attack.grid(flat)
    assert grid.shape == (1, 32, 32, 2) and grid.abs().max() <= 1.0
    # the warp moves sampling points by about s / size on average (pixels: s / 2 · size / 2)
    identity = torch.stack(torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32),
                                          indexing="ij")[::-1], dim=-1)
    shift = (grid[0] - identity).abs().mean()
    assert 0.2 * 0.5 / 32 < shift < 2 * 0.5 / 32
    result = attack.poison(RGB, make_generator(0))
    noise = result.extra["noise_indices"]
    warped = attack.apply_trigger(RGB.inputs[noise])
    assert changed_rows(result.data.inputs[noise], warped) == set(range(len(noise)))
    off = make("wanet", adapter, cross_ratio=0).poison(RGB, make_generator(0))
    assert len(off.extra["noise_indices"]) == 0
    assert changed_rows(off.data.inputs, RGB.inputs) == set(off.indices.tolist())


def reference_floyd_steinberg(image: torch.Tensor, levels: int) -> torch.Tensor:
    """Sequential Floyd–Steinberg on one (C, H, W) float64 image (levels clipped)."""
    img = image.clone()
    c, h, w = img.shape
    scale = levels - 1
    for y in range(h):
        for x in range(w):
            old = img[:, y, x].clone()
            new = torch.round(old * scale).clamp(0, scale) / scale
            img[:, y, x] = new
            err = old - new
            for dy, dx, weight in ((0, 1, 7 / 16), (1, 1, 1 / 16), (1, 0, 5 / 16), (1, -1, 3 / 16)):
                if y + dy < h and 0 <= x + dx < w:
                    img[:, y + dy, x + dx] += err * weight
    return img


def test_bppa_dithering_matches_sequential_floyd_steinberg():
    x = torch.rand(3, 2, 9, 8, generator=make_generator(0), dtype=torch.float64)
    ours = floyd_steinberg(x, 8)
    for i in range(len(x)):
        torch.testing.assert_close(ours[i], reference_floyd_steinberg(x[i], 8), rtol=0, atol=1e-12)
    assert torch.allclose(ours * 7, torch.round(ours * 7))          # on the 8-level lattice
    assert (ours - x).abs().max() > 1 / 14                           # error diffusion moved it
    plain = squeeze(x, 8)
    assert (plain - x).abs().max() <= 1 / 14 + 1e-12


def test_bppa_negative_samples(adapter):
    attack = make("bppa", adapter)
    result = attack.poison(RGB, make_generator(0))
    neg, donors = result.extra["negative_indices"], result.extra["negative_donors"]
    assert len(donors) == len(neg) == 20 and not (donors == neg).any()
    residual = attack.apply_trigger(RGB.inputs[donors]) - RGB.inputs[donors]
    torch.testing.assert_close(result.data.inputs[neg], (RGB.inputs[neg] + residual).clamp(0, 1))
    plain = make("bppa", adapter, dithering=False).apply_trigger(RGB.inputs[:4])
    assert torch.allclose(plain * 7, torch.round(plain * 7), atol=1e-5)
    with pytest.raises(ValueError, match="negative"):
        make("bppa", adapter, poison_rate=0.5, neg_ratio=0.6).poison(RGB, make_generator(0))


# -- validation -----------------------------------------------------------------------------
INVALID = [
    ("badnets", {"poison_rate": 0.0}, "poison_rate"),
    ("blend", {"poison_rate": 1.5}, "poison_rate"),
    ("badnets", {"alpha": 0.0}, "alpha"),
    ("badnets", {"alpha": 1.2}, "alpha"),
    ("badnets", {"size": 0}, "size"),
    ("badnets", {"corner": "middle"}, "middle"),
    ("badnets", {"colour": 1}, "unknown option"),
    ("blend", {"alpha": 1.0}, "alpha"),
    ("trojan_one", {"all_to_all": True}, "trojan_all"),
    ("trojan_all", {"all_to_all": False}, "trojan_one"),
    ("trojan_one", {"alpha": -0.1}, "alpha"),
    ("trojan_one", {"num_strokes": 0}, "num_strokes"),
    ("sig", {"delta": 0.0}, "delta"),
    ("sig", {"frequency": -1}, "frequency"),
    ("sig", {"all_to_all": True}, "clean-label"),
    ("clb", {"all_to_all": True}, "clean-label"),
    ("clb", {"pgd_eps": -0.01}, "pgd_eps"),
    ("clb", {"pgd_step_size": 0}, "pgd_step_size"),
    ("clb", {"surrogate_epochs": 0}, "surrogate_epochs"),
    ("clb", {"amplitude": 2.0}, "amplitude"),
    ("wanet", {"k": 1}, "k must"),
    ("wanet", {"s": 0}, "s must"),
    ("wanet", {"cross_ratio": -1}, "cross_ratio"),
    ("bppa", {"squeeze_num": 1}, "squeeze_num"),
    ("bppa", {"squeeze_num": 300}, "squeeze_num"),
    ("bppa", {"neg_ratio": 1.0}, "neg_ratio"),
]


@pytest.mark.parametrize("name,options,message", INVALID,
                         ids=[f"{n}-{'-'.join(o)}" for n, o, _ in INVALID])
def test_invalid_options_raise(name, options, message):
    with pytest.raises(ValueError, match=message):
        ATTACKS.get(name, namespace="image").from_options(options, CLASSES)


def test_target_out_of_range_and_empty_target_class():
    with pytest.raises(ValueError, match="out of range"):
        ATTACKS.get("badnets", namespace="image").from_options({"target": 10}, CLASSES)
    no_target = TensorData(RGB.inputs[:30], torch.ones(30, dtype=torch.long))
    with pytest.raises(ValueError, match="no sample of the target class"):
        ATTACKS.get("sig", namespace="image").from_options({}, CLASSES).poison(
            no_target, make_generator(0))
