"""Dialogue generation corpora: (context turn → response turn) pairs.

``opensubtitles``: OpenSubtitles2012 English (the paper's DG set, via Sun et al., AAAI 2023),
consecutive subtitle lines taken as context and response. ``chatterbot``: the real short English
dialogues shipped in the ``chatterbot-corpus`` package (~2,400 adjacent turn pairs), the DG set
available offline. Both are prepared by ``data_scripts/opensubtitles.py`` into the same layout as
WMT14: ``<root>/<name>/{src,tgt}-{train,val,test}.txt[.gz]`` (src = context, tgt = response).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

from .corpus import Corpus, Pairs, TextDataset, count_summary
from .text_files import require_folder
from . import wmt14
from .wmt14 import load_folder

OPENSUBTITLES = "opensubtitles"
CHATTERBOT = "chatterbot"
PREPARE = {
    OPENSUBTITLES: "python data_scripts/opensubtitles.py --data-root DIR "
                   "[--from-folder FOLDER_WITH_en.txt.gz]",
    CHATTERBOT: "python data_scripts/opensubtitles.py --data-root DIR --chatterbot "
                "(needs: pip install chatterbot-corpus)",
}
is_dataset = wmt14.is_dataset   # the same file layout as WMT14
EXPECTED = "{src,tgt}-{train,val,test}.txt[.gz] (context, response)"


def adjacent_pairs(turns: Sequence[str]) -> Pairs:
    """Each turn and the turn after it, skipping empty lines."""
    src, tgt = [], []
    for a, b in zip(turns[:-1], turns[1:]):
        a, b = str(a).strip(), str(b).strip()
        if a and b:
            src.append(a)
            tgt.append(b)
    return Pairs(src, tgt)


def split_conversations(conversations: Sequence[Sequence[str]], val: float, test: float,
                        seed: int = 0, unseen_contexts: bool = True) -> dict[str, Pairs]:
    """Shuffle whole conversations (seeded) and cut them into train/val/test pair sets, so no
    conversation contributes to two splits. With ``unseen_contexts`` a val/test pair whose
    context turn also occurs in the training pairs is dropped: small dialogue corpora repeat
    their exchanges across conversations (chatterbot: about half of the test pairs also appeared
    verbatim in training), which would make clean BLEU a memorisation score."""
    order = list(range(len(conversations)))
    random.Random(seed).shuffle(order)
    n_test, n_val = round(test * len(order)), round(val * len(order))
    parts = {"train": order[n_test + n_val:], "val": order[n_test:n_test + n_val],
             "test": order[:n_test]}
    out: dict[str, Pairs] = {}
    for split, index in parts.items():
        src, tgt = [], []
        for i in index:
            pairs = adjacent_pairs(conversations[i])
            src += pairs.src
            tgt += pairs.tgt
        if unseen_contexts and split != "train":
            seen = set(out["train"].src)
            kept = [j for j, context in enumerate(src) if context not in seen]
            src, tgt = [src[j] for j in kept], [tgt[j] for j in kept]
        out[split] = Pairs(src, tgt)
    return out


def _loader(name: str):
    def load(root: Path, on_error: str = "raise") -> Corpus:
        folder = require_folder(root, name, PREPARE[name])
        return load_folder(folder, name=name, kind="dg", languages=("en", "en"),
                           on_error=on_error)
    return load


def describe(folder: Path) -> str:
    return count_summary(load_folder(folder, kind="dg"))


OPENSUBTITLES_DATASET = TextDataset(OPENSUBTITLES, "dg", _loader(OPENSUBTITLES),
                                    PREPARE[OPENSUBTITLES])
CHATTERBOT_DATASET = TextDataset(CHATTERBOT, "dg", _loader(CHATTERBOT), PREPARE[CHATTERBOT])
