"""Prepare WMT14 English–German in ``<data root>/wmt14/`` for the text task.

    python data_scripts/wmt14.py --data-root DIR                 # official WMT14 releases
    python data_scripts/wmt14.py --data-root DIR --from-folder ../shared/datasets/text/wmt14-sample
    python data_scripts/wmt14.py --data-root DIR --from-archive toy-ende.tar.gz

Result: ``wmt14/{src,tgt}-{train,val,test}.txt.gz`` (source English, target German), the layout
of OpenNMT's WMT sample, which the offline copy already has. The download builds it from the
releases the paper's setting uses (fairseq's ``prepare-wmt14en2de.sh``): training = Europarl v7 +
Common Crawl + News Commentary v9 (~4.5 M pairs, ~1.5 GB of archives), val = newstest2013,
test = newstest2014 (full release). The two test-set archives are checked against the md5
digests sacrebleu publishes; the training archives have no published checksum, so their SHA-256
is printed and recorded in ``.prepared.json`` instead (compare it between machines).
"""
from __future__ import annotations

import gzip
import html
import re
import sys
import tarfile
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.download import download, sha256, verify_checksum  # noqa: E402
from data_scripts.errors import PrepareError  # noqa: E402
from data_scripts.prepare import install, parser, prepare, run  # noqa: E402
from tasks.text.datasets import wmt14 as loader                                            # noqa: E402

# (url, file name, md5 or None, [(member in the archive, split, side)])
TRAIN = [
    ("https://www.statmt.org/wmt13/training-parallel-europarl-v7.tgz",
     "training-parallel-europarl-v7.tgz", None,
     [("training/europarl-v7.de-en.en", "train", "src"), ("training/europarl-v7.de-en.de", "train", "tgt")]),
    ("https://www.statmt.org/wmt13/training-parallel-commoncrawl.tgz",
     "training-parallel-commoncrawl.tgz", None,
     [("commoncrawl.de-en.en", "train", "src"), ("commoncrawl.de-en.de", "train", "tgt")]),
    ("https://www.statmt.org/wmt14/training-parallel-nc-v9.tgz",
     "training-parallel-nc-v9.tgz", None,
     [("training/news-commentary-v9.de-en.en", "train", "src"),
      ("training/news-commentary-v9.de-en.de", "train", "tgt")]),
]
EVAL = [   # md5 digests as published in sacrebleu 2.6.0's dataset table (wmt13, wmt14/full)
    ("https://statmt.org/wmt13/test.tgz", "wmt13-test.tgz", "48eca5d02f637af44e85186847141f67",
     [("test/newstest2013-src.en.sgm", "val", "src"), ("test/newstest2013-src.de.sgm", "val", "tgt")]),
    ("https://statmt.org/wmt14/test-full.tgz", "test-full.tgz", "a8cd784e006feb32ac6f3d9ec7eb389a",
     [("test-full/newstest2014-deen-src.en.sgm", "test", "src"),
      ("test-full/newstest2014-deen-ref.de.sgm", "test", "tgt")]),
]
_SEG = re.compile(r"<seg[^>]*>(.*)</seg>", re.IGNORECASE)


def _md5_ok(path: Path, md5: str) -> bool:
    try:
        verify_checksum(path, md5)
        return True
    except PrepareError:
        return False


def sgm_lines(text: str) -> list[str]:
    """The ``<seg>`` contents of an SGML test file, unescaped."""
    return [html.unescape(m.group(1)).strip() for m in map(_SEG.search, text.splitlines()) if m]


def read_member(archive: Path, member: str) -> list[str]:
    """Lines of one member of a tar archive, read without extracting anything to disk."""
    with tarfile.open(archive, "r:*") as tar:
        try:
            handle = tar.extractfile(member)
        except KeyError:
            handle = None
        if handle is None:
            raise PrepareError(f"{archive.name} has no file {member}")
        text = handle.read().decode("utf-8", errors="replace")
    return sgm_lines(text) if member.endswith(".sgm") else text.splitlines()


def build_from_archives(archives: list[tuple[Path, list[tuple[str, str, str]]]], out: Path) -> Path:
    """Write ``{src,tgt}-{split}.txt.gz`` from the listed archive members into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    lines: dict[tuple[str, str], list[str]] = {}
    for archive, members in archives:
        sides: dict[str, list[str]] = {}
        for member, split, side in members:
            print(f"reading {member} from {archive.name}")
            sides[side] = read_member(archive, member)
            lines.setdefault((split, side), [])
        if len(sides["src"]) != len(sides["tgt"]):
            raise PrepareError(f"{archive.name}: {len(sides['src'])} English but "
                               f"{len(sides['tgt'])} German lines")
        split = members[0][1]
        lines[(split, "src")] += sides["src"]
        lines[(split, "tgt")] += sides["tgt"]
    for (split, side), rows in lines.items():
        with gzip.open(out / f"{side}-{split}.txt.gz", "wt", encoding="utf-8") as handle:
            handle.writelines(r.replace("\n", " ") + "\n" for r in rows)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0],
                  archive_help="a tar/zip holding {src,tgt}-{train,val,test}.txt[.gz]",
                  folder_help="a folder holding {src,tgt}-{train,val,test}.txt[.gz]").parse_args(argv)
    if args.from_folder is not None or args.from_archive:
        return prepare(args, name=loader.NAME, describe=loader.describe,
                       is_dataset=loader.is_dataset, expected=loader.EXPECTED)
    folder = Path(args.download_dir or Path(args.data_root) / "downloads" / "wmt14").expanduser()
    fetched = [(download(url, folder / name, md5), members) for url, name, md5, members in TRAIN + EVAL]
    digests = {path.name: sha256(path) for path, _ in fetched[:len(TRAIN)]}
    for name, digest in digests.items():
        print(f"sha256 {digest}  {name}")
    source = "download (statmt.org WMT13/WMT14 releases); training sha256: " + ", ".join(
        f"{name}={digest}" for name, digest in digests.items())
    return install(args.data_root, loader.NAME,
                   lambda staging: build_from_archives(fetched, staging / "wmt14"),
                   loader.describe, source, args.force)


if __name__ == "__main__":
    sys.exit(run(main))
