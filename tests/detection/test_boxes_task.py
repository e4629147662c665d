"""The detection_boxes task end to end: splits with box targets, the detector loss in both modes,
masks on backbone and neck only (folded back), honest refusals, bad boxes, the smoke preset, and
the two detection tasks kept apart (each sees only its own models and attacks; the old spelling,
task detection with data.kind boxes, fails naming detection_boxes)."""
import json

import pytest
import torch

from core.config import ConfigError
from core.defenses.base import UnsupportedDefenseError
from core.purify import NFTConfig, nft_purify
from core.registry import DEFENSES, TASKS, UnknownNameError
from tasks.detection.box_augmentations import BoxMixUp
from tasks.detection.box_models import detector_loss_dict

from .test_datasets import write_coco


def _boxes(**options):
    adapter = TASKS.get("detection_boxes")()
    splits = adapter.load_splits("synthetic", None, {
        "image_size": 32, "synthetic_train": 60, "synthetic_test": 16,
        "clean_size": 16, **options}, seed=0)
    return adapter, splits


def test_splits_carry_box_targets_and_tasks_refuse_each_others_parts():
    adapter, splits = _boxes()
    assert len(splits.train) == 44 and len(splits.clean) == 16 and len(splits.test) == 16
    first = splits.train.targets[0]
    assert first["boxes"].shape[1] == 4 and first["boxes"].dtype == torch.float32
    assert len(first["boxes"]) == len(first["labels"]) >= 1
    assert splits.info["kind"] == "boxes" and splits.info["objects_train"]["objects"] >= 44
    assert type(adapter).default_nft_augmentation == "box_mixup"    # declared, not configured
    with pytest.raises(UnknownNameError, match="'tiny_ml_cnn' is registered for 'detection'"):
        adapter.build_model("tiny_ml_cnn", splits)
    with pytest.raises(UnknownNameError, match="'clean_image' is registered for 'detection'"):
        adapter.build_attack("clean_image", {}, splits)
    ml = TASKS.get("detection")()
    ml_splits = ml.load_splits("synthetic", None, {"image_size": 32, "synthetic_train": 40,
                                                   "synthetic_test": 8}, seed=0)
    assert ml_splits.info["kind"] == "multilabel" and type(ml).default_nft_augmentation == "mixup"
    with pytest.raises(UnknownNameError, match="'fcos_micro' is registered for 'detection_boxes'"):
        ml.build_model("fcos_micro", ml_splits)
    with pytest.raises(UnknownNameError, match="'baddet_oga' is registered for 'detection_boxes'"):
        ml.build_attack("baddet_oga", {}, ml_splits)


def test_both_tasks_read_the_same_datasets_into_the_same_splits():
    boxes, splits = _boxes()
    ml = TASKS.get("detection")()
    ml_splits = ml.load_splits("synthetic", None, {
        "image_size": 32, "synthetic_train": 60, "synthetic_test": 16, "clean_size": 16}, seed=0)
    from core.registry import DATASETS
    assert DATASETS.names("detection") == DATASETS.names("detection_boxes")
    for part in ("train", "test", "clean"):
        assert torch.equal(getattr(splits, part).inputs, getattr(ml_splits, part).inputs), part
    labels = torch.zeros(len(splits.train), splits.num_classes)
    for i, target in enumerate(splits.train.targets):
        labels[i, target["labels"]] = 1.0
    assert torch.equal(labels, ml_splits.train.targets)
    same = {k: v for k, v in splits.info.items() if k not in ("kind", "map_protocol", "loss",
                                                                "objects_train")}
    assert same == {k: ml_splits.info[k] for k in same}


