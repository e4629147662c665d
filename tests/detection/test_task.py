"""The multi-label adapter end to end: composed scenes, splits, NFT masks, the smoke preset."""
import json

import pytest
import torch

from core.augment import MixUp
from core.purify import NFTConfig, nft_purify
from core.registry import TASKS
from tasks.detection.compose import (DEFAULT_SCENES, compose, noise_backgrounds,
                                     scene_categories, shape_objects)

CATS = scene_categories(DEFAULT_SCENES)


def test_compose_is_deterministic_exact_and_skewed():
    objects = shape_objects(CATS, 2, seed=0)
    backgrounds = noise_backgrounds(4, 32, seed=0)
    a = compose(objects, backgrounds, 300, 32, seed=5, object_size=(8, 14))
    b = compose(objects, backgrounds, 300, 32, seed=5, object_size=(8, 14))
    assert torch.equal(a[0], b[0]) and a[2] == b[2]
    assert all(torch.equal(x["boxes"], y["boxes"]) for x, y in zip(a[1], b[1]))
    labels = torch.zeros(300, len(CATS))
    for ann in a[1]:
        boxes = ann["boxes"]
        assert 1 <= len(ann["labels"]) <= 4 and len(set(ann["labels"].tolist())) == len(ann["labels"])
        assert ((boxes >= 0) & (boxes <= 32)).all()
        sides = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
        assert (sides.max(1).values >= 8).all() and (sides.max(1).values <= 14).all()
    for i, ann in enumerate(a[1]):
        labels[i, ann["labels"]] = 1
    car, truck, horse = CATS.index("automobile"), CATS.index("truck"), CATS.index("horse")
    both = lambda i, j: float((labels[:, i] * labels[:, j]).sum())   # noqa: E731
    assert both(car, truck) > 3 * both(car, horse)          # street scenes: skewed co-occurrence


def _adapter_and_splits(**options):
    adapter = TASKS.get("detection")()
    splits = adapter.load_splits("synthetic", None, {"image_size": 32, "synthetic_train": 200,
                                                     "synthetic_test": 60, **options}, seed=0)
    return adapter, splits


def test_splits_losses_and_unknown_options():
    adapter, splits = _adapter_and_splits(clean_size=20)
    assert len(splits.clean) == 20 and len(splits.train) == 180 and len(splits.test) == 60
    assert splits.train.targets.shape == (180, len(CATS)) and splits.train.inputs.max() <= 1
    assert splits.info["top_pairs_train"][0][2] >= splits.info["top_pairs_train"][-1][2]
    model = adapter.build_model("tiny_ml_cnn", splits)
    x, y = splits.train.inputs[:8], splits.train.targets[:8]
    assert adapter.loss(model, x, y).dim() == 0
    assert torch.allclose(adapter.sample_losses(model, x, y).mean(), adapter.loss(model, x, y))
    assert set(adapter.predicted_targets(model, x).unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="'keypoints' is not one of"):
        _adapter_and_splits(kind="keypoints")
    from core.config import from_dict
    from tasks.detection.adapter import MultiLabelDataOptions
    with pytest.raises(Exception, match="image_sze"):
        from_dict(MultiLabelDataOptions, {"image_sze": 32})
    attack = adapter.build_attack("clean_image", {"trigger": ["automobile", "stop"],
                                                  "target": "stop"}, splits)
    metrics = adapter.evaluate(model, splits.test, attack, torch.device("cpu"))
    assert {"map", "map_voc07", "asr", "asr_control", "asr_images"} <= set(metrics)


def test_nft_masks_reach_the_backbone_and_fold_back():
    adapter, splits = _adapter_and_splits(clean_size=40)
    model = adapter.build_model("tiny_ml_cnn", splits).eval()
    result = nft_purify(model, adapter, splits.clean, MixUp(num_classes=len(CATS)),
                        NFTConfig(iterations=3, batch_size=16, progress=False), "cpu")
    names = [layer["name"] for layer in result.layers]
    assert names and all(n.startswith("backbone.") for n in names)
    assert "backbone.12" not in names                        # the category head is not masked
    assert type(result.model) is type(model)
    assert result.model.state_dict().keys() == model.state_dict().keys()
    assert any(min(v) < 1.0 for v in result.masks.values())   # the masks moved


def test_smoke_preset_runs_in_seconds(tmp_path):
    from benchmarks.runner.cli import main

    out = tmp_path / "smoke"
    assert main(["--preset", "detection_smoke", "--out", str(out), "--no-progress"]) == 0
    record = json.loads((out / "records/detection/synthetic/tiny_ml_cnn/clean_image/nft/seed0.json")
                        .read_text())
    assert record["status"] == "ok"
    for stage in ("before", "after"):
        assert 0 <= record[stage]["map"] <= 100 and record[stage]["asr_images"] > 0
    attack = record["config"]["attack"]
    assert attack["trigger_resolved"] and 0 < attack["poison_rate_measured"] < 1
    assert attack["top_k"] == 8 and attack["threshold"] == 0.75
    assert record["poisoned_count"] == attack["relabelled"]


def test_detection_presets_validate_and_every_baseline_is_supported(tmp_path):
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.presets import load_preset
    from core.registry import DEFENSES

    for name in ("detection_smoke", "detection_quick"):
        text = (load_preset.__globals__["PRESET_DIR"] / f"{name}.yaml").read_text()
        assert "# hardware:" in text and "# expected:" in text and "# runs:" in text, name
        preset = load_preset(name)
        MatrixRunner(preset, tmp_path / name, None, progress=False).validate()
    adapter = TASKS.get("detection")()
    quick = load_preset("detection_quick")
    for defense in quick.defenses:
        built = DEFENSES.get(defense).from_options(quick.defense_options.get(defense))
        assert built.supports(adapter) is None, defense
    # FT-SAM with its default label smoothing refuses multi-hot targets, with the reason
    assert "single_label" in DEFENSES.get("ftsam")().supports(adapter)


def test_appearing_alias_and_figure(tmp_path):
    from benchmarks.studies.detection_figure import draw

    adapter, splits = _adapter_and_splits(clean_size=20)
    attack = adapter.build_attack("clean_image_appearing", {"trigger": ["automobile", "truck"],
                                                            "target": "stop"}, splits)
    assert attack.config.mode == "appearing" and attack.name == "clean_image_appearing"
    rows = torch.nonzero(attack.eval_selection(splits.test.targets)).flatten()[:2]
    scores = torch.rand(len(rows), len(CATS))
    path = draw(splits.test.inputs[rows], [adapter.test_annotations[i]["boxes"] for i in rows],
                [adapter.test_annotations[i]["labels"] for i in rows], scores, 1 - scores,
                CATS, attack.target_index, 8, 0.75, "test", tmp_path / "fig.png")
    assert path.stat().st_size > 1000
