"""Presets on small generated copies of the official layouts (100 VOC images, 8 UCF-101 clips per
class): they run to the end, or stop before training with one line naming the keys to change;
following that line makes them run."""
from __future__ import annotations

import re

import pytest

from benchmarks.runner.cli import main
from official_layouts import ucf_copy, voc_copy

pytest.importorskip("av")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("official")
    voc_copy(root, images=100)
    ucf_copy(root, classes=3, train_per_class=8, test_per_class=2)
    return root


def _run(root, out, preset, dataset, *sets):
    args = ["--preset", preset, "--dataset", dataset, "--data-root", str(root), "--out", str(out),
            "--no-progress"]
    for item in sets:
        args += ["--set", item]
    return main(args)


def _keys(err: str) -> list[str]:
    """The ``--set key=value`` fixes a one-line error names."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return re.findall(r"(?:--set |set )([\w.]+=[\d.]+)", lines[0])


def test_detection_smoke_on_voc07_names_the_batch_key_then_runs(data_root, tmp_path, capsys):
    assert _run(data_root, tmp_path / "a", "detection_smoke", "voc07") == 2
    keys = _keys(capsys.readouterr().err)
    assert keys == ["defense_options.nft.batch_size=10"]
    assert not (tmp_path / "a" / "cache").exists()           # stopped before training
    assert _run(data_root, tmp_path / "a", "detection_smoke", "voc07", *keys) == 0
    assert capsys.readouterr().err.strip() == ""              # --no-progress: no bars


def test_detection_boxes_smoke_on_voc07_uses_a_voc_target_and_runs(data_root, tmp_path, capsys):
    import json

    assert _run(data_root, tmp_path / "b", "detection_boxes_smoke", "voc07") == 0
    record = json.loads(next((tmp_path / "b" / "records").rglob("seed0.json")).read_text())
    assert record["config"]["attack"]["target"] in ("car", 6)
    assert record["data"]["fingerprint"]["counts"] == {"test": 50, "train": 50}
    assert "difficult" in record["data"]["map_protocol"]


def test_video_smoke_on_ucf101_with_8_clips_per_class(data_root, tmp_path, capsys):
    out, sets = tmp_path / "v", []
    for _ in range(3):                                        # follow the messages
        code = _run(data_root, out, "video_smoke", "ucf101", *sets)
        err = capsys.readouterr().err
        if code == 0:
            break
        assert code == 2 and not (out / "cache").exists()
        keys = _keys(err)
        assert keys, err
        sets += keys
    assert code == 0, err
    assert sets[0] == "data.clean_per_class=4"
    assert "train:" not in err                               # --no-progress silences the bar
