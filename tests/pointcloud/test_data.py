"""Loaders on synthetic copies of every layout and on real PCD files; bad input; the data script."""
import io
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tasks.pointcloud import datasets
from tasks.pointcloud.io import (BadShapeError, fixed_count, normalize_unit_sphere, read_off,
                                 read_pcd, sample_surface, write_pcd)

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = ROOT.parent / "shared" / "datasets" / "modelnet10-pcd.tar.gz"
CUBE_OFF = """OFF
8 6 0
-1 -1 -1
1 -1 -1
1 1 -1
-1 1 -1
-1 -1 1
1 -1 1
1 1 1
-1 1 1
4 0 1 2 3
4 4 5 6 7
4 0 1 5 4
4 2 3 7 6
4 1 2 6 5
4 0 3 7 4
"""


def test_pcd_binary_and_ascii(tmp_path):
    pts = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    write_pcd(tmp_path / "a.pcd", pts)
    np.testing.assert_array_equal(read_pcd(tmp_path / "a.pcd"), pts)
    text = ("VERSION 0.7\nFIELDS x y z rgb\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
            "WIDTH 2\nHEIGHT 1\nPOINTS 2\nDATA ascii\n1 2 3 0\n4 5 6 0\n")
    (tmp_path / "b.pcd").write_text(text)
    np.testing.assert_array_equal(read_pcd(tmp_path / "b.pcd"), [[1, 2, 3], [4, 5, 6]])


def test_bad_pcd_is_refused_with_its_name(tmp_path):
    pts = np.ones((50, 3), np.float32)
    write_pcd(tmp_path / "t.pcd", pts)
    raw = (tmp_path / "t.pcd").read_bytes()
    (tmp_path / "t.pcd").write_bytes(raw[:-40])
    with pytest.raises(BadShapeError, match="t.pcd.*truncated"):
        read_pcd(tmp_path / "t.pcd")
    pts[3, 1] = np.nan
    write_pcd(tmp_path / "n.pcd", pts)
    with pytest.raises(BadShapeError, match="n.pcd.*NaN"):
        read_pcd(tmp_path / "n.pcd")


def test_off_reading_and_surface_sampling(tmp_path):
    (tmp_path / "c.off").write_text(CUBE_OFF)
    verts, faces = read_off(tmp_path / "c.off")
    assert verts.shape == (8, 3) and faces.shape == (12, 3)      # quads fanned into triangles
    pts = sample_surface(verts, faces, 500, np.random.default_rng(0))
    assert pts.shape == (500, 3)
    assert np.allclose(np.abs(pts).max(axis=1), 1.0, atol=1e-6)  # every point on a cube face
    (tmp_path / "q.off").write_text("OFF8 6 0\n" + CUBE_OFF.split("\n", 2)[2])  # ModelNet quirk
    assert read_off(tmp_path / "q.off")[1].shape == (12, 3)
    (tmp_path / "t.off").write_text(CUBE_OFF[:60])
    with pytest.raises(BadShapeError, match="t.off.*truncated"):
        read_off(tmp_path / "t.off")


def test_normalisation_and_fixed_count():
    x = torch.randn(3, 40, 3) * 7 + 5
    y = normalize_unit_sphere(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.norm(dim=-1).amax(1), torch.ones(3))
    pts = np.arange(30, dtype=np.float32).reshape(10, 3)
    more = fixed_count(pts, 16, seed=0)                 # fewer than asked: resampled
    assert more.shape == (16, 3) and (more[:10] == pts).all()
    assert {tuple(r) for r in more[10:]} <= {tuple(r) for r in pts}
    np.testing.assert_array_equal(more, fixed_count(pts, 16, seed=0))
    assert fixed_count(pts, 4, seed=0).shape == (4, 3)


def _pcd_tree(top: Path, classes=("chair", "desk"), per=3, points=64):
    rng = np.random.default_rng(1)
    for c in classes:
        for split in ("train", "test"):
            folder = top / c / split
            folder.mkdir(parents=True)
            for i in range(per):
                write_pcd(folder / f"{c}_{i:04d}.pcd", rng.normal(size=(points, 3)) * 10)