def test_the_old_spelling_fails_naming_the_new_task(tmp_path, capsys):
    from benchmarks.runner.cli import main
    from tasks.detection.adapter import MultiLabelDataOptions
    from core.config import from_dict

    with pytest.raises(ConfigError, match="task: detection_boxes"):
        from_dict(MultiLabelDataOptions, {"kind": "boxes"})
    with pytest.raises(ConfigError, match="unknown option 'kind'"):   # the box task has no kinds
        from_dict(TASKS.get("detection_boxes").DataOptions, {"kind": "boxes"})
    from benchmarks.runner.presets import PRESET_DIR

    # a preset of before the split (task detection, data.kind boxes): its box model is the first
    # thing the runner checks; with a multi-label model, the kind
    text = (PRESET_DIR / "detection_boxes_smoke.yaml").read_text()
    old = text.replace("task: detection_boxes", "task: detection").replace("data: {",
                                                                         "data: {kind: boxes, ")
    for model, says in (("fcos_micro", "'fcos_micro' is registered for 'detection_boxes'"),
                        ("tiny_ml_cnn", "set task: detection_boxes")):
        path = tmp_path / f"old_{model}.yaml"
        path.write_text(old.replace("model: fcos_micro", f"model: {model}"))
        out = tmp_path / model
        assert main(["--preset", str(path), "--out", str(out), "--no-progress"]) == 2
        assert says in capsys.readouterr().err
        assert not (out / "records").exists()


def test_loss_in_train_and_eval_mode():
    adapter, splits = _boxes()
    torch.manual_seed(0)
    model = adapter.build_model("fcos_micro", splits)
    x, y = splits.train.batch(torch.arange(6))
    model.train()
    torch.manual_seed(1)
    ours = adapter.loss(model, x, y)
    torch.manual_seed(1)
    theirs = sum(model(list(x), y).values())       # torchvision's own training forward
    assert ours.dim() == 0 and torch.allclose(ours, theirs)
    model.eval()
    running = [m.running_mean.clone() for m in model.modules()
               if isinstance(m, torch.nn.BatchNorm2d)]
    loss = adapter.loss(model, x, y)
    assert torch.isfinite(loss) and loss > 0
    assert set(detector_loss_dict(model, x, y)) == {"classification", "bbox_regression",
                                                    "bbox_ctrness"}
    after = [m.running_mean for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(running, after))   # eval: statistics kept
    loss.backward()
    assert model.backbone.body.s2[0].weight.grad.abs().sum() > 0


def test_nft_masks_backbone_and_neck_only_and_folds_back():
    adapter, splits = _boxes()
    model = adapter.build_model("fcos_micro", splits).eval()
    heads = adapter.output_layers(model, splits.clean.input_example(2))
    assert "head.classification_head.cls_logits" in heads
    assert "head.regression_head.bbox_reg" in heads and all(h.startswith("head.") for h in heads)
    result = nft_purify(model, adapter, splits.clean, BoxMixUp(),
                        NFTConfig(iterations=3, batch_size=8, lr=0.5, progress=False), "cpu")
    names = [layer["name"] for layer in result.layers]
    assert any(n.startswith("backbone.body.") for n in names)
    assert any(n.startswith("backbone.fpn.") for n in names)
    assert not any(n.startswith("head.") for n in names)
    assert type(result.model) is type(model)
    assert result.model.state_dict().keys() == model.state_dict().keys()
    assert any(min(v) < 1.0 for v in result.masks.values())          # the masks moved
    fresh = adapter.build_model("fcos_micro", splits)                 # loads without masks
    fresh.load_state_dict(result.model.state_dict())


def test_refusals_are_honest():
    adapter, splits = _boxes()
    model = adapter.build_model("fcos_micro", splits)
    for defense in ("ibau", "awm"):
        reason = DEFENSES.get(defense)().supports(adapter)
        assert reason and "predicted_targets" in reason, defense
    for defense in ("abl", "cbd"):
        assert "sample_losses" in DEFENSES.get(defense)().supports(adapter), defense
    assert "single_label" in DEFENSES.get("ftsam")().supports(adapter)
    for defense in ("nft", "ft", "anp", "rnp", "nad", "mcr"):
        assert DEFENSES.get(defense)().supports(adapter) is None, defense
    x, y = splits.clean.batch(torch.arange(4))
    with pytest.raises(UnsupportedDefenseError, match="I-BAU, AWM"):
        adapter.predicted_targets(model, x)
    with pytest.raises(UnsupportedDefenseError, match="ABL, CBD"):
        adapter.sample_losses(model, x, y)
    with pytest.raises(UnsupportedDefenseError, match="I-BAU, AWM"):
        DEFENSES.get("ibau").from_options({"batch_size": 8}).purify(
            model, adapter, splits.clean, torch.device("cpu"))


