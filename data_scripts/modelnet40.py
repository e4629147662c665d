"""Prepare ModelNet40 in ``<data root>/modelnet40/`` for the ``modelnet40`` point-cloud loader.

    python data_scripts/modelnet40.py --data-root DIR           # official meshes (OFF), ~2 GB zip
    python data_scripts/modelnet40.py --data-root DIR --hdf5    # the 2,048-point HDF5 release
    python data_scripts/modelnet40.py --data-root DIR --from-archive ModelNet40.zip
    python data_scripts/modelnet40.py --data-root DIR --from-archive modelnet40_ply_hdf5_2048.zip

ModelNet40 is not available offline on these machines. The official zip holds
``ModelNet40/<class>/{train,test}/*.off`` meshes (points sampled from the surfaces by the loader);
the HDF5 release (``ply_data_{train,test}*.h5`` + ``shape_names.txt``, 2,048 points per shape,
y up) needs h5py (``pip install -e .[pointcloud]``). Neither publishes a checksum: the sha256 is
printed and recorded in ``.prepared.json``. The HDF5 release's original host
(shapenet.cs.stanford.edu) has been offline for years; pass a copy with --from-archive.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.modelnet_common import main_for  # noqa: E402

URL = "http://modelnet.cs.princeton.edu/ModelNet40.zip"
HDF5_URL = "https://shapenet.cs.stanford.edu/media/modelnet40_ply_hdf5_2048.zip"


def main(argv: list[str] | None = None) -> int:
    hdf5 = "--hdf5" in (argv if argv is not None else sys.argv[1:])
    argv = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--hdf5"]
    downloads = ([(HDF5_URL, "modelnet40_ply_hdf5_2048.zip")] if hdf5
                 else [(URL, "ModelNet40.zip")])
    return main_for("modelnet40", __doc__.split("\n\n")[0], downloads, argv)


if __name__ == "__main__":
    from data_scripts.prepare import run
    sys.exit(run(main))
