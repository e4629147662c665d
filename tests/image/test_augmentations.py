"""Image augmentations: every registered one keeps shape/dtype/range and is seeded; each one's
defining property (crop offsets and flips, CutMix label = pasted area, Cutout hole, per-sample
RandAugment / AugMix ops, PGD budget and loss increase without parameter gradients); the shared
ops against torchvision's reference implementations."""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import nn

from core.augment import Compose, bind_augmentation, soft_cross_entropy
from core.registry import AUGMENTATIONS
from core.seeding import derive_seed
from tasks.image.augmentations import (IMAGE_AUGMENTATIONS, AugMix, Cutout, CutMix, PGDAugment,
                                       RandAugment, RandomCropFlip, ops)
from tasks.image.augmentations.augmix import AUGMIX_COLOR_OPS, AUGMIX_OPS
from tasks.image.augmentations.ops import OpSpec
from tasks.image.augmentations.randaugment import RANDAUGMENT_OPS

NAMES = ["augmix", "crop_flip", "cutmix", "cutout", "pgd", "randaugment"]
SOFT = {"cutmix"}              # return soft label rows; the others leave labels as they are
ADAPTER = types.SimpleNamespace(num_classes=10)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tiny_model(channels: int = 3, num_classes: int = 10) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, num_classes))


def build(name: str, model: nn.Module | None = None, **options):
    aug = AUGMENTATIONS.build(name, ADAPTER, namespace="image", **options)
    if hasattr(aug, "bind"):
        model = model if model is not None else tiny_model()
        aug.bind(model, lambda x, y: soft_cross_entropy(model(x), y))
    return aug


def batch(n: int = 8, c: int = 3, h: int = 32, w: int = 32, dtype=torch.float32, seed: int = 0):
    g = gen(seed)
    return (torch.rand(n, c, h, w, generator=g).to(dtype),
            torch.randint(0, 10, (n,), generator=g))


# -- every registered augmentation -------------------------------------------------------------
def test_registry_has_the_six_image_augmentations():
    assert sorted(IMAGE_AUGMENTATIONS) == NAMES
    visible = AUGMENTATIONS.names("image")
    for name in NAMES:
        assert name in visible and f"image/{name}" in AUGMENTATIONS
    with pytest.raises(TypeError):
        AUGMENTATIONS.build("cutout", ADAPTER, namespace="image", no_such_option=1)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape,dtype", [((8, 3, 32, 32), torch.float32),
                                         ((4, 1, 24, 20), torch.float64)])
def test_shape_dtype_range_and_labels(name, shape, dtype):
    x, y = batch(*shape, dtype=dtype)
    x[0] = 0.0                                  # extremes must stay in range too
    x[1] = 1.0
    before = x.clone()
    model = tiny_model(channels=shape[1]).to(dtype)
    out, targets = build(name, model)(x, y, gen(1))
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert out.min() >= 0 and out.max() <= 1 and torch.isfinite(out).all()
    assert torch.equal(x, before), "the input batch must not be changed in place"
    assert not torch.equal(out, x), f"{name} did nothing"
    if name in SOFT:
        assert targets.shape == (len(y), 10) and targets.is_floating_point()
        torch.testing.assert_close(targets.sum(dim=1), torch.ones(len(y)))
        assert (targets >= 0).all()
    else:
        assert torch.equal(targets, y)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output_other_seed_differs(name):
    x, y = batch()
    aug = build(name)
    a, ya = aug(x, y, gen(5))
    b, yb = aug(x, y, gen(5))
    c, _ = aug(x, y, gen(6))
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)


# -- crop + flip --------------------------------------------------------------------------------
def reference_crop_flip(x, dy, dx, flip, padding, mode="constant"):
    padded = F.pad(x, (padding,) * 4, mode=mode)
    out = []
    for i in range(len(x)):                     # per-sample reference (tests may loop)
        crop = padded[i, :, dy[i]:dy[i] + x.shape[2], dx[i]:dx[i] + x.shape[3]]
        out.append(crop.flip(-1) if flip[i] else crop)
    return torch.stack(out)