def test_pcd_layout_loader_raises_or_skips_and_counts_bad_files(tmp_path):
    _pcd_tree(tmp_path / "modelnet10" / "pcd")
    bad = tmp_path / "modelnet10" / "pcd" / "desk" / "train" / "desk_0009.pcd"
    bad.write_bytes(b"VERSION 0.7\nFIELDS x y z\n")           # truncated header
    with pytest.raises(ValueError, match=r"desk_0009.pcd: truncated PCD header"):
        datasets.load(tmp_path, "modelnet10", num_points=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = datasets.load(tmp_path, "modelnet10", num_points=100, on_error="skip")
    assert data.layout == "pcd" and data.classes == ["chair", "desk"] and data.up_axis == 2
    assert data.train_x.shape == (6, 100, 3) and data.test_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(data.skipped) == 1
    torch.testing.assert_close(data.train_x.norm(dim=-1).amax(1), torch.ones(6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # the cache: no second warning
        again = datasets.load(tmp_path, "modelnet10", num_points=100, on_error="skip")
    assert "desk_0009.pcd" in again.skipped[0]
    assert torch.equal(again.train_x, data.train_x) and len(again.skipped) == 1


def test_off_layout_loader(tmp_path):
    for c in ("bed", "sofa"):
        for split in ("train", "test"):
            folder = tmp_path / "modelnet40" / "ModelNet40" / c / split
            folder.mkdir(parents=True)
            for i in range(2):
                (folder / f"{c}_{i:04d}.off").write_text(CUBE_OFF)
    data = datasets.load(tmp_path, "modelnet40", num_points=64)
    assert data.layout == "off" and data.train_x.shape == (4, 64, 3)
    assert data.classes == ["bed", "sofa"]


def test_hdf5_layout_loader(tmp_path):
    h5py = pytest.importorskip("h5py")
    folder = tmp_path / "modelnet40" / "modelnet40_ply_hdf5_2048"
    folder.mkdir(parents=True)
    (folder / "shape_names.txt").write_text("airplane\nbathtub\nbed\n")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 3)):
        data = rng.normal(size=(n, 128, 3)).astype(np.float32)
        if split == "train":
            data[2, 5, 0] = np.nan                           # one bad shape: skipped, counted
        with h5py.File(folder / f"ply_data_{split}0.h5", "w") as f:
            f["data"] = data
            f["label"] = (np.arange(n) % 3).reshape(-1, 1).astype(np.uint8)
    with pytest.raises(ValueError, match="ply_data_train0.h5: shape 2: NaN"):
        datasets.load(tmp_path, "modelnet40", num_points=100)
    loaded = datasets.load(tmp_path, "modelnet40", num_points=100, on_error="skip")
    assert "shape 2: NaN" in loaded.skipped[0]
    assert loaded.layout == "h5" and loaded.up_axis == 1
    assert loaded.train_x.shape == (5, 100, 3) and loaded.classes[0] == "airplane"


def test_missing_dataset_says_how_to_prepare(tmp_path):
    with pytest.raises(datasets.DatasetNotFoundError, match="data_scripts/modelnet10.py"):
        datasets.load(tmp_path, "modelnet10")


@pytest.mark.skipif(not ARCHIVE.is_file(), reason="offline ModelNet10 copy not present")
def test_real_pcd_files_from_the_offline_copy(tmp_path):
    taken = 0
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".pcd"):
                out = tmp_path / Path(member.name).name
                out.write_bytes(tar.extractfile(member).read())
                pts = read_pcd(out)
                assert pts.shape == (1024, 3) and np.isfinite(pts).all()
                assert np.abs(pts).max() > 1.0               # not normalised in the files
                taken += 1
                if taken == 3:
                    break
    assert taken == 3


def test_data_script_prepares_from_an_archive(tmp_path):
    from data_scripts import modelnet10

    _pcd_tree(tmp_path / "src" / "ModelNet10" / "pcd")
    archive = tmp_path / "mn.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "ModelNet10", arcname="ModelNet10")
    code = modelnet10.main(["--data-root", str(tmp_path / "data"), "--from-archive",
                            str(archive), "--cache", "32"])
    assert code == 0
    assert (tmp_path / "data" / "modelnet10" / ".prepared.json").is_file()
    assert datasets.load(tmp_path / "data", "modelnet10", 32).train_x.shape == (6, 32, 3)
