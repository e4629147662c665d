"""Prepare Pascal VOC 2007 or 2012 in ``<data root>/voc<year>/VOCdevkit/VOC<year>/`` (official
layout) for the detection task's ``voc07`` / ``voc12`` datasets.

    python data_scripts/voc.py --data-root DIR --year 2007     # trainval + test tars, md5 checked
    python data_scripts/voc.py --data-root DIR --year 2012     # trainval tar (no public test labels)
    python data_scripts/voc.py --data-root DIR --year 2007 --from-archive VOCtrainval_06-Nov-2007.tar \\
        --from-archive VOCtest_06-Nov-2007.tar
    python data_scripts/voc.py --data-root DIR --year 2007 --from-folder PATH [--link]

The md5 sums are the ones torchvision's VOC loader checks against the official release
(host.robots.ox.ac.uk). Not available offline on these machines: the loader is tested on small
synthetic copies in this layout (tests/detection/test_datasets.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.errors import PrepareError   # noqa: E402
from data_scripts.prepare import parser, prepare, run   # noqa: E402
from tasks.detection.datasets import voc                                # noqa: E402

BASE = "http://host.robots.ox.ac.uk/pascal/VOC/"
FILES = {"2007": [(BASE + "voc2007/VOCtrainval_06-Nov-2007.tar", "VOCtrainval_06-Nov-2007.tar",
                   "c52e279531787c972589f7e41ab4ae64"),
                  (BASE + "voc2007/VOCtest_06-Nov-2007.tar", "VOCtest_06-Nov-2007.tar",
                   "b6e924de25625d8de591ea690078ad9f")],
         "2012": [(BASE + "voc2012/VOCtrainval_11-May-2012.tar", "VOCtrainval_11-May-2012.tar",
                   "6cd6e144f989b92b3379bac3b3de84fd")]}
SPLITS = {"2007": ("trainval", "test"), "2012": ("train", "val")}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0],
               archive_help="the official VOC tar(s) or a tar/zip holding VOCdevkit/VOC<year>",
               folder_help="a folder holding VOCdevkit/VOC<year>")
    p.add_argument("--year", choices=sorted(FILES), required=True)
    args = p.parse_args(argv)
    year = args.year

    def is_voc(folder: Path) -> bool:
        return (folder / "VOCdevkit" / f"VOC{year}" / "Annotations").is_dir()

    def describe(folder: Path) -> str:
        counts = voc.validate(folder, year)     # every id of every split, no empty split
        return f"VOC{year}: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + " images"

    if year not in FILES:
        raise PrepareError(f"unknown VOC year {year}")
    known = {file: md5 for _, file, md5 in FILES[year]}
    return prepare(args, name=f"voc{year}", describe=describe, is_dataset=is_voc,
                   expected=f"VOCdevkit/VOC{year}/Annotations", downloads=FILES[year],
                   known_md5=known)


if __name__ == "__main__":
    sys.exit(run(main))
