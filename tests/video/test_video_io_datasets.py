"""Decoding, frame sampling, split files and loaders on real encoded files (synthetic copies in
the official layouts, written with PyAV) and on the two real clips in ../shared."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tasks.video.datasets import DecodeSettings, MissingSplitError, hmdb51, ucf101
from tasks.video.io import ShortVideoError, VideoDecodeError, decode_clip, write_video
from video_layouts import REAL, make_hmdb, make_ucf, numbered_frames



def frame_index(clip: torch.Tensor) -> list[int]:
    return [round(v / 5) for v in clip.float().mean(dim=(1, 2, 3)).tolist()]


def test_frame_sampling_one_in_five_centred(tmp_path):
    path = write_video(tmp_path / "n.avi", numbered_frames(50))
    clip, padded = decode_clip(path, num_frames=4, size=16, step=5)
    assert clip.shape == (4, 3, 16, 16) and clip.dtype == torch.uint8 and padded == 0
    # sampled frames 0,5,...,45 (10 of them); the centred 4 are 15,20,25,30
    assert frame_index(clip) == [15, 20, 25, 30]


def test_short_video_padded_or_refused(tmp_path):
    path = write_video(tmp_path / "short.avi", numbered_frames(12))   # samples 0, 5, 10
    clip, padded = decode_clip(path, num_frames=5, size=16, step=5, short="pad")
    assert padded == 2 and frame_index(clip) == [0, 5, 10, 10, 10]
    with pytest.raises(ShortVideoError, match="short.avi.*3 sampled frames.*data.num_frames"):
        decode_clip(path, num_frames=5, size=16, step=5)          # refused by default


def test_corrupt_and_truncated_files_are_named(tmp_path):
    bad = tmp_path / "garbage.avi"
    bad.write_bytes(b"not a video" * 50)
    with pytest.raises(VideoDecodeError, match="garbage.avi"):
        decode_clip(bad, 4, 16)
    good = write_video(tmp_path / "ok.avi", numbered_frames(20))
    cut = tmp_path / "truncated.avi"
    cut.write_bytes(good.read_bytes()[:400])
    with pytest.raises(VideoDecodeError, match="truncated.avi"):
        decode_clip(cut, 4, 16)


def test_video_cut_short_is_a_bad_file_not_a_padded_one(tmp_path):
    good = write_video(tmp_path / "ok.avi", numbered_frames(65))
    data = good.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[:int(0.7 * len(data))])   # opens, decodes 28 of 65 frames
    with pytest.raises(VideoDecodeError, match=r"cut.avi: truncated: \d+ of the 65 frames"):
        decode_clip(cut, 2, 16, short="pad")   # even with padding allowed


@pytest.mark.parametrize("name, frames", [("mmaction2-test.avi", 164), ("mmaction2-demo.mp4", 280)])
def test_real_clips_decode(name, frames):
    path = REAL / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    clip, padded = decode_clip(path, num_frames=8, size=32, step=5)
    assert clip.shape == (8, 3, 32, 32) and padded == 0
    assert clip.float().std() > 10                     # real content, not a flat frame
    # one frame in five of the whole video: ceil(frames / 5) sampled frames, none padded
    long, padded = decode_clip(path, num_frames=-(-frames // 5), size=16, step=5)
    assert padded == 0
    _, padded = decode_clip(path, num_frames=-(-frames // 5) + 1, size=16, step=5, short="pad")
    assert padded == 1


def test_ucf_split_parsing(tmp_path):
    lists = tmp_path / "l"
    lists.mkdir()
    (lists / "classInd.txt").write_text("2 Biking\n1 ApplyEyeMakeup\n")
    classes = ucf101.read_class_index(lists / "classInd.txt")
    assert classes == ["ApplyEyeMakeup", "Biking"]
    (lists / "trainlist01.txt").write_text("Biking/v_Biking_g08_c01.avi 2\n\n")
    assert ucf101.read_split_list(lists / "trainlist01.txt", classes) == [
        ("Biking/v_Biking_g08_c01.avi", 1, 1)]
    (lists / "nonint.txt").write_text("Biking/v_Biking_g08_c01.avi 2\nBiking/v_Biking_g09_c01.avi x\n")
    with pytest.raises(ValueError, match=r"nonint.txt:2: expected"):
        ucf101.read_split_list(lists / "nonint.txt", classes)
    (lists / "bad.txt").write_text("Biking/v_Biking_g08_c01.avi 1\n")
    with pytest.raises(ValueError, match="disagrees"):
        ucf101.read_split_list(lists / "bad.txt", classes)
    (lists / "testlist01.txt").write_text("Rowing/v_Rowing_g01_c01.avi\n")
    with pytest.raises(ValueError, match="Rowing"):
        ucf101.read_split_list(lists / "testlist01.txt", classes)
    (lists / "gap.txt").write_text("1 A\n3 B\n")
    with pytest.raises(ValueError, match="1..2"):
        ucf101.read_class_index(lists / "gap.txt")


def test_ucf_loader_and_cache(tmp_path):
    make_ucf(tmp_path)
    settings = DecodeSettings(num_frames=2, frame_size=16, frame_step=5)
    raw = ucf101.load(tmp_path, settings)
    assert raw.classes == ["ApplyEyeMakeup", "Biking"]
    assert raw.train_x.shape == (4, 2, 3, 16, 16) and raw.test_x.shape == (2, 2, 3, 16, 16)
    assert raw.train_y.tolist() == [0, 0, 1, 1] and raw.test_y.tolist() == [0, 1]
    # the class colour survives encoding + decoding
    assert raw.test_x[0, :, 0].float().mean() > raw.test_x[0, :, 1].float().mean() + 100
    cached = list((tmp_path / "ucf101" / ".cache").glob("clips-*.safetensors"))
    assert len(cached) == 1
    again = ucf101.load(tmp_path, settings)
    assert torch.equal(again.train_x, raw.train_x)


def test_missing_split_file_names_path_and_command(tmp_path):
    base = make_ucf(tmp_path)
    (base / "ucfTrainTestlist" / "testlist01.txt").unlink()
    with pytest.raises(MissingSplitError, match=r"testlist01\.txt.*data_scripts/ucf101\.py"):
        ucf101.load(tmp_path, DecodeSettings(2, 16))
    with pytest.raises(MissingSplitError, match="data_scripts/hmdb51.py"):
        hmdb51.load(tmp_path, DecodeSettings(2, 16))


def test_corrupt_video_raise_or_skip_and_count(tmp_path):
    base = make_ucf(tmp_path)
    (base / "UCF-101" / "Biking" / "v_Biking_g08_c01.avi").write_bytes(b"broken" * 20)
    with pytest.raises(VideoDecodeError, match="v_Biking_g08_c01.avi"):
        ucf101.load(tmp_path, DecodeSettings(2, 16))
    raw = ucf101.load(tmp_path, DecodeSettings(2, 16, on_error="skip"))
    assert len(raw.skipped) == 1 and "v_Biking_g08_c01.avi" in raw.skipped[0]
    assert len(raw.train_y) == 3


def test_hmdb_split_parsing_and_loader(tmp_path):
    make_hmdb(tmp_path)
    parsed = hmdb51.read_split_file(tmp_path / "hmdb51" / "testTrainMulti_7030_splits"
                                    / "wave_test_split1.txt")
    assert parsed == {"train": ["wave_0.avi", "wave_1.avi"], "test": ["wave_2.avi"],
                      "unused": ["wave_3.avi"]}
    raw = hmdb51.load(tmp_path, DecodeSettings(num_frames=2, frame_size=16))
    assert raw.classes == ["clap", "wave"]                         # sorted class names
    assert raw.train_y.tolist() == [0, 0, 1, 1] and raw.test_y.tolist() == [0, 1]
    bad = tmp_path / "bad.txt"
    bad.write_text("x.avi 3\n")
    with pytest.raises(ValueError, match="0\\|1\\|2"):
        hmdb51.read_split_file(bad)
