"""The image adapter and the runner on a tiny CIFAR-style image folder written by the test."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.runner.cli import main
from core.registry import TASKS

CLASSES = ["airplane", "automobile", "bird", "cat"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """cifar10/train/<class>/*.png (30 per class) and cifar10/test/<class>/*.png (10 per class)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for split, count in (("train", 30), ("test", 10)):
        for c, name in enumerate(CLASSES):
            folder = root / "cifar10" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                base = np.zeros((32, 32, 3), dtype=np.uint8)
                base[..., c % 3] = 120 + 40 * (c // 3)           # class colour
                noise = rng.integers(0, 60, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(base + noise).save(folder / f"{i:04d}.png")
    return root


def test_splits_hold_out_a_balanced_clean_set(data_root):
    adapter = TASKS.get("image")()
    splits = adapter.load_splits("cifar10", data_root, {"clean_per_class": 2,
                                                         "train_per_class": 20,
                                                         "test_per_class": 5}, seed=0)
    assert splits.num_classes == 4 and adapter.num_classes == 4
    assert torch.bincount(splits.clean.targets).tolist() == [2, 2, 2, 2]
    assert torch.bincount(splits.train.targets).tolist() == [20, 20, 20, 20]
    assert len(splits.test) == 20
    assert splits.train.inputs.dtype == torch.float32
    assert 0.0 <= splits.train.inputs.min() and splits.train.inputs.max() <= 1.0
    flat = splits.train.inputs.flatten(1)
    for image in splits.clean.inputs.flatten(1):          # held out from the attacker's data
        assert not (flat == image).all(dim=1).any()
    again = adapter.load_splits("cifar10", data_root, {"clean_per_class": 2}, seed=0)
    assert again.info["clean_index_hash"] == splits.info["clean_index_hash"]
    other = adapter.load_splits("cifar10", data_root, {"clean_per_class": 2}, seed=1)
    assert other.info["clean_index_hash"] != splits.info["clean_index_hash"]
    # the paper's 1 % for CIFAR-10 rounds to one image per class here
    default = adapter.load_splits("cifar10", data_root, {}, seed=0)
    assert len(default.clean) == 4


def test_model_that_cannot_take_the_images_is_a_clear_error(data_root):
    adapter = TASKS.get("image")()
    splits = adapter.load_splits("cifar10", data_root, {"clean_per_class": 1}, seed=0)
    splits.train.inputs = splits.train.inputs[..., :8, :8]   # 8×8 images
    with pytest.raises(ValueError, match="cannot take 3×8×8 images"):
        adapter.build_model("vgg16", splits)


def test_missing_dataset_says_where_and_how(tmp_path):
    adapter = TASKS.get("image")()
    with pytest.raises(FileNotFoundError) as info:
        adapter.load_splits("cifar10", tmp_path, {}, seed=0)
    assert str(tmp_path) in str(info.value) and "data_scripts/cifar10.py" in str(info.value)


def test_runner_end_to_end_on_image_folder(data_root, tmp_path):
    out = tmp_path / "run"
    code = main(["--preset", "quick", "--data-root", str(data_root), "--out", str(out),
                 "--attacks", "badnets,blend", "--defenses", "nft", "--no-progress",
                 "--post-purification", "none",   # quick runs RA by default; not this test's subject
                 "--set", "train.lr=0.05",   # the preset's 1.5 is for batches of 1024, not 16
                 "--set", "data={clean_per_class: 4, test_per_class: 10}",
                 "--set", "train.epochs=1", "--set", "train.batch_size=16",
                 "--set", "defense_options.nft.iterations=3",
                 "--set", "defense_options.nft.batch_size=8"])
    assert code == 0
    records = sorted((out / "records").rglob("seed0.json"))
    assert [r.parent.parent.name for r in records] == ["badnets", "blend"]
    record = json.loads(records[0].read_text())
    assert record["task"] == "image" and record["dataset"] == "cifar10"
    assert {"clean_acc", "asr", "lcr"} <= set(record["after"])
    assert record["data"]["clean_size"] == 16
    # the preset's cpu_bf16 "auto", resolved (tests/conftest.py makes "auto" float32 on every
    # CPU), and the record says which path ran and why
    assert record["numeric_path"]["path"] == "float32"
    assert "NFT_CPU_BF16" in record["numeric_path"]["reason"]
    assert record["config"]["train"]["cpu_bf16"] is False


def test_bad_image_options_fail_before_training(data_root, tmp_path, capsys):
    base = ["--preset", "quick", "--data-root", str(data_root), "--out", str(tmp_path / "o"),
            "--no-progress"]
    assert main(base + ["--set", "attack_options={badnets: {poison_rate: 2}}"]) == 2
    assert "poison_rate" in capsys.readouterr().err
    assert main(base + ["--set", "attack_options={badnets: {target: 4}}"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(base + ["--model", "vgg16", "--set", "data={image_size: 8}"]) == 2
    assert "cannot take 3×8×8 images" in capsys.readouterr().err
    assert not (tmp_path / "o" / "cache").exists()
