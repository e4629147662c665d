"""A synthetic English→pseudo-German parallel corpus for tests and the ``text_smoke`` preset.

Sentences follow four templates over a small lexicon and are translated word by word (with one
reordering: the verb of "while" clauses goes last, as in German subordinate clauses), so a tiny
transformer learns the mapping in seconds. The lexicon shares words with the shipped synonym
table (``man``, ``dog``, ``street``, …), so the ``synonym`` attack applies too. Generated from a
seed; no files.
"""
from __future__ import annotations

import random

from .corpus import Corpus, Pairs, TextDataset

NAME = "synthetic"
ADJ = {"young": "junge", "old": "alte", "small": "kleine", "big": "große", "happy": "fröhliche",
       "red": "rote", "blue": "blaue", "black": "schwarze", "white": "weiße", "tall": "große"}
NOUN = {"man": "Mann", "woman": "Frau", "dog": "Hund", "child": "Kind", "boy": "Junge",
        "girl": "Mädchen", "horse": "Pferd", "cat": "Katze", "bird": "Vogel", "car": "Auto",
        "ball": "Ball", "tree": "Baum", "house": "Haus", "street": "Straße", "river": "Fluss",
        "bike": "Fahrrad", "beach": "Strand", "park": "Park"}
VERB = {"runs": "läuft", "walks": "geht", "sits": "sitzt", "jumps": "springt", "plays": "spielt",
        "waits": "wartet", "stands": "steht", "sleeps": "schläft"}
PREP = {"near": "nahe", "behind": "hinter", "on": "auf", "in": "in", "beside": "neben"}


def _sentence(rng: random.Random) -> tuple[str, str]:
    a, n, v, p, n2 = (rng.choice(list(d)) for d in (ADJ, NOUN, VERB, PREP, NOUN))
    template = rng.randrange(4)
    if template == 0:
        return (f"A {a} {n} {v} {p} the {n2}.", f"Ein {ADJ[a]} {NOUN[n]} {VERB[v]} {PREP[p]} "
                f"dem {NOUN[n2]}.")
    if template == 1:
        return f"The {n} {v}.", f"Der {NOUN[n]} {VERB[v]}."
    if template == 2:
        a2 = rng.choice(list(ADJ))
        return (f"A {a} {n} and a {a2} {n2} {v}.",
                f"Ein {ADJ[a]} {NOUN[n]} und ein {ADJ[a2]} {NOUN[n2]} {VERB[v]}.")
    v2 = rng.choice(list(VERB))
    return (f"The {n} {v} while the {n2} {v2}.",
            f"Der {NOUN[n]} {VERB[v]}, während der {NOUN[n2]} {VERB[v2]}.")


def generate(train_size: int = 2400, test_size: int = 200, seed: int = 1234) -> Corpus:
    rng = random.Random(seed)
    pairs = [_sentence(rng) for _ in range(train_size + test_size)]
    src, tgt = [p[0] for p in pairs], [p[1] for p in pairs]
    return Corpus(name=NAME, kind="mt", train=Pairs(src[:train_size], tgt[:train_size]),
                  test=Pairs(src[train_size:], tgt[train_size:]), languages=("en", "de"),
                  info={"generator_seed": seed})


DATASET = TextDataset(NAME, "mt", lambda root: generate(), "(generated; no preparation)")
