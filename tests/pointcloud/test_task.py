"""The adapter, NFT's point-cloud augmentations, refusals, and the smoke preset end to end."""
import json
import math

import pytest
import torch

from benchmarks.runner.matrix import MatrixRunner
from benchmarks.runner.presets import load_preset
from core.defenses.ibau import IBAU
from core.defenses.awm import AWM
from core.defenses.base import UnsupportedDefenseError
from core.defenses.nft import NFT
from core.registry import AUGMENTATIONS, TASKS
from tasks.pointcloud.augmentations import PointDropout, RotateUp, SubsetMix


def adapter_and_splits():
    adapter = TASKS.get("pointcloud")()
    splits = adapter.load_splits("synthetic", None, {"num_points": 64, "train_size": 120,
                                                     "test_size": 30, "clean_per_class": 4},
                                 seed=0)
    return adapter, splits


def test_splits_and_default_nft_augmentation():
    adapter, splits = adapter_and_splits()
    assert splits.train.inputs.shape[1:] == (64, 3) and splits.num_classes == 6
    assert len(splits.clean) == 24 and splits.info["up_axis"] == "z"
    torch.testing.assert_close(splits.test.inputs.norm(dim=-1).amax(1), torch.ones(30))
    assert adapter.default_nft_augmentation == "point_mix"
    aug = NFT().build_augmentation(adapter)
    x, y = splits.clean.inputs[:8], splits.clean.targets[:8]
    out, soft = aug(x, y, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and soft.shape == (8, 6)
    torch.testing.assert_close(soft.sum(1), torch.ones(8))
    for name in ("point_rotate", "point_dropout", "point_subset_mix", "mixup"):
        AUGMENTATIONS.get(name, namespace="pointcloud")(adapter)


def test_point_augmentations():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 50, 3) * 2 - 1
    r, _ = RotateUp(axis=2)(x, None, g)
    torch.testing.assert_close(r[..., 2], x[..., 2])                 # up coordinate kept
    torch.testing.assert_close(r.norm(dim=-1), x.norm(dim=-1))
    d, _ = PointDropout(0.875)(x, None, g)
    assert d.shape == x.shape
    dropped = (d != x).any(-1)
    assert torch.equal(d[dropped], x[:, :1].expand_as(x)[dropped])  # replaced by the first point
    y = torch.tensor([0, 1, 2, 3])
    m, soft = SubsetMix(num_classes=4, alpha=1.0)(x, y, g)
    share = soft.max(dim=1).values
    own = torch.tensor([sum(bool((m[b] == p).all(-1).any()) for p in x[b]) for b in range(4)])
    assert m.shape == x.shape and torch.allclose(soft.sum(1), torch.ones(4))
    assert abs(float(soft[0, 0]) * 50 - int(own[0])) < 1 + 1e-6 or float(share[0]) >= 0.5


def test_ibau_and_awm_refuse_point_clouds_before_training():
    adapter, splits = adapter_and_splits()
    for defense in (IBAU(), AWM()):
        reason = defense.supports(adapter)                      # the runner's check
        assert reason and "unordered set" in reason and "point slot" in reason, reason
        assert "inputs are not continuous" not in reason
        with pytest.raises(UnsupportedDefenseError, match="unordered set"):  # purify's own check
            defense.purify(torch.nn.Linear(3, 6), adapter, splits.clean, torch.device("cpu"))
    assert NFT().supports(adapter) is None


def test_capability_reason_hook_is_generic():
    """core quotes an adapter's own reason only where it gives one: an adapter that lacks the
    capability without wording it (the text task, a point-cloud subclass returning None) keeps
    core's generic message, and a continuous task is not refused."""
    class Unworded(TASKS.get("pointcloud")):
        def capability_reason(self, capability):
            return None

    generic = "inputs are not continuous (continuous_inputs is False)"
    assert AWM().supports(Unworded()) == ("AWM adds a gradient-found perturbation to the inputs, "
                                          f"but Unworded {generic}")
    assert IBAU().supports(TASKS.get("text")()).endswith(f"but TextTask {generic}")
    assert IBAU().supports(TASKS.get("video")()) is None
    assert TASKS.get("video")().capability_reason("continuous_inputs") is None


def test_smoke_preset_end_to_end(tmp_path):
    preset = load_preset("pointcloud_smoke")
    runner = MatrixRunner(preset, tmp_path, None, progress=False)
    outcome = runner.run()
    assert not outcome.errors and len(outcome.written) == 1
    record = json.loads(outcome.written[0].read_text())
    assert record["status"] == "ok" and record["task"] == "pointcloud"
    assert record["before"]["asr"] > 60 and record["before"]["clean_acc"] > 85, record["before"]
    assert record["after"]["asr"] < record["before"]["asr"], (record["before"], record["after"])
    assert math.isfinite(record["after"]["asr"])
    assert any(name.startswith("sa.1") for name in record["diagnostics"]["masks"])


def test_trigger_picture(tmp_path):
    from benchmarks.studies.pointcloud_render import render_pair
    from core.registry import ATTACKS

    clean = torch.rand(100, 3) * 2 - 1
    attack = ATTACKS.get("pointba_i", namespace="pointcloud").from_options({}, 4)
    out = render_pair(clean, attack.apply_trigger(clean[None])[0], tmp_path / "t.png", "test")
    assert out.is_file() and out.stat().st_size > 10_000
