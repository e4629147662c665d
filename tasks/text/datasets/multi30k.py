"""Multi30k task 1, English–German (Elliott et al. 2016): 29,000 / 1,014 / 1,000 caption pairs.

Layout (the official raw files of github.com/multi30k/dataset, ``data/task1/raw``):
``<root>/multi30k/{train,val,test_2016_flickr}.{en,de}[.gz]``.
"""
from __future__ import annotations

from pathlib import Path

from .common import Corpus, TextDataset, count_summary, find_text, read_pair, require_folder

NAME = "multi30k"
SPLITS = ("train", "val", "test_2016_flickr")
LANGS = ("en", "de")
PREPARE = ("python data_scripts/multi30k.py --data-root DIR "
           "[--from-folder ../shared/datasets/text/multi30k]")
EXPECTED = "Multi30k task-1 raw files {train,val,test_2016_flickr}.{en,de}[.gz]"


def is_dataset(folder: Path) -> bool:
    return all(find_text(folder, f"{s}.{l}") is not None for s in SPLITS for l in LANGS)


def load_folder(folder: Path) -> Corpus:
    src, tgt = LANGS
    return Corpus(name=NAME, kind="mt",
                  train=read_pair(folder, f"train.{src}", f"train.{tgt}"),
                  val=read_pair(folder, f"val.{src}", f"val.{tgt}"),
                  test=read_pair(folder, f"test_2016_flickr.{src}", f"test_2016_flickr.{tgt}"),
                  languages=LANGS)


def load(root: Path) -> Corpus:
    return load_folder(require_folder(root, NAME, PREPARE))


def describe(folder: Path) -> str:
    return count_summary(load_folder(folder))


DATASET = TextDataset(NAME, "mt", load, PREPARE)
