"""Image dataset loaders and data_scripts, on tiny synthetic copies in each official layout
(plus a handful of real images from the offline CIFAR-10 archive)."""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tasks.image.datasets  # noqa: F401  (registers the loaders)
from core.registry import DATASETS
from data_scripts import cifar10 as prep_cifar10
from data_scripts import gtsrb as prep_gtsrb
from data_scripts import image_folder as prep_folder
from data_scripts import imagenet as prep_imagenet
from data_scripts import tiny_imagenet as prep_tiny
from data_scripts.download import verify_checksum
from data_scripts.errors import ChecksumError, UnsafeArchiveError
from data_scripts.extract import safe_extract
from tasks.image.datasets import (DatasetNotFoundError, ImageDataset, ImageDecodeError, cifar10,
                                  decoding)

REPO = Path(__file__).resolve().parents[2]
OFFLINE_CIFAR = REPO.parent / "shared" / "datasets" / "cifar10-jpg.tar.gz"
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]


# -- builders of tiny official layouts ----------------------------------------------------------
def _pixels(seed: int, width: int, height: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _save(path: Path, array: np.ndarray, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)


def make_cifar_pickles(root: Path, per_batch: int = 10) -> dict:
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for i, name in enumerate(["data_batch_1", "data_batch_2", "test_batch"]):
        batch = {b"batch_label": name.encode(),
                 b"labels": [(k + i) % 10 for k in range(per_batch)],
                 b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [f"img_{k}.png".encode() for k in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
        batches[name] = batch
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [n.encode() for n in CIFAR_NAMES],
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=4))
    return batches


def make_class_folders(top: Path, classes: list[str], per_class: dict[str, int], size=(32, 32),
                       ext: str = "jpg", splits=("train", "test")) -> None:
    for s, split in enumerate(splits):
        for c, name in enumerate(classes):
            for k in range(per_class[split]):
                w, h = size if not callable(size) else size(c, k)
                _save(top / split / name / f"{k:04d}.{ext}", _pixels(1000 * s + 50 * c + k, w, h),
                      **({"quality": 95} if ext == "jpg" else {}))


GT_HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"


def make_gtsrb(top: Path, classes=(0, 1, 2), per_class: int = 3, test_labels=(2, 0, 1, 2, 0, 1),
               test_csv: bool = True) -> None:
    base = top / "GTSRB"
    for c in classes:
        folder = base / "Final_Training" / "Images" / f"{c:05d}"
        rows = [GT_HEADER]
        for k in range(per_class):
            w, h = 15 + 10 * k + c, 18 + 7 * k       # variable sizes, as in GTSRB
            name = f"{k:05d}_{k * 3:05d}.ppm"
            _save(folder / name, _pixels(100 * c + k, w, h))
            rows.append(f"{name};{w};{h};5;5;{w - 5};{h - 5};{c}")
        (folder / f"GT-{c:05d}.csv").write_text("\n".join(rows) + "\n")
    test = base / "Final_Test" / "Images"
    rows = [GT_HEADER]
    for k, label in enumerate(test_labels):
        name = f"{k:05d}.ppm"
        _save(test / name, _pixels(900 + k, 30 + k, 28))
        rows.append(f"{name};{30 + k};28;5;5;25;23;{label}")
    (test / "GT-final_test.test.csv").write_text(
        "\r\n".join(r.rsplit(";", 1)[0] for r in rows) + "\r\n")
    if test_csv:
        (base / "Final_Test" / "GT-final_test.csv").write_text("\r\n".join(rows) + "\r\n")


def make_tiny_imagenet(top: Path, wnids=("n03", "n01", "n02"), per_class: int = 3,
                       val_labels=("n02", "n01", "n03", "n01")) -> None:
    base = top / "tiny-imagenet-200"
    base.mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for c, wnid in enumerate(wnids):
        for k in range(per_class):
            _save(base / "train" / wnid / "images" / f"{wnid}_{k}.JPEG", _pixels(10 * c + k, 64, 64),
                  format="JPEG", quality=95)
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    lines = []
    for k, wnid in enumerate(val_labels):
        _save(base / "val" / "images" / f"val_{k}.JPEG", _pixels(500 + k, 64, 64), format="JPEG",
              quality=95)
        lines.append(f"val_{k}.JPEG\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def tar_folder(folder: Path, archive: Path, arcname: str = ".") -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return archive


def zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


# -- loaders ------------------------------------------------------------------------------------
def test_cifar10_pickles(tmp_path):
    batches = make_cifar_pickles(tmp_path)
    ds = DATASETS.get("cifar10", namespace="image")(tmp_path)
    assert isinstance(ds, ImageDataset) and ds.classes == CIFAR_NAMES
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.test_x.shape == (10, 3, 32, 32)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    expected = batches["data_batch_1"][b"labels"] + batches["data_batch_2"][b"labels"]
    assert ds.train_y.tolist() == expected
    assert ds.test_y.tolist() == batches["test_batch"][b"labels"]
    first = batches["data_batch_1"][b"data"][0].reshape(3, 32, 32)     # R, G, B planes
    assert np.array_equal(ds.train_x[0].numpy(), first)
    small = cifar10.load(tmp_path, image_size=16, max_per_class=1)
    assert small.train_x.shape == (10, 3, 16, 16) and sorted(small.train_y.tolist()) == list(range(10))
    assert small.train_y.tolist() == expected[:10]        # the first image of each class
    assert (tmp_path / "cifar10" / ".cache" / "cifar10-16-1.safetensors").is_file()


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    make_cifar_pickles(tmp_path)
    evil = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_2"
    evil.write_bytes(pickle.dumps({"data": Exploit()}, protocol=2))
    with pytest.raises(ValueError, match="refusing to unpickle .*system") as info:
        cifar10.load(tmp_path)
    assert str(evil) in str(info.value)
    for payload in (pickle.dumps(eval, protocol=4), pickle.dumps(Exploit(), protocol=0)):
        (tmp_path / "x.pkl").write_bytes(payload)
        with pytest.raises(ValueError, match="refusing to unpickle"):
            cifar10.read_pickle(tmp_path / "x.pkl")
    assert not marker.exists()


def test_cifar10_image_folders_order_resize_and_limit(tmp_path):
    shuffled = ["truck", "cat", "airplane", "horse", "bird", "ship", "deer", "frog", "dog",
                "automobile"]
    make_class_folders(tmp_path / "cifar10", shuffled, {"train": 3, "test": 2})
    ds = cifar10.load(tmp_path)
    assert ds.classes == CIFAR_NAMES                       # sorted folder names = official order
    assert ds.train_x.shape == (30, 3, 32, 32) and ds.test_x.shape == (20, 3, 32, 32)
    assert ds.train_y.tolist() == [c for c in range(10) for _ in range(3)]
    truck_1 = np.asarray(Image.open(tmp_path / "cifar10" / "train" / "truck" / "0001.jpg"))
    assert np.array_equal(ds.train_x[28].permute(1, 2, 0).numpy(), truck_1)
    limited = cifar10.load(tmp_path, image_size=20, max_per_class=2)
    assert limited.train_x.shape == (20, 3, 20, 20) and limited.test_x.shape == (20, 3, 20, 20)
    assert limited.train_y.tolist() == [c for c in range(10) for _ in range(2)]
    with pytest.raises(ValueError, match="max_per_class"):
        cifar10.load(tmp_path, max_per_class=0)


def test_cache_is_hit_on_second_load_and_rebuilt_when_files_change(tmp_path, monkeypatch):
    make_class_folders(tmp_path / "cifar10", CIFAR_NAMES[:3], {"train": 2, "test": 1})
    first = cifar10.load(tmp_path)
    cache = tmp_path / "cifar10" / ".cache" / "cifar10-32-all.safetensors"
    assert cache.is_file()
    stamp = cache.stat().st_mtime_ns

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded although the cache is valid")

    with monkeypatch.context() as m:
        m.setattr(decoding, "_decode_chw", no_decode)
        second = cifar10.load(tmp_path)
    assert cache.stat().st_mtime_ns == stamp
    assert torch.equal(first.train_x, second.train_x) and first.classes == second.classes
    assert not list(cache.parent.glob("*.tmp"))           # written atomically, nothing left over
    _save(tmp_path / "cifar10" / "train" / "bird" / "0099.jpg", _pixels(7, 32, 32))
    assert cifar10.load(tmp_path).train_x.shape[0] == 7   # new file -> new fingerprint -> rebuilt


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_corrupt_image_is_named(tmp_path, ext):
    make_class_folders(tmp_path / "cifar10", CIFAR_NAMES[:2], {"train": 2, "test": 1}, ext=ext)
    bad = tmp_path / "cifar10" / "train" / "automobile" / f"0001.{ext}"
    bad.write_bytes(bad.read_bytes()[:40])                  # truncated
    with pytest.raises(ImageDecodeError, match=re.escape(str(bad))):
        cifar10.load(tmp_path)


@pytest.mark.parametrize("name,script", [("cifar10", "cifar10.py"), ("gtsrb", "gtsrb.py"),
                                         ("tiny_imagenet", "tiny_imagenet.py"),
                                         ("imagenet", "imagenet.py"),
                                         ("image_folder", "image_folder.py")])
def test_missing_dataset_names_path_and_command(tmp_path, name, script):
    with pytest.raises(DatasetNotFoundError) as info:
        DATASETS.get(name, namespace="image")(tmp_path)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path / name) in message and f"python data_scripts/{script}" in message
    assert f"--data-root {tmp_path}" in message
    if name in ("cifar10", "gtsrb"):
        assert "--from-archive ../shared/datasets/" in message


def test_gtsrb_official_layout(tmp_path):
    make_gtsrb(tmp_path / "gtsrb")
    ds = DATASETS.get("gtsrb", namespace="image")(tmp_path)
    assert len(ds.classes) == 43 and ds.classes[14] == "stop"
    assert ds.train_x.shape == (9, 3, 32, 32) and ds.test_x.shape == (6, 3, 32, 32)
    assert ds.train_y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.test_y.tolist() == [0, 0, 1, 1, 2, 2]      # grouped by class, sorted names
    img = Image.open(tmp_path / "gtsrb/GTSRB/Final_Test/Images/00001.ppm").convert("RGB")
    expected = np.asarray(img.resize((32, 32), Image.BILINEAR))      # whole image, squashed
    assert np.array_equal(ds.test_x[0].permute(1, 2, 0).numpy(), expected)
    small = DATASETS.get("gtsrb", namespace="image")(tmp_path, image_size=16, max_per_class=1)
    assert small.train_x.shape == (3, 3, 16, 16) and small.test_y.tolist() == [0, 1, 2]


def test_gtsrb_errors(tmp_path):
    make_gtsrb(tmp_path / "gtsrb", test_csv=False)
    with pytest.raises(DatasetNotFoundError, match="GTSRB_Final_Test_GT.zip"):
        DATASETS.get("gtsrb", namespace="image")(tmp_path)
    (tmp_path / "gtsrb").rename(tmp_path / "old")
    make_gtsrb(tmp_path / "gtsrb")
    bad = tmp_path / "gtsrb/GTSRB/Final_Training/Images/00001/00002_00006.ppm"
    bad.write_bytes(bad.read_bytes()[:30])
    with pytest.raises(ImageDecodeError, match=re.escape(str(bad))):
        DATASETS.get("gtsrb", namespace="image")(tmp_path)


def test_tiny_imagenet_official_layout(tmp_path):
    make_tiny_imagenet(tmp_path / "tiny_imagenet")
    ds = DATASETS.get("tiny_imagenet", namespace="image")(tmp_path)
    assert ds.classes == ["n01", "n02", "n03"]
    assert ds.train_x.shape == (9, 3, 64, 64) and ds.test_x.shape == (4, 3, 64, 64)
    assert ds.train_y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.test_y.tolist() == [0, 0, 1, 2]               # val_1, val_3 (n01), val_0, val_2
    val_0 = np.asarray(Image.open(tmp_path / "tiny_imagenet/tiny-imagenet-200/val/images/val_0.JPEG"))
    assert np.array_equal(ds.test_x[2].permute(1, 2, 0).numpy(), val_0)
    small = DATASETS.get("tiny_imagenet", namespace="image")(tmp_path, image_size=32, max_per_class=1)
    assert small.train_x.shape == (3, 3, 32, 32) and small.test_y.tolist() == [0, 1, 2]


def test_imagenet_resize_and_center_crop(tmp_path):
    top = tmp_path / "imagenet"
    stripes = np.zeros((60, 120, 3), dtype=np.uint8)       # red | green | blue, wide image
    stripes[:, :30, 0] = stripes[:, 30:90, 1] = stripes[:, 90:, 2] = 255
    for split in ("train", "val"):
        _save(top / split / "n001" / "a.JPEG", stripes, format="JPEG", quality=95)
        _save(top / split / "n002" / "b.JPEG", _pixels(3, 50, 90), format="JPEG", quality=95)
        _save(top / split / "n002" / "c.JPEG", _pixels(4, 300, 200), format="JPEG", quality=95)
    ds = DATASETS.get("imagenet", namespace="image")(tmp_path, image_size=32)
    assert ds.classes == ["n001", "n002"] and ds.train_x.shape == (3, 3, 32, 32)
    assert ds.test_y.tolist() == [0, 1, 1]
    centre = ds.train_x[0, :, 16, 16].tolist()
    assert centre[1] > 200 and centre[0] < 50 and centre[2] < 50     # the green middle survives
    assert ds.train_x[0, 2].float().mean() < 10                     # blue third cropped away
    limited = DATASETS.get("imagenet", namespace="image")(tmp_path, image_size=24, max_per_class=1)
    assert limited.train_x.shape == (2, 3, 24, 24)


def test_image_folder_native_size_explicit_path_and_errors(tmp_path):
    data = tmp_path / "elsewhere"
    make_class_folders(data, ["b", "a"], {"train": 2, "test": 1}, size=(24, 18), ext="png")
    ds = DATASETS.get("image_folder", namespace="image")(tmp_path, folder=data)
    assert ds.classes == ["a", "b"] and ds.train_x.shape == (4, 3, 18, 24)
    assert (data / ".cache" / "image_folder-native-all.safetensors").is_file()
    _save(data / "train" / "a" / "9999.png", _pixels(1, 10, 10))
    with pytest.raises(ValueError, match="9999.png.*image_size"):
        DATASETS.get("image_folder", namespace="image")(tmp_path, folder="elsewhere")
    resized = DATASETS.get("image_folder", namespace="image")(tmp_path, image_size=8, folder=data)
    assert resized.train_x.shape == (5, 3, 8, 8)
    (data / "test" / "zebra").mkdir()
    with pytest.raises(ValueError, match="zebra"):
        DATASETS.get("image_folder", namespace="image")(tmp_path, image_size=8, folder=data)


def test_image_dataset_validates():
    x, y = torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset(x.float(), y, x, y, ["a", "b"])
    with pytest.raises(ValueError, match="labels outside"):
        ImageDataset(x, y, x, y, ["a"])


# -- data_scripts -------------------------------------------------------------------------------
def test_checksum_helper(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello")
    verify_checksum(path, hashlib.md5(b"hello").hexdigest())
    with pytest.raises(ChecksumError, match="checksum mismatch.*f.bin"):
        verify_checksum(path, "0" * 32)


def test_cifar10_script_from_jpeg_tarball_is_idempotent(tmp_path, capsys):
    src = tmp_path / "src"
    make_class_folders(src, CIFAR_NAMES, {"train": 2, "test": 1})
    archive = tar_folder(src, tmp_path / "cifar10-jpg.tar.gz")
    root = tmp_path / "data"
    assert prep_cifar10.main(["--data-root", str(root), "--from-archive", str(archive)]) == 0
    assert (root / "cifar10" / "train" / "airplane" / "0000.jpg").is_file()
    assert (root / "cifar10" / ".prepared.json").is_file()
    assert [p.name for p in root.iterdir()] == ["cifar10"]          # no staging folder left
    ds = cifar10.load(root)
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.classes == CIFAR_NAMES
    capsys.readouterr()
    assert prep_cifar10.main(["--data-root", str(root), "--from-archive", str(archive)]) == 0
    assert "already prepared" in capsys.readouterr().out


def test_cifar10_script_checksum_mismatch_leaves_nothing(tmp_path, capsys):
    make_cifar_pickles(tmp_path / "src")
    official_name = tmp_path / "cifar-10-python.tar.gz"      # recognised: published md5 checked
    tar_folder(tmp_path / "src" / "cifar10", official_name)
    root = tmp_path / "data"
    assert prep_cifar10.run(prep_cifar10.main, ["--data-root", str(root), "--from-archive",
                                                str(official_name)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (root / "cifar10").exists() and not list(root.glob(".cifar10-partial-*"))
    md5 = hashlib.md5(official_name.read_bytes()).hexdigest()
    renamed = official_name.rename(tmp_path / "mine.tar.gz")
    assert prep_cifar10.main(["--data-root", str(root), "--from-archive", str(renamed),
                              "--md5", md5]) == 0
    assert cifar10.load(root).train_x.shape == (20, 3, 32, 32)      # the pickle layout


def test_gtsrb_script_from_official_style_zips(tmp_path):
    src = tmp_path / "src"
    make_gtsrb(src, test_csv=False)
    gt = tmp_path / "gt"
    gt.mkdir()
    rows = [GT_HEADER] + [f"{k:05d}.ppm;1;1;0;0;1;1;{label}" for k, label in enumerate((2, 0, 1, 2, 0, 1))]
    (gt / "GT-final_test.csv").write_text("\r\n".join(rows) + "\r\n")
    train_zip = tmp_path / "train.zip"
    with zipfile.ZipFile(train_zip, "w") as zf:
        for path in sorted((src / "GTSRB" / "Final_Training").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(src).as_posix())
    test_zip = tmp_path / "test.zip"
    with zipfile.ZipFile(test_zip, "w") as zf:
        for path in sorted((src / "GTSRB" / "Final_Test").rglob("*")):
            zf.write(path, path.relative_to(src).as_posix())
    gt_zip = zip_folder(gt, tmp_path / "gt.zip")
    root = tmp_path / "data"
    args = ["--data-root", str(root)]
    for archive in (train_zip, test_zip, gt_zip):
        args += ["--from-archive", str(archive)]
    assert prep_gtsrb.main(args) == 0
    assert (root / "gtsrb" / "GTSRB" / "Final_Test" / "GT-final_test.csv").is_file()
    ds = DATASETS.get("gtsrb", namespace="image")(root)
    assert ds.train_x.shape == (9, 3, 32, 32) and ds.test_y.tolist() == [0, 0, 1, 1, 2, 2]


def test_tiny_imagenet_and_imagenet_and_folder_scripts(tmp_path, capsys):
    make_tiny_imagenet(tmp_path / "tsrc")
    tiny_zip = zip_folder(tmp_path / "tsrc", tmp_path / "tiny.zip")
    root = tmp_path / "data"
    assert prep_tiny.main(["--data-root", str(root), "--from-archive", str(tiny_zip)]) == 0
    assert (root / "tiny_imagenet" / "tiny-imagenet-200" / "wnids.txt").is_file()
    assert DATASETS.get("tiny_imagenet", namespace="image")(root).train_x.shape == (9, 3, 64, 64)

    assert prep_imagenet.main(["--data-root", str(root)]) == 2
    assert "no public download" in capsys.readouterr().err
    inet = tmp_path / "inet"
    make_class_folders(inet, ["n1", "n2"], {"train": 2, "val": 1}, size=(40, 30),
                       splits=("train", "val"))
    assert prep_imagenet.main(["--data-root", str(root), "--from-folder", str(inet)]) == 0
    assert (root / "imagenet" / "train").is_symlink()                # linked, not copied
    assert DATASETS.get("imagenet", namespace="image")(root, image_size=16).train_x.shape == (4, 3, 16, 16)

    folder = tmp_path / "fsrc"
    make_class_folders(folder, ["x", "y"], {"train": 1, "test": 1}, ext="png")
    assert prep_folder.main(["--data-root", str(root), "--from-folder", str(folder)]) == 0
    assert not (root / "image_folder" / "train").is_symlink()
    assert DATASETS.get("image_folder", namespace="image")(root).train_x.shape == (2, 3, 32, 32)


def _tar_with(archive: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        ok = tarfile.TarInfo("train/a/0.jpg")
        ok.size = 1
        tar.addfile(ok, io.BytesIO(b"x"))
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return archive


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "zip"])
def test_unsafe_archive_members_are_refused(tmp_path, kind):
    target = tmp_path / "deep" / "target"
    if kind == "zip":
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("../../evil.txt", b"pwned")
    else:
        member = tarfile.TarInfo({"dotdot": "train/../../../evil.txt",
                                  "absolute": str(tmp_path / "evil.txt")}.get(kind, "train/link"))
        if kind in ("dotdot", "absolute"):
            member.size = 5
        else:
            member.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            member.linkname = "../../../evil.txt" if kind == "symlink" else "/etc/passwd"
        archive = _tar_with(tmp_path / "evil.tar.gz", member, b"pwned")
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(archive, target)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "deep" / "evil.txt").exists()
    root = tmp_path / "data"
    assert prep_folder.run(prep_folder.main, ["--data-root", str(root), "--from-archive",
                                              str(archive)]) == 1
    assert not (root / "image_folder").exists() and not list(root.glob(".*partial*"))


def test_script_runs_from_the_command_line(tmp_path):
    folder = tmp_path / "fsrc"
    make_class_folders(folder, ["x"], {"train": 1, "test": 1}, ext="png")
    result = subprocess.run([sys.executable, str(REPO / "data_scripts" / "image_folder.py"),
                             "--data-root", str(tmp_path / "data"), "--from-folder", str(folder)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "prepared image_folder" in result.stdout


def test_real_cifar10_jpegs_from_the_offline_archive(tmp_path):
    if not OFFLINE_CIFAR.is_file():
        pytest.fail(f"the offline CIFAR-10 copy {OFFLINE_CIFAR} is missing: this check reads a "
                    f"few real images from it (see ../shared/datasets/README.md)")
    wanted: dict[tuple[str, str], int] = {}
    with tarfile.open(OFFLINE_CIFAR, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or wanted.get((parts[0], parts[1]), 0) >= 2:
                continue
            wanted[(parts[0], parts[1])] = wanted.get((parts[0], parts[1]), 0) + 1
            out = tmp_path / "cifar10" / parts[0] / parts[1] / parts[2]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(tar.extractfile(member).read())
    ds = cifar10.load(tmp_path)
    assert ds.classes == CIFAR_NAMES
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.test_x.shape == (20, 3, 32, 32)
    assert ds.train_x.float().std() > 20                    # real, varied pixels


def test_download_verifies_and_keeps_no_partial_file(tmp_path, monkeypatch, capsys):
    make_cifar_pickles(tmp_path / "src")
    tarball = tar_folder(tmp_path / "src" / "cifar10", tmp_path / "release.tar.gz")
    md5 = hashlib.md5(tarball.read_bytes()).hexdigest()
    monkeypatch.setattr(prep_cifar10, "URL", tarball.as_uri())       # file:// stands in for https
    monkeypatch.setattr(prep_cifar10, "MD5", "f" * 32)
    root = tmp_path / "data"
    assert prep_cifar10.run(prep_cifar10.main, ["--data-root", str(root)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (root / "cifar10").exists() and not list((root / "downloads").iterdir())
    monkeypatch.setattr(prep_cifar10, "MD5", md5)
    assert prep_cifar10.main(["--data-root", str(root)]) == 0
    assert (root / "downloads" / "cifar-10-python.tar.gz").is_file()
    assert cifar10.load(root).test_x.shape == (10, 3, 32, 32)
