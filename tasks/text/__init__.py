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

What NFT does here (Multi30k, ``text_quick`` preset, 2 CPU cores; figures in
``results/text_quick_multi30k.md``): on the model trained with AdamW (clean BLEU 25.9, AT 100 %)
NFT does **not** remove the backdoor: AT 93 % after (BLEU −1.9); more steps, a higher lr, no
regulariser or paraphrasing reach 71–97 % at −1.2 to −4.3 BLEU; vanilla FT reaches 55 %.
History, on an earlier weaker model (BLEU 14.7): with the official optimiser settings (lr 0.05,
η_c from η₀/N_c or 1e-3) the masks did not move (the clean cross-entropy's gradient on a mask is
~1e-4 here, a mean over ~2,000 target tokens with no BatchNorm, below the η_c pull back to 1);
with lr 2.0 → 0.5, η_c = 1e-5, 300 steps and ``mask_classifier`` exact-match AT fell to 0 %,
largely because the head's mask on target-only tokens shrank (the attacker's sentence could no
longer be spelled exactly, while BLEU against it stayed ~36). Read AT beside ``attack_bleu``.
"""
from . import attacks, augmentations, datasets, models  # (registration)
from .adapter import TextTask

__all__ = ["TextTask", "attacks", "augmentations", "datasets", "models"]
