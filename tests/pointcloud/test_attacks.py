"""Each point-cloud attack's trigger: count preserved, rotation exact, cluster size, clean labels."""
import math

import pytest
import torch

from core.data import TensorData
from core.registry import ATTACKS
from core.seeding import make_generator
from tasks.pointcloud.adapter import PointCloudTask


def build(name, num_classes=4, **options):
    import tasks.pointcloud  # noqa: F401
    return ATTACKS.get(name, namespace="pointcloud").from_options(options, num_classes)


def clouds(n=6, p=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, p, 3, generator=g) * 2 - 1
    return x / x.norm(dim=-1).amax(dim=1)[:, None, None]


def test_pointba_i_inserts_the_ball_and_keeps_the_count():
    attack = build("pointba_i")
    x = clouds()
    y = attack.apply_trigger(x)
    assert y.shape == x.shape and not torch.equal(x, y) and torch.equal(x, clouds())
    dist = (y - torch.tensor([0.05, 0.05, 0.05])).norm(dim=-1)
    on_ball = (dist - 0.05).abs() < 1e-5
    assert (on_ball.sum(dim=1) == 32).all()
    changed = (x != y).any(dim=-1)
    assert (changed.sum(dim=1) == 32).all()
    assert torch.equal(changed[0], changed[1])          # the same slots in every shape
    with pytest.raises(ValueError):
        build("pointba_i", ball_points=0)


def test_pointba_o_is_an_exact_rotation():
    attack = build("pointba_o")
    x = clouds()
    y = attack.apply_trigger(x)
    assert y.shape == x.shape
    exact = "donot_use_mm_for_euclid_dist"
    torch.testing.assert_close(torch.cdist(y, y, compute_mode=exact),
                               torch.cdist(x, x, compute_mode=exact), atol=1e-5, rtol=0)
    cx = x - x.mean(1, keepdim=True)
    cy = y - y.mean(1, keepdim=True)
    torch.testing.assert_close(cy[..., 0], cx[..., 0], atol=1e-6, rtol=0)   # about x
    angle = math.radians(10.0)
    expected_y = cx[..., 1] * math.cos(angle) - cx[..., 2] * math.sin(angle)
    torch.testing.assert_close(cy[..., 1], expected_y, atol=1e-5, rtol=0)
    rot = attack.rotation()
    torch.testing.assert_close(rot @ rot.T, torch.eye(3, dtype=rot.dtype))


def test_pointcba_poisons_only_the_target_class_and_keeps_labels():
    attack = build("pointcba", target=1, poison_rate=0.5)
    x = clouds(n=20)
    labels = torch.arange(20) % 4
    result = attack.poison(TensorData(x, labels), make_generator(0))
    assert torch.equal(result.data.targets, labels)
    assert (labels[result.indices] == 1).all() and len(result.indices) == 2   # 50 % of 5
    changed = (result.data.inputs != x).any(dim=-1).any(dim=-1)
    assert torch.equal(torch.nonzero(changed).flatten(), result.indices)
    assert attack.clean_label


def test_dirty_label_poison_relabels_an_exact_share():
    attack = build("pointba_o", target=0, poison_rate=0.25)
    labels = torch.arange(40) % 4
    result = attack.poison(TensorData(clouds(n=40), labels), make_generator(0))
    assert len(result.indices) == 10 and (result.data.targets[result.indices] == 0).all()
    assert (labels[result.indices] != 0).all()


def test_3dpc_ba_learns_a_cluster_of_32_points():
    adapter = PointCloudTask()
    splits = adapter.load_splits("synthetic", None, {"num_points": 128, "train_size": 240,
                                                     "test_size": 60, "num_classes": 4,
                                                     "clean_per_class": 5}, seed=0)
    attack = build("3dpc_ba", source=2, restarts=2, steps=20, surrogate_epochs=1,
                   surrogate_samples=64, progress=False)
    with pytest.raises(RuntimeError, match="prepare"):
        attack.apply_trigger(splits.test.inputs[:2])
    attack.prepare(splits.train, adapter, torch.device("cpu"), seed=0)
    x = splits.test.inputs[:5]
    y = attack.apply_trigger(x)
    assert y.shape == x.shape
    centre, radius = attack.learned.centre, float(attack.learned.radius)
    assert radius > 0
    on_sphere = ((y - centre).norm(dim=-1) - radius).abs() < 1e-4
    assert (on_sphere.sum(dim=1) >= 32).all()
    assert ((x != y).any(dim=-1).sum(dim=1) == 32).all()
    labels = torch.tensor([0, 1, 2, 3, 2])
    assert attack.eval_selection(labels).tolist() == [False, False, True, False, True]
    assert "trigger" in attack.artifacts and "surrogate" in attack.artifacts
