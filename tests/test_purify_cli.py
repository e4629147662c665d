"""benchmarks/practitioner/purify_cli.py with a zoo model: a model + a folder of clean images -> purified weights."""
import json

import numpy as np
import pytest
import torch

from benchmarks.practitioner.data import holdout_split
from benchmarks.practitioner.purify_cli import main
from core.checkpoint import load_state_dict, read_metadata, save_model

PIL = pytest.importorskip("PIL.Image")
NUM_CLASSES, SIZE, PER_CLASS = 3, 16, 8


def _image(rng, label, trigger=False):
    img = rng.integers(0, 60, size=(SIZE, SIZE, 3), dtype=np.uint8)
    img[..., label] += 150                      # class = dominant colour channel
    if trigger:
        img[-4:, -4:] = 255                     # a white corner patch
    return PIL.fromarray(img)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import importlib

    from core.registry import MODELS

    importlib.import_module("tasks.image")   # registers the image models

    root = tmp_path_factory.mktemp("purify")
    rng = np.random.default_rng(0)
    for c in range(NUM_CLASSES):
        (root / "clean" / str(c)).mkdir(parents=True)
        for i in range(PER_CLASS):
            _image(rng, c).save(root / "clean" / str(c) / f"{i}.png")
    (root / "trig").mkdir()
    for i in range(6):
        _image(rng, 1 + i % 2, trigger=True).save(root / "trig" / f"{i}.png")
    torch.manual_seed(0)
    model = MODELS.get("small_cnn", namespace="image")(num_classes=NUM_CLASSES, image_size=SIZE)
    x = torch.stack([torch.from_numpy(np.array(_image(rng, c))).permute(2, 0, 1).float() / 255
                     for c in range(NUM_CLASSES) for _ in range(8)])
    y = torch.arange(NUM_CLASSES).repeat_interleave(8)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(30):                       # a few steps: the colours are easy to learn
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    save_model(model, root / "model.safetensors")
    return root, model


def _args(root, *extra, weights="model.safetensors", out="purified.safetensors"):
    return ["--arch", "small_cnn", "--weights", str(root / weights), "--num-classes",
            str(NUM_CLASSES), "--clean-dir", str(root / "clean"), "--out", str(root / out),
            "--set", "nft.epochs=3", "--device", "cpu", "--no-progress", *extra]


def test_purify_round_trips_a_small_model(setup, capsys):
    from core.registry import MODELS

    root, model = setup
    assert main(_args(root, "--trigger-dir", str(root / "trig"), "--target", "0")) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["data"]["eval_images"] == 6 and summary["data"]["clean_images"] == 18
    assert summary["data"]["trigger_images"] == 6
    after = summary["results"][0]["after"]
    assert set(summary["before"]) == set(after) == {"clean_acc", "asr"}
    assert summary["before"]["clean_acc"] == 100.0        # the colours are learnt
    assert "(input)" in out and "nft" in out and "report:" in out
    purified = load_state_dict(root / "purified.safetensors")
    original = model.state_dict()
    assert purified.keys() == original.keys()
    assert any(not torch.equal(purified[k], original[k]) for k in original)  # masks folded in
    fresh = MODELS.get("small_cnn", namespace="image")(num_classes=NUM_CLASSES, image_size=SIZE)
    fresh.load_state_dict(purified)                        # loads without this library's masks
    meta = read_metadata(root / "purified.safetensors")
    assert meta["arch"] == "small_cnn" and json.loads(meta["after"]) == after


def test_weights_only_pickle_and_torchscript_are_accepted(setup, capsys):
    root, model = setup
    torch.save(model.state_dict(), root / "model.pt")
    assert main(_args(root, weights="model.pt", out="p2.safetensors")) == 0
    torch.jit.trace(model, torch.zeros(1, 3, SIZE, SIZE)).save(str(root / "model.ts"))
    args = _args(root, out="p3.safetensors")
    args[2:4] = ["--torchscript", str(root / "model.ts")]
    capsys.readouterr()
    with pytest.warns(DeprecationWarning):        # torch 2.11 deprecates torch.jit.load
        assert main(args) == 0
    assert "torch 2.11 deprecates" in capsys.readouterr().err   # our note points to .pt2
    assert load_state_dict(root / "p3.safetensors").keys() == model.state_dict().keys()


class Evil:
    def __reduce__(self):
        return (print, ("this would have run code",))


def test_code_executing_pickles_are_refused(setup, capsys):
    root, _ = setup
    torch.save({"weight": Evil()}, root / "evil.pth")
    assert main(_args(root, weights="evil.pth", out="never.safetensors")) == 2
    err = capsys.readouterr().err
    assert "refusing to load" in err and "this would have run code" not in err
    assert not (root / "never.safetensors").exists()


@pytest.mark.parametrize("change, message", [
    (["--arch", "small_cnm"], "Did you mean 'small_cnn'"),
    (["--num-classes", "2"], "do not map to a class index"),
    (["--target", "5"], "is not a class of"),
    (["--out", "x.onnx"], "--out must end in one of"),
    (["--holdout", "1.5"], "--holdout must lie in"),
    (["--set", "epochs=3"], "nft.KEY=VALUE"),
    (["--set", "nft.epoch=3"], "Did you mean 'epochs'"),
    (["--weights", "missing.safetensors"], "not found"),
    (["--clean-dir", "nowhere"], "is not a folder"),
])
def test_bad_input_is_a_clear_error(setup, capsys, change, message):
    root, _ = setup
    args = _args(root)
    flag, value = change
    if flag in args:
        i = args.index(flag)
        args[i + 1] = str(root / value) if flag in ("--weights", "--clean-dir") else value
    else:
        args += change
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_holdout_is_class_balanced():
    targets = torch.tensor([0] * 10 + [1] * 5 + [2] * 1)
    train, held = holdout_split(targets, 0.2, seed=0)
    assert torch.bincount(targets[held], minlength=3).tolist() == [2, 1, 0]
    assert len(set(train.tolist()) | set(held.tolist())) == 16
    assert not set(train.tolist()) & set(held.tolist())


def test_trigger_folders_use_the_clean_folders_class_mapping(setup, capsys):
    root, _ = setup
    rng = np.random.default_rng(3)
    for name, count in (("0", 2), ("2", 3)):
        (root / "trig_by_class" / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            _image(rng, int(name), trigger=True).save(root / "trig_by_class" / name / f"{i}.png")
    args = _args(root, "--trigger-dir", str(root / "trig_by_class"), "--target", "0",
                 out="p4.safetensors")
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["data"]["trigger_images"] == 3          # the target's own folder is not counted
    (root / "trig_by_class" / "9").mkdir()
    assert main(args) == 2
    assert "are not class folders of --clean-dir" in capsys.readouterr().err
