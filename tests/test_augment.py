import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.augment import Compose, Identity, MixUp, soft_cross_entropy, to_soft
from core.seeding import derive_seed


def test_mixup_matches_its_definition():
    x = torch.randn(8, 3, 4, 4)
    y = torch.arange(8) % 4
    mix = MixUp(num_classes=4, alpha=1.0)
    gen = torch.Generator().manual_seed(7)
    mixed, soft = mix(x, y, gen)
    # replay the same draws
    replay = torch.Generator().manual_seed(7)
    lam = float(np.random.default_rng(derive_seed(replay)).beta(1.0, 1.0))
    perm = torch.randperm(8, generator=replay)
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])
    onehot = F.one_hot(y, 4).float()
    torch.testing.assert_close(soft, lam * onehot + (1 - lam) * onehot[perm])
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(8))
    assert 0.0 < lam < 1.0


def test_soft_cross_entropy_equals_official_mixup_criterion():
    logits = torch.randn(6, 5)
    ya, yb, lam = torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([1, 1, 0, 4, 2, 3]), 0.3
    soft = lam * F.one_hot(ya, 5).float() + (1 - lam) * F.one_hot(yb, 5).float()
    official = lam * F.cross_entropy(logits, ya) + (1 - lam) * F.cross_entropy(logits, yb)
    torch.testing.assert_close(soft_cross_entropy(logits, soft), official)
    torch.testing.assert_close(soft_cross_entropy(logits, ya), F.cross_entropy(logits, ya))


def test_mixup_alpha_zero_is_identity_and_seeded():
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 0, 1])
    out, soft = MixUp(2, alpha=0.0)(x, y, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x)
    a = MixUp(2)(x, y, torch.Generator().manual_seed(3))
    b = MixUp(2)(x, y, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a[0], b[0])
    with pytest.raises(ValueError):
        MixUp(2, alpha=-1)


def test_compose_and_identity():
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 0, 1])
    double = lambda a, b, g: (a * 2, b)
    out, _ = Compose(Identity(), double, double)(x, y, torch.Generator())
    torch.testing.assert_close(out, x * 4)
    assert to_soft(torch.tensor([1]), 3).tolist() == [[0.0, 1.0, 0.0]]
    with pytest.raises(ValueError):
        to_soft(torch.tensor([1]), None)


def test_bind_reaches_augmentations_that_ask_for_the_model():
    seen = []

    class NeedsModel:
        def bind(self, model, loss_fn):
            seen.append((model, loss_fn(torch.ones(1), torch.zeros(1))))

        def __call__(self, x, y, g):
            return x, y

    from core.augment import bind_augmentation
    bind_augmentation(Compose(Identity(), NeedsModel()), "model", lambda x, y: (x - y).sum())
    assert seen == [("model", torch.tensor(1.0))]