@pytest.mark.parametrize("mode,torch_mode", [("zeros", "constant"), ("reflect", "reflect")])
def test_crop_flip_matches_per_sample_crop_and_flip(mode, torch_mode):
    x, y = batch(n=64, h=16, w=12)
    aug = RandomCropFlip(padding=4, padding_mode=mode)
    out, _ = aug(x, y, gen(3))
    dy, dx, flip = aug.sample_params(64, gen(3))
    assert len(set(dy.tolist())) > 3 and len(set(dx.tolist())) > 3     # offsets really vary
    assert 0 < int(flip.sum()) < 64                                     # some flipped, some not
    torch.testing.assert_close(out, reference_crop_flip(x, dy, dx, flip, 4, torch_mode),
                               rtol=0, atol=0)


def test_crop_flip_moves_a_known_pixel_by_the_offset():
    n, p, h, w = 32, 4, 32, 32
    x = torch.zeros(n, 1, h, w)
    x[:, :, 10, 7] = 1.0
    aug = RandomCropFlip(padding=p)
    out, _ = aug(x, torch.zeros(n, dtype=torch.long), gen(11))
    dy, dx, flip = aug.sample_params(n, gen(11))
    for i in range(n):
        row, col = 10 + p - int(dy[i]), 7 + p - int(dx[i])   # position in the crop
        if flip[i]:
            col = w - 1 - col
        where = torch.nonzero(out[i, 0]).tolist()
        assert where == [[row, col]], (i, where, row, col)


def test_crop_flip_options():
    x, y = batch()
    out, _ = RandomCropFlip(padding=0, flip=False)(x, y, gen())
    assert torch.equal(out, x)
    out, _ = RandomCropFlip(padding=0, flip=True)(x, y, gen(2))
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    same = (out == x).flatten(1).all(1)
    assert (flipped | same).all() and flipped.any() and same.any()
    with pytest.raises(ValueError):
        RandomCropFlip(padding_mode="wrap")
    with pytest.raises(ValueError):
        RandomCropFlip(padding=-1)


# -- CutMix -------------------------------------------------------------------------------------
@pytest.mark.parametrize("per_sample", [False, True])
def test_cutmix_label_is_the_pasted_area(per_sample):
    n = 10                                     # sample i: constant value (i + 1) / 20, class i
    x = ((torch.arange(n, dtype=torch.float32) + 1) / 20).view(n, 1, 1, 1).expand(n, 3, 16, 16)
    y = torch.arange(n)
    aug = CutMix(num_classes=10, per_sample=per_sample)
    out, soft = aug(x.contiguous(), y, gen(4))
    values = (torch.arange(n, dtype=torch.float32) + 1) / 20
    # fraction of each sample's pixels that came from the image of class c
    fraction = (out[:, 0].reshape(n, 1, -1) == values.view(1, n, 1)).float().mean(dim=2)
    torch.testing.assert_close(soft, fraction)
    mixed = (soft.max(dim=1).values < 1).sum()
    assert mixed >= 1, "no sample got a box: the test would be vacuous"
    boxes = aug.sample_boxes(n, 16, 16, gen(4))
    if per_sample:
        assert len({tuple(b) for b in boxes.tolist()}) > 1
    else:
        assert len({tuple(b) for b in boxes.tolist()}) == 1


def test_cutmix_prob_zero_keeps_images_and_makes_one_hot_rows():
    x, y = batch()
    out, soft = CutMix(num_classes=10, prob=0.0)(x, y, gen())
    assert torch.equal(out, x)
    assert torch.equal(soft, F.one_hot(y, 10).float())
    with pytest.raises(ValueError):
        CutMix(num_classes=10, alpha=0)


# -- Cutout -------------------------------------------------------------------------------------
def test_cutout_zeroes_exactly_the_box():
    x, y = batch(n=32)
    x = x * 0.9 + 0.1                          # no zero pixels before the hole
    aug = Cutout()
    out, _ = aug(x, y, gen(9))
    boxes = aug.sample_boxes(32, 32, 32, gen(9))
    areas = []
    for i, (y0, y1, x0, x1) in enumerate(boxes.tolist()):
        inside = torch.zeros(32, 32, dtype=torch.bool)
        inside[y0:y1, x0:x1] = True
        assert (out[i][:, inside] == 0).all()
        assert torch.equal(out[i][:, ~inside], x[i][:, ~inside])
        areas.append((y1 - y0) * (x1 - x0))
    assert max(areas) == 16 * 16 and min(areas) < 16 * 16   # full holes and clipped ones
    assert aug.hole_size(64, 64) == 32 and Cutout(size=8).hole_size(64, 64) == 8


