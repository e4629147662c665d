"""benchmarks/nft_ideal.py on a smoke run: the control reproduces the matrix's NFT cell, and the
ideal variant trains on the clean set plus its triggered copy with true labels."""
from __future__ import annotations

import json

import pytest
import torch

from benchmarks.studies.nft_ideal import main as ideal_main, with_true_label_triggers
from benchmarks.runner.cli import main
from core.data import TensorData
from test_runner import FAST


def test_ideal_control_of_a_smoke_cell(tmp_path):
    run = tmp_path / "run"
    assert main(["--preset", "smoke", "--out", str(run), *FAST]) == 0
    out = tmp_path / "ideal"
    assert ideal_main(["--run", str(run), "--attack", "blend", "--out", str(out)]) == 0
    result = json.loads((out / "ideal-blend-seed0.json").read_text())
    control, ideal = result["variants"]
    assert control["after"] == result["record_nft_after"]   # the same NFT as the matrix ran
    assert ideal["samples"] == 2 * control["samples"]
    assert result["nft_config"]["iterations"] == 5


class _Stamp:
    def apply_trigger(self, inputs):
        return inputs + 1.0


def test_triggered_copies_keep_their_true_labels():
    clean = TensorData(torch.zeros(4, 2), torch.tensor([0, 1, 2, 1]))
    both = with_true_label_triggers(clean, _Stamp())
    assert torch.equal(both.targets, torch.tensor([0, 1, 2, 1, 0, 1, 2, 1]))
    assert torch.equal(both.inputs[4:], torch.ones(4, 2)) and torch.equal(both.inputs[:4],
                                                                         torch.zeros(4, 2))


def test_crop_padding_control_changes_nfts_augmentation_only(tmp_path):
    from tests.image.test_datasets import make_cifar_pickles

    make_cifar_pickles(tmp_path / "data", per_batch=30)
    run = tmp_path / "run"
    assert main(["--preset", "quick_small_cnn", "--attacks", "blend", "--data-root",
                 str(tmp_path / "data"), "--out", str(run), "--set", "data.train_per_class=6",
                 "--set", "data.test_per_class=3", "--set", "data.clean_per_class=1",
                 "--set", "data.crop_padding=2", "--set", "train.epochs=1",
                 "--set", "train.batch_size=16",
                 "--set", "defense_options.nft.iterations=3",
                 "--set", "defense_options.nft.batch_size=8", "--no-progress"]) == 0
    out = tmp_path / "pad4"
    assert ideal_main(["--run", str(run), "--attack", "blend", "--data-root",
                       str(tmp_path / "data"), "--only-control", "--crop-padding", "4",
                       "--out", str(out)]) == 0
    result = json.loads((out / "ideal-blend-seed0.json").read_text())
    assert [v["variant"] for v in result["variants"]] == ["clean set (NFT as run)"]
    assert result["nft_crop_padding"] == [4, "zeros"]
    assert result["before"] == json.loads(next(run.glob("records/**/blend/nft/seed0.json"))
                                          .read_text())["before"]          # the cached victim
    with pytest.raises(SystemExit, match="exclude each other"):
        ideal_main(["--run", str(run), "--attack", "blend", "--data-root", str(tmp_path / "data"),
                    "--only-control", "--only-ideal"])


def test_crop_padding_needs_a_task_that_crops(tmp_path):
    run = tmp_path / "run"
    assert main(["--preset", "smoke", "--out", str(run), *FAST]) == 0
    with pytest.raises(SystemExit, match="has no crop padding"):
        ideal_main(["--run", str(run), "--attack", "blend", "--crop-padding", "4"])
