"""mAP, the clean-image prediction rule and the losses, against hand-computed cases."""
import pytest
import torch

from core.augment import MixUp
from tasks.detection.metrics import (asymmetric_loss, average_precision,
                                     average_precision_11point, bce_loss,
                                     mean_average_precision, predicted_labels)


def test_average_precision_hand_computed():
    # ranking by score: pos, neg, pos, neg, pos -> precisions at the positives 1, 2/3, 3/5
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    positives = torch.tensor([1, 0, 1, 0, 1])
    assert average_precision(scores, positives) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # order of the input does not matter, only the ranking
    perm = torch.tensor([3, 0, 4, 1, 2])
    assert average_precision(scores[perm], positives[perm]) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_eleven_point_ap_hand_computed():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    positives = torch.tensor([1, 0, 1, 0, 1])
    # recall 1/3 at p 1, 2/3 at p 2/3, 1 at p 3/5: thresholds 0..0.3 -> 1 (4 points),
    # 0.4..0.6 -> 2/3 (3 points), 0.7..1.0 -> 3/5 (4 points)
    expected = (4 * 1 + 3 * (2 / 3) + 4 * (3 / 5)) / 11
    assert average_precision_11point(scores, positives) == pytest.approx(expected)


def test_map_matches_sklearn_and_skips_categories_without_positives():
    sklearn = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(50, 4, generator=g)
    targets = (torch.rand(50, 4, generator=g) < 0.3).float()
    targets[:, 3] = 0   # no positive: left out
    value, skipped = mean_average_precision(scores, targets)
    reference = sum(sklearn.average_precision_score(targets[:, c].numpy(), scores[:, c].numpy())
                    for c in range(3)) / 3
    assert skipped == 1
    assert value == pytest.approx(100 * reference)


def test_perfect_ranking_has_map_100():
    targets = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]]).float()
    value, _ = mean_average_precision(targets * 0.8 + 0.1, targets)
    assert value == pytest.approx(100.0)


def test_predicted_labels_needs_top_k_and_threshold():
    scores = torch.tensor([[0.95, 0.9, 0.8, 0.1],
                           [0.5, 0.6, 0.7, 0.74]])
    predicted = predicted_labels(scores, top_k=2, threshold=0.75)
    assert predicted.tolist() == [[True, True, False, False],   # 0.8 is third: not in the top 2
                                  [False, False, False, False]]  # nothing above 0.75


def test_asl_without_focusing_is_bce_and_focusing_down_weights_easy_negatives():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 5, generator=g)
    targets = (torch.rand(8, 5, generator=g) < 0.4).float()
    plain = asymmetric_loss(logits, targets, gamma_neg=0, gamma_pos=0, clip=0)
    assert plain.item() == pytest.approx(bce_loss(logits, targets).item(), rel=1e-5)
    easy_negative = torch.tensor([[-4.0]]), torch.tensor([[0.0]])
    assert asymmetric_loss(*easy_negative) < 0.01 * bce_loss(*easy_negative)


@pytest.mark.parametrize("loss", [bce_loss, asymmetric_loss])
def test_mixup_of_multi_hot_rows_equals_the_mixed_losses(loss):
    """NFT's mix for multi-hot targets: core MixUp mixes the rows; with a loss linear in the
    target this is the official lam*L(y) + (1-lam)*L(y[perm])."""
    g = torch.Generator().manual_seed(2)
    x = torch.rand(6, 3, 8, 8, generator=g)
    y = (torch.rand(6, 4, generator=g) < 0.5).float()
    mix = MixUp(num_classes=4)
    mixed_x, mixed_y = mix(x, y, torch.Generator().manual_seed(3))
    replay = torch.Generator().manual_seed(3)     # MixUp draws lam, then the permutation
    lam = mix.sample_lambda(replay)
    perm = torch.randperm(6, generator=replay)
    assert torch.allclose(mixed_y, lam * y + (1 - lam) * y[perm])
    assert torch.allclose(mixed_x, lam * x + (1 - lam) * x[perm])
    logits = torch.randn(6, 4, generator=g)
    assert loss(logits, mixed_y).item() == pytest.approx(
        (lam * loss(logits, y) + (1 - lam) * loss(logits, y[perm])).item(), rel=1e-5)