def test_cutout_fill_value():
    x, y = batch(n=4)
    out, _ = Cutout(size=8, fill=0.5)(x, y, gen())
    assert ((out == 0.5) & (x != 0.5)).flatten(1).sum(1).gt(0).all()


# -- RandAugment and AugMix ---------------------------------------------------------------------
@pytest.mark.parametrize("aug", [RandAugment(), AugMix(), AugMix(all_ops=True, depth=2)],
                         ids=["randaugment", "augmix", "augmix_all_ops"])
def test_ops_are_drawn_per_sample(aug):
    one = torch.rand(1, 3, 32, 32, generator=gen(2))
    x = one.expand(16, 3, 32, 32).contiguous()
    out, _ = aug(x, torch.zeros(16, dtype=torch.long), gen(3))
    distinct = {tuple(o.flatten()[:64].tolist()) for o in out}
    assert len(distinct) > 8, "identical inputs should get different per-sample ops"


def test_per_sample_dispatch_equals_applying_each_op_alone():
    x, _ = batch(n=40, h=20, w=24)
    specs = RANDAUGMENT_OPS
    g = gen(8)
    choice = (torch.arange(40) % (len(specs) + 1) - 1)[torch.randperm(40, generator=g)]
    level = torch.rand(40, generator=g)
    sign = torch.randint(0, 2, (40,), generator=g) * 2.0 - 1.0
    out = ops.apply_per_sample(x, choice, level, sign, specs)
    for i in range(40):
        k = int(choice[i])
        if k < 0 or specs[k].fn is None and specs[k].theta is None:
            expected = x[i:i + 1]
        else:
            spec = specs[k]
            lv = level[i:i + 1] * (sign[i:i + 1] if spec.signed else 1.0)
            value = spec.value(lv)
            expected = (spec.fn(x[i:i + 1], value) if spec.fn is not None
                        else ops.affine(x[i:i + 1], spec.theta(value, 20, 24)))
        torch.testing.assert_close(out[i:i + 1], expected, msg=f"sample {i}, op {k}")
    assert len(set(choice.tolist())) == len(specs) + 1


def test_randaugment_settings():
    x, y = batch()
    out, _ = RandAugment(num_ops=0)(x, y, gen())
    assert torch.equal(out, x)
    assert RandAugment().level == pytest.approx(9 / 30)
    assert len(RANDAUGMENT_OPS) == 14 and len(AUGMIX_OPS) == 9 and len(AUGMIX_COLOR_OPS) == 4
    with pytest.raises(ValueError):
        RandAugment(magnitude=31)
    with pytest.raises(ValueError):
        AugMix(severity=0)


@pytest.mark.parametrize("depth", [1, 2, -1])
def test_augmix_mixes_the_chains_with_the_original(monkeypatch, depth):
    # one op that halves the image: a chain of depth d gives x / 2^d, so the output must be
    # (1 − m)·x + m·Σ_c w_c·x / 2^(d_c) with w ~ Dirichlet(1, 1, 1) and m ~ Beta(1, 1)
    halve = OpSpec("halve", ops.brightness, lambda v: torch.full_like(v, 0.5))
    monkeypatch.setattr(AugMix, "op_set", property(lambda self: (halve,)))
    n = 16
    x, y = batch(n=n)
    out, _ = AugMix(depth=depth)(x, y, gen(4))
    replay = gen(4)                                       # replay the draws in their order
    rng = np.random.default_rng(derive_seed(replay))
    weights = torch.from_numpy(rng.dirichlet([1.0] * 3, size=n)).float()
    m = torch.from_numpy(rng.beta(1.0, 1.0, size=n)).float()
    scale = torch.zeros(n)
    for chain in range(3):
        if depth > 0:
            d = torch.full((n,), depth)
        else:
            d = torch.randint(1, 4, (n,), generator=replay)
            for _ in range(3):                            # choice, level, sign per step
                torch.randint(0, 1, (n,), generator=replay)
                torch.rand(n, generator=replay)
                torch.randint(0, 2, (n,), generator=replay)
        scale += weights[:, chain] * 0.5 ** d.float()
    assert m.std() > 0.1                                  # one m per sample
    expected = ((1 - m) + m * scale).view(-1, 1, 1, 1) * x
    torch.testing.assert_close(out, expected)


