"""BadDet's four attacks (boxes and labels, pixels), ASR@0.5 and mAP on hand-computed cases,
and the box-moving augmentations."""
import pytest
import torch

from core.data import TensorData
from core.registry import ATTACKS
from tasks.detection import attacks  # noqa: F401  (registration)
from tasks.detection.attacks.baddet import EvalItem, checkerboard
from tasks.detection.box_augmentations import BoxMixUp, BoxShiftFlip
from tasks.detection.box_metrics import attack_success_rate, coco_map

CATS = ["car", "truck", "dog"]
CAR, TRUCK, DOG = 0, 1, 2


def _build(name, **options):
    opts = {"target": "truck", "patch_size": 4, "blend": 1.0, "poison_rate": 0.5, **options}
    return ATTACKS.get(name, namespace="detection_boxes").from_options(opts, 3).bind(CATS)


def _data(n=8):
    """n grey 32×32 images; even ones hold a car and a dog, odd ones a truck only."""
    inputs = torch.full((n, 3, 32, 32), 0.5)
    targets = []
    for i in range(n):
        if i % 2 == 0:
            targets.append({"boxes": torch.tensor([[2., 2., 12., 12.], [16., 16., 30., 28.]]),
                            "labels": torch.tensor([CAR, DOG])})
        else:
            targets.append({"boxes": torch.tensor([[4., 4., 20., 20.]]),
                            "labels": torch.tensor([TRUCK])})
    return TensorData(inputs, targets)


def _changed(before, after):
    return (before != after).any(0)           # (H, W) pixels that changed


def test_object_generation_adds_one_target_box_exactly_at_the_patch():
    data, attack = _data(), _build("baddet_oga")
    result = attack.poison(data, torch.Generator().manual_seed(0))
    assert len(result.indices) == 4                       # 0.5 of all 8 images
    for i in range(8):
        old, new = data.targets[i], result.data.targets[i]
        changed = _changed(data.inputs[i], result.data.inputs[i])
        if i not in result.indices.tolist():
            assert not changed.any() and torch.equal(new["labels"], old["labels"])
            continue
        assert torch.equal(new["labels"][:-1], old["labels"]) and int(new["labels"][-1]) == TRUCK
        x1, y1, x2, y2 = new["boxes"][-1].int().tolist()
        assert (x2 - x1, y2 - y1) == (4, 4)
        inside = torch.zeros_like(changed)
        inside[y1:y2, x1:x2] = True
        assert changed[inside].any() and not changed[~inside].any()
    assert not torch.equal(data.inputs, result.data.inputs) and data.inputs.eq(0.5).all()


def test_regional_misclassification_relabels_and_stamps_only_source_boxes():
    attack, data = _build("baddet_rma", source="car"), _data()
    result = attack.poison(data, torch.Generator().manual_seed(1))
    assert set(result.indices.tolist()) <= {0, 2, 4, 6} and len(result.indices) == 2
    for i in result.indices.tolist():
        new = result.data.targets[i]
        assert new["labels"].tolist() == [TRUCK, DOG]
        assert torch.equal(new["boxes"], data.targets[i]["boxes"])
        changed = _changed(data.inputs[i], result.data.inputs[i])
        assert changed[2:6, 2:6].any() and changed.sum() <= 16 and not changed[16:, 16:].any()
    # source "" = every class but the target: the dog is relabelled too, the truck never
    every = _build("baddet_rma").poison(_data(), torch.Generator().manual_seed(1))
    for i in every.indices.tolist():
        assert every.data.targets[i]["labels"].tolist() == [TRUCK, TRUCK]


def test_global_misclassification_relabels_every_box_with_one_corner_patch():
    data, attack = _data(), _build("baddet_gma", poison_rate=1.0)
    result = attack.poison(data, torch.Generator().manual_seed(0))
    assert result.indices.tolist() == [0, 2, 4, 6]         # images with a non-target object
    for i in result.indices.tolist():
        assert (result.data.targets[i]["labels"] == TRUCK).all()
        changed = _changed(data.inputs[i], result.data.inputs[i])
        assert changed[:4, :4].any() and changed.sum() <= 16


def test_object_disappearance_removes_the_triggered_victims_only():
    data, attack = _data(), _build("baddet_oda", source="dog", poison_rate=1.0)
    result = attack.poison(data, torch.Generator().manual_seed(0))
    assert result.indices.tolist() == [0, 2, 4, 6]
    for i in result.indices.tolist():
        new = result.data.targets[i]
        assert new["labels"].tolist() == [CAR] and new["boxes"].tolist() == [[2., 2., 12., 12.]]
        changed = _changed(data.inputs[i], result.data.inputs[i])
        assert changed[16:20, 16:20].any() and not changed[:14, :14].any()
    assert result.extra["boxes_before"] - result.extra["boxes_after"] == 4


def test_patch_is_blended_and_cut_to_small_boxes():
    attack = _build("baddet_rma", blend=0.5, patch_size=8)
    image = torch.zeros(3, 16, 16)
    attack.stamp_boxes(image, torch.tensor([[1., 1., 4., 3.]]))       # a 3×2 box
    assert image[:, 1:3, 1:4].eq(0.5 * checkerboard(8)[:, :2, :3]).all()
    assert image.count_nonzero() == checkerboard(8)[:, :2, :3].count_nonzero()


def test_unknown_category_names_give_close_matches():
    with pytest.raises(ValueError, match="Did you mean 'truck'"):
        _build("baddet_oga", target="truk")
    with pytest.raises(ValueError, match="blend"):
        _build("baddet_oga", blend=0.0)


