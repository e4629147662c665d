"""Multi-label metrics and losses: average precision, mAP, the clean-image attack's prediction rule,
and the asymmetric loss.

mAP protocol (stated in every record as ``map_protocol``): per category, the *non-interpolated*
average precision over the ranking of all test images by that category's score — the mean of
the precision at the rank of each positive image (ties broken by stable order, highest score
first). This is what the ASL / ML-Decoder code used by Chen et al. computes and what
scikit-learn's ``average_precision_score`` computes; it equals the area under the stepwise PR
curve ("all-point" without the VOC monotone envelope). ``map`` averages it over the categories
that have at least one positive test image (categories without one are left out and counted).
``map_voc07`` is the VOC2007 11-point interpolated AP (max precision at recall ≥ 0, 0.1, …, 1),
given for comparison with older VOC tables.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def average_precision(scores: torch.Tensor, positives: torch.Tensor) -> float:
    """Non-interpolated AP of one category: mean precision at the ranks of the positives."""
    scores, positives = scores.double().flatten(), positives.bool().flatten()
    total = int(positives.sum())
    if total == 0:
        return float("nan")
    order = torch.argsort(scores, descending=True, stable=True)
    hits = positives[order].double()
    precision = torch.cumsum(hits, 0) / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    return float((precision * hits).sum() / total)


def average_precision_11point(scores: torch.Tensor, positives: torch.Tensor) -> float:
    """VOC2007 11-point interpolated AP of one category."""
    scores, positives = scores.double().flatten(), positives.bool().flatten()
    total = int(positives.sum())
    if total == 0:
        return float("nan")
    order = torch.argsort(scores, descending=True, stable=True)
    hits = positives[order].double()
    tp = torch.cumsum(hits, 0)
    precision = tp / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    recall = tp / total
    points = []
    for t in torch.linspace(0, 1, 11, dtype=torch.float64):
        reach = recall >= t - 1e-12
        points.append(float(precision[reach].max()) if reach.any() else 0.0)
    return sum(points) / 11.0


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor,
                           eleven_point: bool = False) -> tuple[float, int]:
    """(mAP in percent over categories with a positive, number of categories left out)."""
    fn = average_precision_11point if eleven_point else average_precision
    aps = [fn(scores[:, c], targets[:, c] > 0.5) for c in range(scores.shape[1])]
    valid = [a for a in aps if a == a]
    if not valid:
        return float("nan"), len(aps)
    return 100.0 * sum(valid) / len(valid), len(aps) - len(valid)


def predicted_labels(scores: torch.Tensor, top_k: int, threshold: float) -> torch.Tensor:
    """Chen et al.'s rule: a category is predicted when its sigmoid score is among the image's
    ``top_k`` highest and above ``threshold``. ``scores`` are probabilities (N, C) -> bool (N, C)."""
    k = min(top_k, scores.shape[1])
    top = torch.zeros_like(scores, dtype=torch.bool)
    top.scatter_(1, scores.topk(k, dim=1).indices, True)
    return top & (scores > threshold)


def asymmetric_loss(logits: torch.Tensor, targets: torch.Tensor, gamma_neg: float = 4.0,
                    gamma_pos: float = 0.0, clip: float = 0.05, eps: float = 1e-8,
                    reduction: str = "mean") -> torch.Tensor:
    """ASL (Ridnik et al., ICCV 2021; defaults γ− 4, γ+ 0, clip 0.05 of their code, used by
    ML-Decoder and so by Chen et al.). Soft targets y ∈ [0, 1] weight the positive and negative
    terms linearly (what MixUp of multi-hot rows needs). Summed over categories; ``mean`` over
    the batch, ``none`` gives one value per sample."""
    logits, targets = logits.float(), targets.float()
    p = torch.sigmoid(logits)
    p_neg = (p - clip).clamp(min=0) if clip > 0 else p
    loss_pos = targets * torch.log(p.clamp(min=eps)) * (1 - p).pow(gamma_pos)
    loss_neg = (1 - targets) * torch.log((1 - p_neg).clamp(min=eps)) * p_neg.pow(gamma_neg)
    per_sample = -(loss_pos + loss_neg).sum(dim=1)
    return per_sample.mean() if reduction == "mean" else per_sample


def bce_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy summed over categories (mean over the batch, or per sample)."""
    per_sample = F.binary_cross_entropy_with_logits(logits.float(), targets.float(),
                                                    reduction="none").sum(dim=1)
    return per_sample.mean() if reduction == "mean" else per_sample
