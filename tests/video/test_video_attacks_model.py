"""Attacks (trigger shape/range, clean labels, PGD bound), frame-consistent augmentation, the
CNN+LSTM models and NFT's masks on them, and the smoke preset end to end."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import tasks  # noqa: F401  (lazy task registration)
from core.masks import fold_masks, inject_masks
from core.registry import ATTACKS, MODELS, TASKS
from tasks.video.adapter import static_clips
from tasks.video.augmentations import ClipCropFlip
from tasks.video.datasets import DecodeSettings, synthetic

TASK = TASKS.get("video")   # imports tasks.video (registrations)


def clips(n=6, t=4, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, t, 3, size, size), generator=g, dtype=torch.uint8)


def test_frame_patch_trigger_every_frame_uint8_and_float():
    attack = ATTACKS.get("frame_patch", namespace="video").from_options({"size": 3}, 4)
    x = clips()
    out = attack.apply_trigger(x)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    board = torch.tensor([[255, 0, 255], [0, 255, 0], [255, 0, 255]], dtype=torch.uint8)
    assert torch.equal(out[..., -3:, -3:], board.expand_as(out[..., -3:, -3:]))
    assert torch.equal(out[..., :-3, :], x[..., :-3, :]) and torch.equal(x, clips())
    f = attack.apply_trigger(x.float() / 255)
    assert f.dtype == torch.float32 and f.min() >= 0 and f.max() <= 1
    assert torch.allclose(f[..., -3:, -3:], board.float().div(255).expand_as(f[..., -3:, -3:]))
    with pytest.raises(ValueError, match="clips"):
        attack.apply_trigger(torch.zeros(2, 3, 16, 16))


def smoke_adapter_splits(num_classes=3):
    adapter = TASK()
    splits = adapter.load_splits("synthetic", None, {"frame_size": 16, "num_frames": 4,
                                                     "synthetic_classes": num_classes,
                                                     "clean_per_class": 4}, seed=0)
    return adapter, splits


@pytest.fixture(scope="module")
def prepared_clean_label():
    adapter, splits = smoke_adapter_splits()
    attack = ATTACKS.get("clean_label_video", namespace="video").from_options(
        {"patch_size": 4, "trigger_steps": 3, "pgd_steps": 3, "surrogate_model": "cnn_lstm_tiny",
         "surrogate_epochs": 1, "surrogate_batch_size": 16, "poison_rate": 0.5}, 3)
    attack.prepare(splits.train, adapter, torch.device("cpu"), seed=0)
    return adapter, splits, attack


def test_clean_label_trigger_and_labels(prepared_clean_label):
    _, splits, attack = prepared_clean_label
    assert attack.patch.shape == (3, 4, 4)
    assert attack.patch.min() >= 0 and attack.patch.max() <= 1
    result = attack.poison(splits.train, torch.Generator().manual_seed(0))
    members = (splits.train.targets == 0).sum().item()
    assert len(result.indices) == round(0.5 * members)
    assert (splits.train.targets[result.indices] == 0).all()            # target class only
    assert torch.equal(result.data.targets, splits.train.targets)         # clean label
    untouched = torch.ones(len(splits.train), dtype=torch.bool)
    untouched[result.indices] = False
    assert torch.equal(result.data.inputs[untouched], splits.train.inputs[untouched])
    poisoned = result.data.inputs[result.indices]
    assert poisoned.dtype == torch.uint8
    expected = (attack.patch * 255).round().to(torch.uint8)
    assert torch.equal(poisoned[..., -4:, -4:], expected.expand_as(poisoned[..., -4:, -4:]))
    # eval selection: non-target clips, attack label = target
    assert attack.eval_selection(torch.tensor([0, 1, 2])).tolist() == [False, True, True]


def test_pgd_stays_in_the_eps_ball(prepared_clean_label):
    _, splits, attack = prepared_clean_label
    x = splits.train.inputs[:5]
    adv = attack.perturb(x, torch.Generator().manual_seed(1))
    clean = x.float() / 255
    eps = attack.config.pgd_eps
    assert adv.dtype == torch.float32 and adv.min() >= 0 and adv.max() <= 1
    assert (adv - clean).abs().max() <= eps + 1e-6
    assert (adv - clean).abs().max() > eps / 2                     # it moved
    # after rounding to the 8-bit grid and the trigger, pixels outside the patch stay within ε
    result = attack.poison(splits.train, torch.Generator().manual_seed(0))
    diff = (result.data.inputs[result.indices].float() - splits.train.inputs[result.indices].float())
    assert diff[..., :-4, :].abs().max() <= round(eps * 255) + 1


def test_clean_label_needs_prepare():
    attack = ATTACKS.get("clean_label_video", namespace="video").from_options(None, 3)
    assert attack.config.patch_size == 24 and attack.config.poison_rate == 0.3
    assert attack.config.pgd_eps == pytest.approx(8 / 255) and attack.config.pgd_steps == 10
    with pytest.raises(RuntimeError, match="prepare"):
        attack.apply_trigger(clips())


def test_clip_crop_flip_is_frame_consistent():
    g = torch.Generator().manual_seed(0)
    frame = torch.rand(8, 1, 3, 12, 12)
    still = frame.expand(8, 5, 3, 12, 12).contiguous()          # every frame identical
    out, targets = ClipCropFlip(padding=3, flip=True)(still, torch.arange(8), g)
    assert out.shape == still.shape and torch.equal(targets, torch.arange(8))
    assert torch.equal(out, out[:, :1].expand_as(out))          # same crop+flip on all frames
    assert not torch.equal(out, still)                          # but it did crop / flip
    u8, _ = ClipCropFlip(padding=0, flip=False)(clips(), torch.zeros(6), g)
    assert u8.dtype == torch.float32 and torch.allclose(u8, clips().float() / 255)
    # a shifted moving clip: frame-to-frame motion is preserved by the shared crop
    moving = torch.zeros(1, 2, 3, 12, 12)
    moving[0, 0, :, 5, 5] = 1
    moving[0, 1, :, 5, 6] = 1
    out, _ = ClipCropFlip(padding=2, flip=False)(moving, torch.zeros(1), g)
    p0 = torch.nonzero(out[0, 0, 0]).tolist()
    p1 = torch.nonzero(out[0, 1, 0]).tolist()
    if p0 and p1:
        assert p1[0][0] == p0[0][0] and p1[0][1] == p0[0][1] + 1


@pytest.mark.parametrize("name", ["cnn_lstm_tiny", "cnn_lstm_small", "cnn_lstm_resnet18",
                                  "cnn_lstm_resnet50"])
def test_models_take_uint8_and_float_clips(name):
    model = MODELS.get(name, namespace="video")(num_classes=5).eval()
    x = clips(n=2, t=2, size=32)
    with torch.no_grad():
        a, b = model(x), model(x.float() / 255)
    assert a.shape == (2, 5) and torch.allclose(a, b, atol=1e-5)


def test_resnet50_is_torchvision_sized():
    model = MODELS.get("cnn_lstm_resnet50", namespace="video")(num_classes=101)
    import torchvision
    ref = torchvision.models.resnet50()
    cnn = sum(p.numel() for n, p in model.cnn.named_parameters())
    assert cnn == sum(p.numel() for n, p in ref.named_parameters() if not n.startswith("fc."))


def test_masks_reach_cnn_and_lstm_projections_and_fold_back():
    model = MODELS.get("cnn_lstm_tiny", namespace="video")(num_classes=4).eval()
    x = clips(n=3)
    before = copy.deepcopy(model)
    keys = list(model.state_dict())
    masked = inject_masks(model, x)
    names = {m.name: m.via for m in masked}
    assert names["proj_in"] == "norm" and names["proj_out"] == "weight"
    assert "cnn.conv1" not in names and "classifier" not in names      # first layer, classifier
    assert any(n.startswith("cnn.layer") for n in names)
    assert not any(n.startswith("lstm") for n in names)
    with torch.no_grad():
        for m in masked:
            m.mask.mul_(torch.linspace(0.3, 1.0, m.mask.numel()))
        out = model(x)
    fold_masks(model)
    assert type(model) is type(before) and list(model.state_dict()) == keys
    with torch.no_grad():
        assert torch.allclose(model(x), out, atol=1e-5)
        assert not torch.allclose(before(x), out, atol=1e-3)
    fresh = MODELS.get("cnn_lstm_tiny", namespace="video")(num_classes=4)
    fresh.load_state_dict(model.state_dict())                            # loads without us


def test_static_clips_and_synthetic_set():
    x = clips(n=2, t=5)
    s = static_clips(x)
    assert torch.equal(s, x[:, 2:3].expand_as(x))
    a, ya = synthetic.make(4, 3, DecodeSettings(num_frames=4, frame_size=16), seed=3)
    b, yb = synthetic.make(4, 3, DecodeSettings(num_frames=4, frame_size=16), seed=3)
    assert torch.equal(a, b) and a.dtype == torch.uint8 and ya.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert not torch.equal(a[:, 0], a[:, -1])                          # things move


def test_adapter_splits_and_io_capabilities():
    adapter, splits = smoke_adapter_splits()
    assert splits.train.inputs.dtype == torch.uint8               # stored 8-bit …
    x, _ = splits.train.batch(torch.tensor([0, 1]))                # … read as float in [0, 1]
    assert x.dtype == torch.float32 and torch.equal(x, splits.train.inputs[:2].float() / 255)
    assert (torch.bincount(splits.clean.targets) == 4).all()
    assert adapter.perturbable_inputs(splits.train)                # I-BAU/AWM perturb the floats
    as_float = adapter.load_splits("synthetic", None, {"frame_size": 16, "num_frames": 4,
                                                       "synthetic_classes": 3,
                                                       "clean_per_class": 4,
                                                       "storage": "float32"}, seed=0)
    assert as_float.train.inputs.dtype == torch.float32 and as_float.train.transform is None
    assert adapter.perturbable_inputs(as_float.train) and adapter.input_bounds() == (0.0, 1.0)
    assert adapter.options.storage == "float32"


def test_smoke_preset_end_to_end(tmp_path):
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.presets import load_preset

    preset = load_preset("video_smoke")
    runner = MatrixRunner(preset, tmp_path, None, progress=False)
    outcome = runner.run()
    assert not outcome.errors and len(outcome.written) == 2
    import json
    for path in outcome.written:
        record = json.loads(Path(path).read_text())
        assert record["status"] == "ok"
        assert {"clean_acc", "asr", "static_acc"} <= set(record["before"])
    # frame_patch is a dirty-label patch: it implants even in two tiny epochs
    rec = json.loads(Path([p for p in outcome.written if "frame_patch" in str(p)][0]).read_text())
    assert rec["before"]["asr"] > 50


def test_surrogate_cache_survives_trigger_and_poison_changes(tmp_path):
    adapter, splits = smoke_adapter_splits()
    options = {"patch_size": 4, "trigger_steps": 2, "pgd_steps": 1,
               "surrogate_model": "cnn_lstm_tiny", "surrogate_epochs": 1,
               "surrogate_batch_size": 16}
    cls = ATTACKS.get("clean_label_video", namespace="video")
    first = cls.from_options({**options, "poison_rate": 0.3}, 3)
    first.artifact_dir = tmp_path
    first.prepare(splits.train, adapter, torch.device("cpu"), seed=0)
    second = cls.from_options({**options, "poison_rate": 1.0, "patch_size": 5}, 3)
    second.artifact_dir = tmp_path
    second.prepare(splits.train, adapter, torch.device("cpu"), seed=0)
    assert not first.artifacts["surrogate"]["cache_hit"]
    assert second.artifacts["surrogate"]["cache_hit"]                 # same surrogate options
    assert not second.artifacts["trigger"]["cache_hit"]               # a new trigger size
    assert second.patch.shape == (3, 5, 5)
    third = cls.from_options({**options, "surrogate_epochs": 2}, 3)
    third.artifact_dir = tmp_path
    third.prepare(splits.train, adapter, torch.device("cpu"), seed=0)
    assert not third.artifacts["surrogate"]["cache_hit"]


def test_save_strip_writes_one_row_per_clip(tmp_path):
    from PIL import Image

    from benchmarks.studies.video_figures import save_strip
    path = save_strip([clips(n=1, t=4, size=8)[0], torch.rand(4, 3, 8, 8)], tmp_path / "s.png",
                      scale=2)
    width, height = Image.open(path).size
    assert (width, height) == (2 + 4 * (16 + 2), 2 + 2 * (16 + 2))


def test_pretrained_cnn_from_local_weights_only(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    reference = torchvision.models.resnet18()
    path = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    adapter = TASK()
    splits = adapter.load_splits("synthetic", None, {"frame_size": 16, "num_frames": 2,
                                                     "synthetic_classes": 2, "clean_per_class": 2,
                                                     "pretrained_cnn": str(path)}, seed=0)
    model = adapter.build_model("cnn_lstm_resnet18", splits)
    assert torch.equal(model.cnn.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)
    torch.save(reference.state_dict(), tmp_path / "r.pt")
    tiny = MODELS.get("cnn_lstm_tiny", namespace="video")
    with pytest.raises(ValueError, match="does not fit"):
        tiny(num_classes=2, pretrained=str(tmp_path / "r.pt"))
    with pytest.raises(FileNotFoundError, match="no downloads"):
        tiny(num_classes=2, pretrained=str(tmp_path / "missing.safetensors"))