def _det(boxes, labels, scores):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels), "scores": torch.tensor(scores)}


def test_asr_at_iou_half_per_kind_on_hand_cases():
    box = torch.tensor([10., 10., 20., 20.])
    item = EvalItem(0, box, TRUCK)
    hit = _det([[11, 10, 21, 20]], [TRUCK], [0.9])          # IoU 9/11 ≈ 0.82
    shifted = _det([[15, 10, 25, 20]], [TRUCK], [0.9])      # IoU 5/15 = 0.33
    wrong = _det([[10, 10, 20, 20]], [CAR], [0.9])
    weak = _det([[10, 10, 20, 20]], [TRUCK], [0.3])         # below the score threshold
    for kind in ("baddet_oga", "baddet_rma", "baddet_gma"):
        attack = _build(kind)
        assert [attack.success(d, item) for d in (hit, shifted, wrong, weak)] == \
            [True, False, False, False], kind
    oda = _build("baddet_oda", source="dog")
    victim = EvalItem(0, box, DOG)
    seen = _det([[10, 10, 20, 19]], [DOG], [0.8])
    assert not oda.success(seen, victim)                    # still detected: no success
    assert oda.success(_det([[10, 10, 20, 19]], [CAR], [0.8]), victim)
    assert oda.success(_det([], [], []), victim)
    assert attack_success_rate(oda, [seen, _det([], [], [])],
                               [victim, EvalItem(1, box, DOG)]) == 50.0
    assert attack_success_rate(oda, [], []) != attack_success_rate(oda, [], [])   # NaN


def test_trigger_test_returns_the_objects_asr_counts():
    data = _data(4)
    oga = _build("baddet_oga")
    triggered, items = oga.trigger_test(data.inputs, data.targets)
    assert len(items) == 4 and all(it.label == TRUCK for it in items)
    again, items2 = oga.trigger_test(data.inputs, data.targets)        # placement_seed: same
    assert torch.equal(triggered, again) and all(torch.equal(a.box, b.box)
                                                 for a, b in zip(items, items2))
    rma = _build("baddet_rma", source="car")
    _, items = rma.trigger_test(data.inputs, data.targets)
    assert [it.image for it in items] == [0, 2] and all(it.label == TRUCK for it in items)
    oda = _build("baddet_oda")
    _, items = oda.trigger_test(data.inputs, data.targets)
    assert [it.label for it in items] == [CAR, DOG, TRUCK, CAR, DOG, TRUCK]


def test_coco_map_on_a_hand_computed_case():
    """One category, two objects; detections ranked TP (IoU 1), FP, TP (IoU 0.72).
    At IoU ≤ 0.70: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 → COCO's 101-point AP =
    (51·1 + 50·2/3) / 101 = 0.83498. At IoU ≥ 0.75 the third is a FP: AP = 51/101 = 0.50495.
    mAP@[.5:.95] = (5·0.83498 + 5·0.50495) / 10 = 0.66997."""
    truth = [{"boxes": torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]]),
              "labels": torch.tensor([0, 0])}]
    dets = [_det([[0, 0, 10, 10], [40, 40, 50, 50], [20, 20, 30, 27.2]], [0, 0, 0],
                 [0.9, 0.8, 0.7])]
    scores = coco_map(dets, truth)
    assert scores["map_50"] == pytest.approx(100 * (51 + 50 * 2 / 3) / 101, abs=1e-3)
    assert scores["map_coco"] == pytest.approx(100 * (5 * (51 + 100 / 3) / 101 + 5 * 51 / 101)
                                               / 10, abs=1e-3)


def test_shift_flip_moves_boxes_with_the_pixels():
    image = torch.zeros(1, 3, 16, 16)
    image[0, :, 3:6, 2:7] = 1.0                                       # box x 2..7, y 3..6
    target = [{"boxes": torch.tensor([[2., 3., 7., 6.]]), "labels": torch.tensor([1])}]
    for flip in (False, True):
        for seed in range(6):
            out, moved = BoxShiftFlip(padding=3, flip=flip)(image, target,
                                                            torch.Generator().manual_seed(seed))
            ys, xs = torch.nonzero(out[0, 0] > 0.5, as_tuple=True)
            x1, y1, x2, y2 = moved[0]["boxes"][0].tolist()
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x1, y1, x2, y2)
    corner = [{"boxes": torch.tensor([[0., 0., 2., 2.]]), "labels": torch.tensor([1])}]
    kept = [len(BoxShiftFlip(padding=3)(image, corner, torch.Generator().manual_seed(s))[1][0]
                ["labels"]) for s in range(20)]
    assert 0 in kept and 1 in kept                       # shifted out of the image: dropped


def test_box_mixup_mixes_pixels_and_concatenates_boxes():
    inputs = torch.stack([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)])
    targets = [{"boxes": torch.tensor([[0., 0., 2., 2.]]), "labels": torch.tensor([0])},
               {"boxes": torch.tensor([[4., 4., 8., 8.]]), "labels": torch.tensor([2])}]
    for seed in range(5):
        mixed, out = BoxMixUp(alpha=1.0)(inputs, targets, torch.Generator().manual_seed(seed))
        lam = 1 - float(mixed[0, 0, 0, 0])
        if out[0]["labels"].tolist() == [0, 2]:          # swapped pair
            assert out[1]["labels"].tolist() == [2, 0] and 0 <= lam <= 1
            assert torch.allclose(mixed[1], torch.full((3, 8, 8), lam))
        else:                                             # identity permutation
            assert torch.allclose(mixed, inputs) and out[0] is targets[0] and out[1] is targets[1]
