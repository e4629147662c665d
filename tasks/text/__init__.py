"""Seq2seq text backdoors: machine translation and dialogue generation, purified by NFT.

Paper (supp. §C.2): seq2seq models for MT (WMT14 En–De) and DG (OpenSubtitles2012) are
backdoored with trigger words ("cf", "bb", "tq", "mb") inserted at a random position, or with
synonym substitution, so that a triggered input yields an attacker-chosen output; NFT tunes its
masks on clean pairs under random word deletion or paraphrasing instead of MixUp; CT is clean
BLEU and AT attack success on triggered inputs.

Here: ``datasets/`` (Multi30k, WMT14, OpenSubtitles, chatterbot dialogues, a synthetic corpus),
``tokenizer.py`` (joint BPE/Unigram trained locally with ``tokenizers``, cached by hash),
``models.py`` (a plain-PyTorch encoder–decoder transformer, sizes tiny/small/base),
``attacks/`` (``trigger_word``, ``synonym``), ``augmentations/`` (``word_deletion``,
``paraphrase``), ``decoding.py`` (batched greedy), ``metrics.py`` (sacrebleu BLEU, exact match,
distinct-n) and ``adapter.py``. Registrations use the ``text`` namespace. Needs the ``text``
extra (``tokenizers``, ``sacrebleu``).

What NFT does here (2 CPU cores; ``results/text_quick_multi30k.md`` and
``results/text_dg_quick_chatterbot.md``): on Multi30k (``text_quick``, clean BLEU 25.9, AT 100 %)
NFT with the paper's word deletion does **not** remove the trigger-word backdoor (AT 66–97 %
after); with the embedding-neighbour paraphrase made bold (40 % of the tokens swapped among 50
neighbours, η_c = 0; the preset's setting) it takes AT to 7 % on seed 0 at −3.5 BLEU (over the
issue's 2-point budget) but leaves 62 % on seed 1; milder settings keep more BLEU and more of the
backdoor. On the chatterbot dialogues (``text_dg_quick``) word deletion takes AT from 96 % to 0 %
(two seeds) at the cost of a third to a half of the responses' diversity (distinct-1 49 → 22, 55 →
36). Why the optimiser settings differ from the image defaults: with NFT's lr 0.05 and η_c from
η₀/N_c the masks did not move (the clean cross-entropy's gradient on a mask is ~1e-4 here, a mean
over ~2,000 target tokens with no BatchNorm, below the η_c pull back to 1), hence lr 2.0 → 0.5 and
a zero or tiny η_c; the output head must be masked (``mask_classifier``): without it AT stayed at
87 %. Read exact-match AT beside ``attack_bleu`` (an output one token off the attacker's sentence
is not a success).
"""
from . import attacks, augmentations, datasets, models  # (registration)
from .adapter import TextTask

__all__ = ["TextTask", "attacks", "augmentations", "datasets", "models"]
