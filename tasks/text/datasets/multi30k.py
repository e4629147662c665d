"""Multi30k task 1, English–German (Elliott et al. 2016): 29,000 / 1,014 / 1,000 caption pairs.

Layout (the official raw files of github.com/multi30k/dataset, ``data/task1/raw``):
``<root>/multi30k/{train,val,test_2016_flickr}.{en,de}[.gz]``.
"""
from __future__ import annotations

from pathlib import Path

from core.bad_data import BadFiles

from .corpus import Corpus, TextDataset, count_summary
from .text_files import find_text, read_pair, require_folder

NAME = "multi30k"
SPLITS = ("train", "val", "test_2016_flickr")
LANGS = ("en", "de")
PREPARE = ("python data_scripts/multi30k.py --data-root DIR "
           "[--from-folder ../shared/datasets/text/multi30k]")
EXPECTED = "Multi30k task-1 raw files {train,val,test_2016_flickr}.{en,de}[.gz]"


def is_dataset(folder: Path) -> bool:
    return all(find_text(folder, f"{s}.{l}") is not None for s in SPLITS for l in LANGS)


def load_folder(folder: Path, on_error: str = "raise") -> Corpus:
    src, tgt = LANGS
    bad = BadFiles(on_error)
    return Corpus(name=NAME, kind="mt",
                  train=read_pair(folder, f"train.{src}", f"train.{tgt}", bad),
                  val=read_pair(folder, f"val.{src}", f"val.{tgt}", bad),
                  test=read_pair(folder, f"test_2016_flickr.{src}", f"test_2016_flickr.{tgt}",
                                 bad),
                  languages=LANGS, info=bad.info())


def load(root: Path, on_error: str = "raise") -> Corpus:
    return load_folder(require_folder(root, NAME, PREPARE), on_error)


def describe(folder: Path) -> str:
    return count_summary(load_folder(folder))


DATASET = TextDataset(NAME, "mt", load, PREPARE)
