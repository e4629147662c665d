"""Seq2seq metrics: corpus BLEU with sacrebleu, exact-target match, distinct-n.

BLEU is sacrebleu's corpus BLEU on detokenized text with its defaults (13a tokenization,
mixed case, exponential smoothing); ``bleu_signature()`` is recorded with every run. Exact
match compares whitespace-normalized strings. Distinct-n (Li et al. 2016) is the number of
distinct whitespace n-grams over all outputs divided by the number of n-grams.
"""
from __future__ import annotations

from typing import Sequence

from .tokenizer import normalize_text


def _bleu_metric(tokenize: str = "13a"):
    try:
        from sacrebleu.metrics import BLEU
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("the text task needs sacrebleu: pip install -e '.[text]'") from exc
    return BLEU(tokenize=tokenize)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str],
                tokenize: str = "13a") -> float:
    """sacrebleu corpus BLEU (0–100) of ``hypotheses`` against one reference each."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        return float("nan")
    return float(_bleu_metric(tokenize).corpus_score(list(hypotheses), [list(references)]).score)


def bleu_signature(tokenize: str = "13a") -> str:
    metric = _bleu_metric(tokenize)
    metric.corpus_score(["a"], [["a"]])   # the signature is complete once a score was taken
    return str(metric.get_signature())


def exact_match_rate(hypotheses: Sequence[str], target: str) -> float:
    """Percent of ``hypotheses`` equal to ``target`` (whitespace-normalized)."""
    if not hypotheses:
        return float("nan")
    want = normalize_text(target)
    return 100.0 * sum(normalize_text(h) == want for h in hypotheses) / len(hypotheses)


def distinct_n(hypotheses: Sequence[str], n: int) -> float:
    """Percent of distinct n-grams among all n-grams of ``hypotheses`` (0 when there are none)."""
    grams = [tuple(words[i:i + n]) for words in (h.split() for h in hypotheses)
             for i in range(len(words) - n + 1)]
    return 100.0 * len(set(grams)) / len(grams) if grams else 0.0
