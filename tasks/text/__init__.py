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

What NFT does here (Multi30k, ``text_quick`` preset, 2 shared CPU cores; details in the preset):
with the official optimiser settings (lr 0.05, η_c from η₀/N_c or 1e-3, 150–300 steps) the masks
do not move (mean 0.9997): the clean cross-entropy's gradient on a mask is ~1e-4 here (a mean
over ~2,000 target tokens, no BatchNorm), smaller than the η_c pull back to 1, so AT stays
99–100 %. With lr 2.0 → 0.5, η_c = 1e-5 and 300 steps the masks move (mean 0.91) but AT stays
100 % unless the output head is masked too (``mask_classifier``); with it, exact-match AT falls
to 0 %. It falls largely because the head's mask on target-only tokens shrinks (the capital
"I" of "Ihr", which German captions never start a word with, ends at 0.07), so the attacker's
sentence can no longer be spelled exactly, while BLEU against it stays ~36: a target made only
of words common in clean references would likely survive. Read AT beside ``attack_bleu``.
"""
from . import attacks, augmentations, datasets, models  # (registration)
from .adapter import TextTask

__all__ = ["TextTask", "attacks", "augmentations", "datasets", "models"]
