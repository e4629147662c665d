"""WMT14 English–German (the paper's MT set), in the OpenNMT plain-text layout.

Layout: ``<root>/wmt14/{src,tgt}-{train,val,test}.txt[.gz]``, line-aligned, source English,
target German. ``data_scripts/wmt14.py`` builds it from the official WMT14 releases (training:
Europarl v7 + Common Crawl + News Commentary v9; val: newstest2013; test: newstest2014, the
full release) or copies a folder in this layout, such as the offline 10k-pair sample (which is
Moses-tokenized, with ``&apos;``-style escapes: BLEU on it is not comparable to published
detokenized scores).
"""
from __future__ import annotations

from pathlib import Path

from core.bad_data import BadFiles

from .corpus import Corpus, TextDataset, count_summary
from .text_files import find_text, read_pair, require_folder

NAME = "wmt14"
SPLITS = ("train", "val", "test")
PREPARE = ("python data_scripts/wmt14.py --data-root DIR "
           "[--from-folder ../shared/datasets/text/wmt14-sample]")
EXPECTED = "{src,tgt}-{train,val,test}.txt[.gz] (source English, target German)"


def is_dataset(folder: Path) -> bool:
    return all(find_text(folder, f"{side}-{s}.txt") is not None
               for side in ("src", "tgt") for s in SPLITS)


def load_folder(folder: Path, name: str = NAME, kind: str = "mt",
                languages: tuple[str, str] = ("en", "de"), on_error: str = "raise") -> Corpus:
    bad = BadFiles(on_error)
    split = {s: read_pair(folder, f"src-{s}.txt", f"tgt-{s}.txt", bad) for s in SPLITS}
    return Corpus(name=name, kind=kind, train=split["train"], val=split["val"],  # type: ignore[arg-type]
                  test=split["test"], languages=languages, info=bad.info())


def load(root: Path, on_error: str = "raise") -> Corpus:
    return load_folder(require_folder(root, NAME, PREPARE), on_error=on_error)


def describe(folder: Path) -> str:
    return count_summary(load_folder(folder))


DATASET = TextDataset(NAME, "mt", load, PREPARE)
