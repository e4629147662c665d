"""FPS and ball query against brute-force references; the models' permutation invariance;
NFT's masks reach every set-abstraction level and fold back."""
import pytest
import torch
from torch import nn

from core.masks import fold_masks, inject_masks
from core.registry import MODELS
from tasks.pointcloud import models  # noqa: F401  (registration)
from tasks.pointcloud.ops import ball_query, furthest_point_sample


def fps_reference(cloud: torch.Tensor, m: int) -> list[int]:
    """One cloud, plain Python: start furthest from the centroid, then greedy farthest."""
    pts = cloud.double()
    centroid = pts.mean(0)
    chosen = [max(range(len(pts)), key=lambda i: float((pts[i] - centroid).pow(2).sum()))]
    while len(chosen) < m:
        def gap(i: int) -> float:
            return min(float((pts[i] - pts[j]).pow(2).sum()) for j in chosen)
        chosen.append(max(range(len(pts)), key=gap))
    return chosen


def ball_reference(cloud: torch.Tensor, centre: torch.Tensor, radius: float, k: int) -> list[int]:
    d = [(float((p - centre).double().pow(2).sum()), i) for i, p in enumerate(cloud)]
    d.sort()
    inside = [i for dist, i in d if dist <= radius * radius][:k]
    nearest = d[0][1]
    return inside + [nearest] * (k - len(inside))


def test_fps_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    clouds = torch.rand(3, 60, 3, generator=g)
    got = furthest_point_sample(clouds, 12)
    for b in range(3):
        assert got[b].tolist() == fps_reference(clouds[b], 12)


def test_ball_query_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    clouds = torch.rand(2, 80, 3, generator=g)
    centres = clouds[:, :7] + 0.01
    got = ball_query(clouds, centres, radius=0.3, k=10)
    for b in range(2):
        for m in range(7):
            assert got[b, m].tolist() == ball_reference(clouds[b], centres[b, m], 0.3, 10)
    # a tiny radius leaves only padding with the nearest point
    lonely = ball_query(clouds, centres, radius=1e-4, k=4)
    assert (lonely == lonely[..., :1]).all()


@pytest.mark.parametrize("name", ["pointnet2_ssg_tiny", "pointnet2_ssg_small", "pointnet_small"])
def test_models_are_permutation_invariant(name):
    torch.manual_seed(0)
    model = MODELS.get(name, namespace="pointcloud")(num_classes=5).eval()
    g = torch.Generator().manual_seed(2)
    clouds = torch.rand(3, 256, 3, generator=g) * 2 - 1
    perm = torch.randperm(256, generator=g)
    with torch.no_grad():
        a, b = model(clouds), model(clouds[:, perm])
    assert a.shape == (3, 5)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # and the output does depend on the cloud (not a constant)
    assert not torch.allclose(a[0], a[1])


def test_reference_sizes_build_and_run():
    clouds = torch.rand(2, 1024, 3) * 2 - 1
    for name, params in (("pointnet2_ssg", 1.4e6), ("pointnet2_msg", 1.6e6), ("pointnet", 0.7e6)):
        model = MODELS.get(name, namespace="pointcloud")(num_classes=40).eval()
        assert sum(p.numel() for p in model.parameters()) > params
        with torch.no_grad():
            assert model(clouds).shape == (2, 40)


def test_masks_reach_every_set_abstraction_level_and_fold_back():
    torch.manual_seed(0)
    model = MODELS.get("pointnet2_ssg_tiny", namespace="pointcloud")(num_classes=4)
    clouds = torch.rand(4, 128, 3) * 2 - 1
    model.train()
    model(clouds)                        # give BatchNorm non-trivial running statistics
    model.eval()
    keys = list(model.state_dict())
    masked = inject_masks(model, clouds[:2])
    names = [m.target for m in masked]
    for level in ("sa.0.", "sa.1.", "global_sa."):
        assert any(n.startswith(level) for n in names), (level, names)
    assert all(m.via == "norm" for m in masked if not m.name.startswith("head.2"))
    assert "sa.0.mlps.0.0" not in [m.name for m in masked]   # the first layer is never masked
    with torch.no_grad():
        for m in masked:
            m.mask.uniform_(0.2, 1.0)
        expected = model(clouds)
    fold_masks(model)
    assert list(model.state_dict()) == keys
    assert not any(isinstance(p, nn.Module) and hasattr(p, "parametrizations")
                   for p in model.modules() if hasattr(p, "parametrizations"))
    with torch.no_grad():
        torch.testing.assert_close(model(clouds), expected)
