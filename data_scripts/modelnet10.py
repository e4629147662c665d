"""Prepare ModelNet10 in ``<data root>/modelnet10/`` for the ``modelnet10`` point-cloud loader.

    python data_scripts/modelnet10.py --data-root DIR        # official meshes (OFF), ~450 MB zip
    python data_scripts/modelnet10.py --data-root DIR --from-archive ../shared/datasets/modelnet10-pcd.tar.gz
    python data_scripts/modelnet10.py --data-root DIR --from-folder PATH [--link]

Any of the loader's layouts is accepted (tasks/pointcloud/datasets.py): the offline PCD copy
(``pcd/<class>/{train,test}/*.pcd``, 1,024 points per shape), the official ``ModelNet10.zip``
(``<class>/{train,test}/*.off`` meshes; points are sampled from the surfaces when the loader
first reads them, then cached) or HDF5 files. The official zip publishes no checksum: its sha256
is printed and recorded in ``.prepared.json`` instead. ``--cache N`` decodes the shapes once at
N points per shape (the loader's cache), so the first benchmark run does not pay for it.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.modelnet_common import main_for  # noqa: E402

URL = "http://3dvision.princeton.edu/projects/2014/3DShapeNets/ModelNet10.zip"


def main(argv: list[str] | None = None) -> int:
    return main_for("modelnet10", __doc__.split("\n\n")[0], [(URL, "ModelNet10.zip")], argv)


if __name__ == "__main__":
    from data_scripts.prepare import run
    sys.exit(run(main))