# -- shared ops against torchvision -------------------------------------------------------------
@pytest.mark.parametrize("factor", [0.0, 0.3, 1.0, 1.7])
def test_colour_ops_match_torchvision(factor):
    x, _ = batch(n=4, h=12, w=10)
    f = torch.full((4,), factor)
    pairs = [(ops.brightness, TF.adjust_brightness), (ops.contrast, TF.adjust_contrast),
             (ops.color, TF.adjust_saturation), (ops.sharpness, TF.adjust_sharpness)]
    for ours, theirs in pairs:
        torch.testing.assert_close(ours(x, f), theirs(x, factor), msg=ours.__name__)


def test_tone_ops_match_torchvision():
    x, _ = batch(n=4, h=12, w=10)
    x8 = torch.round(x * 255).to(torch.uint8)
    for bits in (1, 4, 6, 8):
        ours = ops.posterize(x8.float() / 255, torch.full((4,), float(bits)))
        assert torch.equal(torch.round(ours * 255).to(torch.uint8), TF.posterize(x8, bits))
    big = torch.round(batch(n=3, h=48, w=40)[0] * 255).to(torch.uint8)   # ≥ 255 px: step > 0
    for image in (big, big // 4 + 100, big // 64 * 60):                  # full, narrow, sparse
        ours = ops.equalize(image.float() / 255)
        assert torch.equal(torch.round(ours * 255).to(torch.uint8), TF.equalize(image))
    assert not torch.equal(TF.equalize(big // 4 + 100), big // 4 + 100)
    assert torch.equal(ops.equalize(x8.float() / 255), x8.float() / 255)  # small: step 0
    for threshold in (0.2, 0.5, 0.9):
        torch.testing.assert_close(ops.solarize(x, torch.full((4,), threshold)),
                                   TF.solarize(x, threshold))
    assert torch.equal(ops.solarize(torch.ones(1, 1, 2, 2), torch.tensor([256 / 255])),
                       torch.ones(1, 1, 2, 2))
    at = torch.tensor([0.25, 0.6, 0.75]).view(1, 1, 1, 3)    # the threshold itself is inverted
    torch.testing.assert_close(ops.solarize(at, torch.tensor([0.6])), TF.solarize(at, 0.6))
    torch.testing.assert_close(ops.solarize(at, torch.tensor([0.6])),
                               torch.tensor([0.25, 0.4, 0.25]).view(1, 1, 1, 3))
    scaled = x * 0.5 + 0.2
    scaled[0, 1] = 0.3                          # a constant channel is left alone
    torch.testing.assert_close(ops.autocontrast(scaled), TF.autocontrast(scaled))


def test_geometric_ops():
    x, _ = batch(n=2, h=16, w=16)
    # translate by an integer number of pixels: an exact shift with zero fill
    out = ops.translate_x(x, torch.tensor([3 / 16, -2 / 16]))
    assert torch.equal(out[0, :, :, 3:], x[0, :, :, :-3]) and (out[0, :, :, :3] == 0).all()
    assert torch.equal(out[1, :, :, :-2], x[1, :, :, 2:]) and (out[1, :, :, -2:] == 0).all()
    out = ops.translate_y(x, torch.tensor([1 / 16, 0.0]))
    assert torch.equal(out[0, :, 1:], x[0, :, :-1]) and torch.equal(out[1], x[1])
    # +90° is counter-clockwise, as torchvision's rotate
    torch.testing.assert_close(ops.rotate(x, torch.tensor([90.0, -90.0])),
                               torch.stack([torch.rot90(x[0], 1, (-2, -1)),
                                            torch.rot90(x[1], -1, (-2, -1))]))
    torch.testing.assert_close(ops.rotate(x, torch.tensor([90.0, 0.0]))[:1],
                               TF.rotate(x[:1], 90.0))
    # shear about the centre: the rows straddling the centre move by less than a pixel
    out = ops.shear_x(x, torch.tensor([0.3, 0.0]))
    assert torch.equal(out[1], x[1]) and not torch.equal(out[0], x[0])
    assert torch.equal(out[0, :, 7:9], x[0, :, 7:9])
    # the broadcast grid equals affine_grid
    theta = ops.rotate_theta(torch.tensor([17.0, -33.0]), 16, 12)
    y = torch.rand(2, 3, 16, 12, generator=gen())
    reference = F.grid_sample(y, F.affine_grid(theta, [2, 3, 16, 12], align_corners=False),
                              mode="nearest", align_corners=False)
    torch.testing.assert_close(ops.affine(y, theta), reference)


# -- PGD ----------------------------------------------------------------------------------------
def test_pgd_increases_the_loss_within_eps_without_parameter_gradients():
    model = tiny_model()
    model.train()
    loss_fn = lambda x, y: F.cross_entropy(model(x), y)   # noqa: E731
    x, y = batch(n=16)
    x[:2] = torch.where(x[:2] > 0.5, 1.0, 0.0)             # pixels at the [0, 1] bounds
    buffers = [b.clone() for b in model.buffers()]
    aug = PGDAugment()
    aug.bind(model, loss_fn)
    with torch.no_grad():                                  # the attack must enable grad itself
        adv, targets = aug(x, y, gen())
    assert torch.equal(targets, y)
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6
    assert (adv - x).abs().max() > 7 / 255                # it used the budget
    assert adv.min() >= 0 and adv.max() <= 1
    assert all(p.grad is None for p in model.parameters())
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers()))
    with torch.no_grad():                                  # same (train-mode) function
        clean_loss, adv_loss = loss_fn(x, y).item(), loss_fn(adv, y).item()
    assert adv_loss > clean_loss + 0.05, (clean_loss, adv_loss)
    model.eval()
    adv_eval, _ = aug(x, y, gen())
    assert not model.training and not any(m.training for m in model.modules())
    with torch.no_grad():
        clean_loss, adv_loss = loss_fn(x, y).item(), loss_fn(adv_eval, y).item()
    assert adv_loss > clean_loss + 0.005, (clean_loss, adv_loss)


def test_pgd_needs_bind_and_is_reached_by_bind_augmentation():
    x, y = batch()
    aug = AUGMENTATIONS.build("pgd", ADAPTER, namespace="image", steps=3)
    with pytest.raises(RuntimeError, match="bind"):
        aug(x, y, gen())
    model = tiny_model()
    bind_augmentation(Compose(RandomCropFlip(), aug), model,
                      lambda a, b: soft_cross_entropy(model(a), b))
    out, _ = aug(x, y, gen())
    assert (out - x).abs().max() <= 8 / 255 + 1e-6
    no_start = PGDAugment(steps=0, random_start=False)
    no_start.bind(model, lambda a, b: soft_cross_entropy(model(a), b))
    assert torch.equal(no_start(x, y, gen())[0], x)


# -- inside the NFT loop ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic():
    import tasks.synthetic  # noqa: F401  (registers the synthetic task)
    from core.registry import TASKS
    adapter = TASKS.get("synthetic")()
    splits = adapter.load_splits("synthetic", None, {"train_size": 200, "test_size": 50,
                                                     "clean_per_class": 4, "image_size": 12},
                                 seed=0)
    torch.manual_seed(0)
    return adapter, splits, adapter.build_model("tiny_cnn", splits)


def test_every_augmentation_runs_in_the_purify_loop(synthetic):
    from core.purify import NFTConfig, nft_purify
    adapter, splits, model = synthetic
    config = NFTConfig(iterations=3, batch_size=16, progress=False)
    crop = AUGMENTATIONS.build("crop_flip", adapter, namespace="image")
    first = {}
    for name in ["none", *NAMES]:
        aug = Compose(crop, AUGMENTATIONS.build(name, adapter, namespace="image"))
        result = nft_purify(model, adapter, splits.clean, aug, config, "cpu", seed=0)
        assert len(result.loss_curve) == 3 and all(map(np.isfinite, result.loss_curve)), name
        assert any(min(v) < 1.0 for v in result.masks.values()), name
        first[name] = result.loss_curve[0]
    # the same first batch and crop (the batch indices are drawn before the loop): PGD raises
    # the loss of the same masked model on it
    assert first["pgd"] > first["none"] + 0.05, first
