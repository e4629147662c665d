"""Loaders and data scripts on small copies in the official layouts (no network)."""
import gzip
import io
import tarfile

import pytest

from data_scripts import multi30k as multi30k_script
from data_scripts import opensubtitles as opensubtitles_script
from data_scripts import wmt14 as wmt14_script
from data_scripts.errors import ChecksumError
from tasks.text.datasets import DatasetNotFoundError, dialogue, multi30k, wmt14


def _write(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)


def _multi30k_copy(folder, n=4):
    folder.mkdir(parents=True)
    for split in multi30k.SPLITS:
        _write(folder / f"{split}.en.gz", [f"A man {i} ({split})." for i in range(n)])
        _write(folder / f"{split}.de.gz", [f"Ein Mann {i} ({split})." for i in range(n)])
    return folder


def test_multi30k_script_and_loader(tmp_path, capsys):
    source = _multi30k_copy(tmp_path / "copy")
    root = tmp_path / "data"
    with pytest.raises(DatasetNotFoundError, match="data_scripts/multi30k.py"):
        multi30k.load(root)
    # the copy carries official file names but not the official bytes: the md5 check refuses it
    with pytest.raises(ChecksumError):
        multi30k_script.main(["--data-root", str(root), "--from-folder", str(source)])
    assert not (root / "multi30k").exists()
    renamed = tmp_path / "plain"
    renamed.mkdir()
    for path in source.iterdir():   # uncompressed copies have no published digest
        (renamed / path.name[:-3]).write_text(gzip.open(path, "rt").read())
    assert multi30k_script.main(["--data-root", str(root), "--from-folder", str(renamed)]) == 0
    corpus = multi30k.load(root)
    assert corpus.kind == "mt" and len(corpus.train) == 4 and len(corpus.test) == 4
    assert corpus.test.tgt[1] == "Ein Mann 1 (test_2016_flickr)."
    assert multi30k_script.main(["--data-root", str(root), "--from-folder", str(renamed)]) == 0
    assert "already prepared" in capsys.readouterr().out


def test_wmt14_layout_from_folder_and_from_official_archives(tmp_path):
    folder = tmp_path / "sample"
    folder.mkdir()
    for side in ("src", "tgt"):
        for split in wmt14.SPLITS:
            _write(folder / f"{side}-{split}.txt.gz", [f"{side} {split} {i}" for i in range(3)])
    assert wmt14_script.main(["--data-root", str(tmp_path / "d1"), "--from-folder", str(folder)]) == 0
    assert wmt14.load(tmp_path / "d1").train.src[2] == "src train 2"

    def tgz(path, members):
        with tarfile.open(path, "w:gz") as tar:
            for name, text in members.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path

    train = tgz(tmp_path / "nc.tgz", {"training/nc.de-en.en": "Hello.\nWorld.\n",
                                      "training/nc.de-en.de": "Hallo.\nWelt.\n"})
    sgm = '<srcset>\n<doc>\n<seg id="1">It &apos;s fine .</seg>\n<seg id="2">Yes</seg>\n</doc>\n'
    test = tgz(tmp_path / "test.tgz", {"t/src.en.sgm": sgm, "t/ref.de.sgm": sgm.replace("Yes", "Ja")})
    out = wmt14_script.build_from_archives(
        [(train, [("training/nc.de-en.en", "train", "src"), ("training/nc.de-en.de", "train", "tgt")]),
         (test, [("t/src.en.sgm", "test", "src"), ("t/ref.de.sgm", "test", "tgt")])],
        tmp_path / "built")
    assert gzip.open(out / "tgt-train.txt.gz", "rt").read() == "Hallo.\nWelt.\n"
    assert gzip.open(out / "src-test.txt.gz", "rt").read() == "It 's fine .\nYes\n"


def test_dialogue_pairs_splits_and_scripts(tmp_path):
    pairs = dialogue.adjacent_pairs(["Hi", "Hello", "", "How are you?", "Fine"])
    assert list(zip(pairs.src, pairs.tgt)) == [("Hi", "Hello"), ("How are you?", "Fine")]
    conversations = [[f"c{i} t{j}" for j in range(3)] for i in range(10)]
    splits = dialogue.split_conversations(conversations, val=0.1, test=0.2, seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"test": 4, "val": 2, "train": 14}
    firsts = {split: {s.split()[0] for s in p.src} for split, p in splits.items()}
    assert not (firsts["train"] & firsts["test"]), "a conversation stays in one split"
    # an exchange repeated in another conversation: its held-out copy is dropped
    repeated = conversations + [["Hi", "Hello", "Bye"]] * 10
    splits = dialogue.split_conversations(repeated, val=0.1, test=0.2, seed=0)
    assert "Hi" in splits["train"].src
    assert "Hi" not in splits["test"].src + splits["val"].src
    kept = dialogue.split_conversations(repeated, val=0.1, test=0.2, seed=0,
                                        unseen_contexts=False)
    assert "Hi" in kept["test"].src + kept["val"].src

    raw = tmp_path / "subs"
    raw.mkdir()
    _write(raw / "en.txt.gz", [f"line {i}" for i in range(30)])
    root = tmp_path / "data"
    assert opensubtitles_script.main(["--data-root", str(root), "--from-folder", str(raw),
                                      "--val-pairs", "3", "--test-pairs", "4"]) == 0
    corpus = dialogue.OPENSUBTITLES_DATASET.load(root)
    assert corpus.kind == "dg" and len(corpus.test) == 4 and len(corpus.val) == 3
    assert (corpus.train.src[0], corpus.train.tgt[0]) == ("line 0", "line 1")
    pytest.importorskip("chatterbot_corpus")
    assert opensubtitles_script.main(["--data-root", str(root), "--chatterbot"]) == 0
    chat = dialogue.CHATTERBOT_DATASET.load(root)
    assert len(chat.train) > 1000 and chat.kind == "dg"
    assert not set(chat.test.src) & set(chat.train.src)
