"""Prepare ImageNet (ILSVRC-2012) in ``<data root>/imagenet/`` for the ``imagenet`` loader.

    python data_scripts/imagenet.py --data-root DIR --from-folder /datasets/imagenet   # symlinks
    python data_scripts/imagenet.py --data-root DIR --from-folder PATH --copy
    python data_scripts/imagenet.py --data-root DIR --from-archive imagenet-folders.tar

ImageNet has no public download (it needs an account at image-net.org and acceptance of its
terms), so this script only installs a copy you already have, in image-folder layout:
``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` (sort the flat official val images into class
folders first, e.g. with the widely used ``valprep.sh``). Because the set is ~150 GB,
``--from-folder`` links the ``train``/``val`` folders by default; ``--copy`` copies them.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.prepare import parser, prepare, run  # noqa: E402
from tasks.image.datasets import imagenet as loader     # noqa: E402


def is_imagenet(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "val").is_dir()


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0], archive_help="a tar/zip of train/<wnid>/ + val/<wnid>/",
               folder_help="a folder holding train/<wnid>/ and val/<wnid>/")
    p.add_argument("--copy", action="store_true", help="with --from-folder: copy instead of linking")
    args = p.parse_args(argv)
    if args.from_folder is not None and not args.copy:
        args.link = True
    if args.from_folder is None and args.from_archive is None:
        print("ImageNet has no public download: get ILSVRC-2012 from https://image-net.org "
              "(account and terms of access), arrange train/<wnid>/ and val/<wnid>/, then run\n"
              f"  python data_scripts/imagenet.py --data-root {args.data_root} --from-folder PATH",
              file=sys.stderr)
        return 2
    return prepare(args, name=loader.NAME, describe=loader.describe, is_dataset=is_imagenet,
                   expected=loader.EXPECTED)


if __name__ == "__main__":
    sys.exit(run(main))
