"""The dataset scripts on small copies in the official layouts (no internet here)."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from data_scripts import hmdb51 as hmdb_script
from data_scripts import synthetic_actions
from data_scripts import ucf101 as ucf_script
from tasks.video.datasets import DecodeSettings, hmdb51, ucf101

from video_layouts import REAL, make_hmdb, make_ucf


def test_ucf101_from_folder_keeps_the_source(tmp_path):
    base = make_ucf(tmp_path / "src")
    for n in (2, 3):     # the official zip has three splits
        for kind in ("trainlist", "testlist"):
            (base / "ucfTrainTestlist" / f"{kind}{n:02d}.txt").write_text(
                (base / "ucfTrainTestlist" / f"{kind}01.txt").read_text())
    before = sorted(str(p.relative_to(base)) for p in base.rglob("*"))
    assert ucf_script.main(["--data-root", str(tmp_path / "data"), "--from-folder", str(base)]) == 0
    assert sorted(str(p.relative_to(base)) for p in base.rglob("*")) == before
    raw = ucf101.load(tmp_path / "data", DecodeSettings(2, 16))
    assert raw.classes == ["ApplyEyeMakeup", "Biking"] and len(raw.train_y) == 4
    marker = json.loads((tmp_path / "data" / "ucf101" / ".prepared.json").read_text())
    assert "2 classes" in marker["summary"]


def test_hmdb51_from_folder(tmp_path):
    make_hmdb(tmp_path / "src")
    splits = tmp_path / "src" / "hmdb51" / "testTrainMulti_7030_splits"
    for name in ("wave", "clap"):       # the official release has three full splits
        for n in (2, 3):
            (splits / f"{name}_test_split{n}.txt").write_text(
                (splits / f"{name}_test_split1.txt").read_text())
    source = tmp_path / "src" / "hmdb51"
    (source / "videos").rename(source / "unpacked")         # class folders anywhere below
    assert hmdb_script.main(["--data-root", str(tmp_path / "data"), "--from-folder",
                             str(source)]) == 0
    raw = hmdb51.load(tmp_path / "data", DecodeSettings(2, 16))
    assert raw.classes == ["clap", "wave"] and len(raw.test_y) == 2


def test_rar_without_rarfile_is_a_clear_error(tmp_path, monkeypatch):
    import builtins
    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(
        ImportError()) if name == "rarfile" else real(name, *a, **k))
    with pytest.raises(ucf_script.PrepareError, match="--from-folder"):
        ucf_script.extract_rar(tmp_path / "x.rar", tmp_path)


def tiny_cifar_tar(path: Path, per_split: int = 30) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for k in range(per_split):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG")
                info = tarfile.TarInfo(f"{split}/cls{k % 3}/{k:04d}.jpg")
                info.size = len(buf.getvalue())
                tar.addfile(info, io.BytesIO(buf.getvalue()))
    return path


def test_synthetic_actions_writes_a_ucf_layout_the_loader_reads(tmp_path):
    if not REAL.is_dir():
        pytest.skip("the real background videos are not present")
    archive = tiny_cifar_tar(tmp_path / "objects.tar.gz", per_split=180)
    code = synthetic_actions.main(["--data-root", str(tmp_path), "--objects", str(archive),
                                   "--backgrounds", str(REAL), "--clips-per-group", "1",
                                   "--frames", "10", "--size", "32"])
    assert code == 0
    lists = tmp_path / "moving_objects" / "ucfTrainTestlist"
    assert len((lists / "trainlist01.txt").read_text().splitlines()) == 10 * 18
    assert len((lists / "testlist01.txt").read_text().splitlines()) == 10 * 7
    # the test split holds groups 1-7 only, training 8-25
    assert all("_g0" in line and int(line.split("_g")[1][:2]) <= 7
               for line in (lists / "testlist01.txt").read_text().splitlines())
    raw = ucf101.load(tmp_path, DecodeSettings(num_frames=2, frame_size=16), folder_name="moving_objects",
                      script="synthetic_actions")
    assert raw.train_x.shape == (180, 2, 3, 16, 16) and raw.padded == 0
    assert torch.bincount(raw.test_y).tolist() == [7] * 10
