"""Install any ``train/<class>/*`` + ``test/<class>/*`` dataset as ``<data root>/image_folder/``.

    python data_scripts/image_folder.py --data-root DIR --from-folder PATH [--link]
    python data_scripts/image_folder.py --data-root DIR --from-archive my_dataset.tar.gz [--md5 HEX]

The ``image_folder`` loader reads it (or, without this step, any such folder passed to the
loader as ``folder=PATH``). Class folder names, sorted, are the label order.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.prepare import parser, prepare, run  # noqa: E402
from tasks.image.datasets import folder as loader       # noqa: E402


def is_image_folder(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "test").is_dir()


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0], archive_help="a tar/zip of train/<class>/ + test/<class>/",
                  folder_help="a folder holding train/<class>/ and test/<class>/").parse_args(argv)
    return prepare(args, name=loader.NAME, describe=loader.describe, is_dataset=is_image_folder,
                   expected=loader.EXPECTED)


if __name__ == "__main__":
    sys.exit(run(main))
