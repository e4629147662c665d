"""Prepare Multi30k (task 1, En–De) in ``<data root>/multi30k/`` for the text task.

    python data_scripts/multi30k.py --data-root DIR          # official raw files, md5 checked
    python data_scripts/multi30k.py --data-root DIR --from-folder ../shared/datasets/text/multi30k
    python data_scripts/multi30k.py --data-root DIR --from-archive multi30k.tar.gz

The official files are the six gzip files of ``data/task1/raw`` in github.com/multi30k/dataset
(``{train,val,test_2016_flickr}.{en,de}.gz``); their md5 digests (as published with torchtext's
Multi30k loader) are checked on download, and on any local copy whose file names match.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.download import verify_checksum  # noqa: E402
from data_scripts.prepare import parser, prepare, run  # noqa: E402
from tasks.text.datasets import multi30k as loader                                   # noqa: E402

BASE = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
MD5 = {
    "train.en.gz": "0065d13af80720a55ca8153d126e6627",
    "train.de.gz": "81ff90b99829c0cd4b1b587d394afd39",
    "val.en.gz": "2b69aa9253948ac9f67e94917272dd40",
    "val.de.gz": "6e0e229eb049e3fc99a1ef02fb2d5f91",
    "test_2016_flickr.en.gz": "ff2c0fcb4893a13bd73414306bc250ae",
    "test_2016_flickr.de.gz": "efd67d314d98489b716b145475101932",
}


def check_known_files(folder: Path, staging: Path, extracted: Path) -> Path:
    """Verify the md5 of every file that carries an official name (the offline copy does)."""
    for name, md5 in MD5.items():
        path = folder / name
        if path.is_file():
            verify_checksum(path, md5)
    return folder


def download_all(args, staging: Path) -> Path:
    from data_scripts.download import download

    folder = Path(args.download_dir or Path(args.data_root) / "downloads" / "multi30k").expanduser()
    for name, md5 in MD5.items():
        download(BASE + name, folder / name, md5)
    return folder


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0],
                  archive_help="a tar/zip holding the six {train,val,test_2016_flickr}.{en,de}[.gz] files",
                  folder_help="a folder holding {train,val,test_2016_flickr}.{en,de}[.gz]"
                  ).parse_args(argv)
    if args.from_folder is None and not args.from_archive:
        # the official release is six loose files, not one archive: fetch them, then prepare
        # from the download folder like any local folder
        args.from_folder = download_all(args, Path(args.data_root))
        args.link = False
    return prepare(args, name=loader.NAME, describe=loader.describe,
                   is_dataset=loader.is_dataset, expected=loader.EXPECTED,
                   arrange=check_known_files)


if __name__ == "__main__":
    sys.exit(run(main))