def test_bad_boxes_are_clipped_and_counted_in_the_box_task(tmp_path):
    for split in ("train2017", "val2017"):
        write_coco(tmp_path / "coco", split)
    adapter = TASKS.get("detection_boxes")()
    splits = adapter.load_splits("coco", tmp_path, {"image_size": 20, "clean_size": 1}, seed=0)
    source = splits.info["train_source"]
    assert source["boxes_clipped"] == 1 and source["boxes_dropped"] == 1
    assert source["dropped_examples"] == ["b.jpg"]
    boxes = torch.cat([t["boxes"] for t in splits.test.targets])
    assert ((boxes >= 0) & (boxes <= 20)).all()
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()


def test_boxes_smoke_preset_runs_in_seconds(tmp_path):
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.presets import load_preset
    from benchmarks.runner.cli import main

    for name in ("detection_boxes_smoke", "detection_boxes_quick"):
        text = (load_preset.__globals__["PRESET_DIR"] / f"{name}.yaml").read_text()
        assert "# hardware:" in text and "# expected" in text and "# runs:" in text, name
        MatrixRunner(load_preset(name), tmp_path / name, None, progress=False).validate()
    out = tmp_path / "smoke"
    assert main(["--preset", "detection_boxes_smoke", "--out", str(out), "--no-progress"]) == 0
    for defense in ("nft", "ft"):
        record = json.loads((out / "records/detection_boxes/synthetic/fcos_micro/baddet_oga"
                             / defense / "seed0.json").read_text())
        assert record["status"] == "ok" and record["primary_metric"] == "map"
        for stage in ("before", "after"):
            metrics = record[stage]
            assert 0 <= metrics["map"] <= 100 and 0 <= metrics["map_coco"] <= metrics["map"]
            assert 0 <= metrics["asr"] <= 100 and metrics["asr_objects"] == 32
        assert record["config"]["attack"]["kind"] == "oga"
        assert record["poisoned_count"] == round(0.3 * 77)


def test_box_figure_draws_before_and_after(tmp_path):
    from benchmarks.studies.detection_box_figure import main

    png = tmp_path / "fig.png"
    assert main(["--preset", "detection_boxes_smoke", "--out", str(tmp_path / "run"),
                 "--png", str(png), "--images", "2", "--set", "defense_options.nft.iterations=2"]) == 0
    assert png.stat().st_size > 5000
    summary = json.loads(png.with_suffix(".json").read_text())
    assert len(summary["test_images"]) == 2 and "asr" in summary["after"]


def test_runner_refuses_before_training_from_the_tasks_declarations(tmp_path):
    """The box task declares what it lacks on its class, so the runner's validation (before any
    data loads) finds its refusals, and none for the multi-label task."""
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.presets import load_preset

    preset = load_preset("detection_boxes_smoke", {"defenses": ["nft", "ibau", "awm", "abl"]})
    runner = MatrixRunner(preset, tmp_path / "run", None, progress=False)
    runner.validate()
    assert sorted(runner.unsupported) == ["abl", "awm", "ibau"]
    assert "predicted_targets" in runner.unsupported["ibau"]
    multilabel = load_preset("detection_smoke", {"defenses": ["nft", "ibau"]})
    runner = MatrixRunner(multilabel, tmp_path / "ml", None, progress=False)
    runner.validate()
    assert runner.unsupported == {}
