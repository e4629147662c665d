"""The practitioner path of issue 16: third-party architectures with normalised inputs through
``nft-suite purify`` (benchmarks/practitioner/purify_cli.py) and the Python API (benchmarks/practitioner/api.py)."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import load_file, save_file

from benchmarks.cli import main as cli_main
from benchmarks.practitioner import purify
from benchmarks.practitioner.data import NORMALIZE_PRESETS
from benchmarks.practitioner.purify_cli import main

PIL = pytest.importorskip("PIL.Image")
NUM_CLASSES, SIZE, PER_CLASS = 3, 32, 8
CIFAR_MEAN, CIFAR_STD = (torch.tensor(v).view(1, 3, 1, 1) for v in NORMALIZE_PRESETS["cifar10"])


def _image(rng, label, trigger=False):
    img = rng.integers(0, 60, size=(SIZE, SIZE, 3), dtype=np.uint8)
    img[..., label] += 150                      # class = dominant colour channel
    if trigger:
        img[-4:, -4:] = 255                     # the planted patch trigger
    return img


def _train(model, rng, normalise, steps=12):
    """A few SGD steps on clean + patch-triggered (-> class 0) images, in the model's own
    normalised input space; returns the model in eval mode."""
    clean = [(_image(rng, c), c) for c in range(NUM_CLASSES) for _ in range(8)]
    poison = [(_image(rng, 1 + i % 2, trigger=True), 0) for i in range(8)]
    x = torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a, _ in clean + poison]) / 255.0
    y = torch.tensor([c for _, c in clean + poison])
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(normalise(x)), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("practitioner")
    rng = np.random.default_rng(0)
    for c in range(NUM_CLASSES):
        (root / "clean" / str(c)).mkdir(parents=True)
        for i in range(PER_CLASS):
            PIL.fromarray(_image(rng, c)).save(root / "clean" / str(c) / f"{i}.png")
    (root / "trig").mkdir()
    for i in range(6):
        PIL.fromarray(_image(rng, 1 + i % 2, trigger=True)).save(root / "trig" / f"{i}.png")
    torch.manual_seed(0)
    model = _train(torchvision.models.resnet18(num_classes=NUM_CLASSES), rng,
                   lambda x: (x - CIFAR_MEAN) / CIFAR_STD)
    save_file(model.state_dict(), str(root / "resnet18.safetensors"))
    return root, model


def _read(root, name="clean"):
    paths = sorted((root / name).glob("*/*.png"))
    x = torch.stack([torch.from_numpy(np.array(PIL.open(p))).permute(2, 0, 1) for p in paths])
    return x, torch.tensor([int(p.parent.name) for p in paths])


def _cli(root, arch, weights, out, *extra):
    return ["--arch", arch, "--weights", str(root / weights), "--num-classes", str(NUM_CLASSES),
            "--clean-dir", str(root / "clean"), "--trigger-dir", str(root / "trig"),
            "--out", str(root / out), "--set", "defense.epochs=2", "--device", "cpu",
            "--no-progress", *extra]


def _logits(model, x, normalise):
    with torch.no_grad():
        return model.eval()(normalise(x.float() / 255))


def test_torchvision_resnet18_round_trip_matches_the_api(folders, capsys):
    root, model = folders
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert cli_main(["purify", *_cli(root, "torchvision:resnet18", "resnet18.safetensors",
                                     "tv.safetensors", "--normalize", "cifar10")]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    out = load_file(str(root / "tv.safetensors"))
    assert sorted(out) == sorted(model.state_dict())                # same keys
    assert out["conv1.weight"].shape == (64, 3, 7, 7)                # the ImageNet stem
    plain = torchvision.models.resnet18(num_classes=NUM_CLASSES)
    plain.load_state_dict(out)                                       # plain torchvision loads it
    assert any(not torch.equal(out[k], before[k]) for k in before)   # NFT's masks folded in

    images, labels = _read(root)
    trig = torch.stack([torch.from_numpy(np.array(PIL.open(p))).permute(2, 0, 1)
                        for p in sorted((root / "trig").glob("*.png"))])
    api_model, api_report = purify(model, images, labels, "nft", "cifar10",
                                   options={"epochs": 2}, trigger_images=trig, device="cpu",
                                   progress=False)
    assert type(api_model) is torchvision.models.ResNet
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # untouched
    norm = lambda x: (x - CIFAR_MEAN) / CIFAR_STD   # noqa: E731
    torch.testing.assert_close(_logits(plain, images, norm), _logits(api_model, images, norm))
    assert report["before"] == api_report["before"]
    assert report["results"][0]["after"] == api_report["results"][0]["after"]
    assert report["data"]["clean_images"] == 18 and report["data"]["eval_images"] == 6
    assert report["data"]["trigger_images"] == 6
    assert set(report["before"]) == {"clean_acc", "asr"}
    saved = json.loads((root / "tv.report.json").read_text())
    assert saved["inputs"]["weights"].endswith(
        "sha256:" + __import__("hashlib").sha256((root / "resnet18.safetensors").read_bytes())
        .hexdigest())
    assert saved["results"][0]["config"]["name"] == "nft" and "torch" in saved["versions"]
    assert saved["command"].startswith("nft-suite purify --arch torchvision:resnet18")
    assert "| nft | done |" in (root / "tv.report.md").read_text()


def test_timm_vit_with_arch_kwargs(folders, capsys):
    timm = pytest.importorskip("timm")
    root, _ = folders
    kwargs = {"img_size": SIZE, "patch_size": 8}
    torch.manual_seed(1)
    vit = _train(timm.create_model("vit_tiny_patch16_224", num_classes=NUM_CLASSES, **kwargs),
                 np.random.default_rng(1), lambda x: (x - 0.5) / 0.5, steps=4)
    torch.save(vit.state_dict(), root / "vit.pt")                    # a weights-only pickle
    args = _cli(root, "timm:vit_tiny_patch16_224", "vit.pt", "vit_purified.pt", "--normalize",
                "half", "--arch-kwargs", "{img_size: 32, patch_size: 8}")
    assert main(args) == 0
    out = torch.load(root / "vit_purified.pt", weights_only=True)
    assert list(out) == list(vit.state_dict())
    fresh = timm.create_model("vit_tiny_patch16_224", num_classes=NUM_CLASSES, **kwargs)
    fresh.load_state_dict(out)
    images, labels = _read(root)
    api_model, _ = purify(vit, images, labels, normalize=(0.5, 0.5), options={"epochs": 2},
                          device="cpu", progress=False)
    norm = lambda x: (x - 0.5) / 0.5   # noqa: E731
    torch.testing.assert_close(_logits(fresh, images, norm), _logits(api_model, images, norm))


def test_compare_writes_one_model_per_defense(folders, capsys):
    root, model = folders
    args = _cli(root, "torchvision:resnet18", "resnet18.safetensors", "cmp.safetensors",
                "--normalize", "cifar10", "--compare", "nft,ft", "--set", "ft.lr=0.001")
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["defense"] for r in report["results"]] == ["nft", "ft"]
    assert report["results"][1]["config"]["lr"] == 0.001 and report["results"][1]["config"][
        "epochs"] == 2
    for name in ("nft", "ft"):
        path = root / f"cmp.{name}.safetensors"
        assert report["outputs"][name]["path"] == str(path)
        torchvision.models.resnet18(num_classes=NUM_CLASSES).load_state_dict(load_file(str(path)))
    assert not (root / "cmp.safetensors").exists()
    assert load_file(str(root / "cmp.nft.safetensors"))["fc.weight"].shape == (NUM_CLASSES, 512)


USER_MODULE = '''
import torch.nn as nn

def build(num_classes, width=8):
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
'''


@pytest.fixture(scope="module")
def user_model(folders):
    root, _ = folders
    (root / "my_models.py").write_text(USER_MODULE)
    sys.path.insert(0, str(root))
    try:
        import my_models
    finally:
        sys.path.remove(str(root))
    torch.manual_seed(2)
    model = _train(my_models.build(NUM_CLASSES, width=4), np.random.default_rng(2),
                   lambda x: x, steps=5)
    save_file(model.state_dict(), str(root / "user.safetensors"))
    return root, model


def test_user_builder_from_a_temporary_module(user_model, monkeypatch, capsys):
    root, model = user_model
    monkeypatch.chdir(root)
    assert main(_cli(root, "my_models:build", "user.safetensors", "user_out.safetensors",
                     "--arch-kwargs", "width: 4")) == 0
    assert sorted(load_file(str(root / "user_out.safetensors"))) == sorted(model.state_dict())
    assert main(_cli(root, f"{root / 'my_models.py'}:build", "user.safetensors",
                     "user_out2.safetensors", "--arch-kwargs", "{width: 4}")) == 0
    capsys.readouterr()
    assert main(_cli(root, "my_models:build", "user.safetensors", "never.safetensors")) == 2
    err = capsys.readouterr().err          # width 8 by default: the shapes say what is wrong
    assert "0.weight: weights (4, 3, 3, 3), model (8, 3, 3, 3)" in err
    assert not (root / "never.safetensors").exists()


def test_export_programs_round_trip_and_need_their_arch(user_model, monkeypatch, capsys):
    root, model = user_model
    monkeypatch.chdir(root)
    batch = torch.zeros(2, 3, SIZE, SIZE)
    program = torch.export.export(model, (batch,),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    torch.export.save(program, root / "user.pt2")
    assert main(_cli(root, "my_models:build", "user.pt2", "user_out.pt2",
                     "--arch-kwargs", "width: 4")) == 0
    purified = torch.export.load(str(root / "user_out.pt2"))
    assert list(purified.state_dict) == list(program.state_dict)
    out = purified.module()(torch.rand(5, 3, SIZE, SIZE))           # the batch stays dynamic
    assert out.shape == (5, NUM_CLASSES)
    capsys.readouterr()
    args = _cli(root, "x", "user.pt2", "never.pt2")
    args[0:2] = []                                                   # no --arch
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "ATen graph" in err and "--arch" in err and not (root / "never.pt2").exists()


class Evil:
    def __reduce__(self):
        return (print, ("this would have run code",))


def test_code_executing_pickles_are_refused_also_inside_pt2(user_model, monkeypatch, capsys):
    root, model = user_model
    torch.save({"weight": Evil()}, root / "evil.pth")
    assert main(_cli(root, "torchvision:resnet18", "evil.pth", "never.safetensors")) == 2
    assert "refusing to load" in capsys.readouterr().err
    program = torch.export.export(model, (torch.zeros(2, 3, SIZE, SIZE),))
    torch.export.save(program, root / "clean.pt2")
    with zipfile.ZipFile(root / "clean.pt2") as src, \
            zipfile.ZipFile(root / "evil.pt2", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("sample_inputs/model.pt"):
                import io
                buffer = io.BytesIO()
                torch.save(((Evil(),), {}), buffer)
                data = buffer.getvalue()
            dst.writestr(item, data)
    monkeypatch.chdir(root)
    assert main(_cli(root, "my_models:build", "evil.pt2", "never.pt2",
                     "--arch-kwargs", "width: 4")) == 2
    captured = capsys.readouterr()
    assert "refusing to load" in captured.err
    assert "this would have run code" not in captured.out + captured.err
    assert not (root / "never.pt2").exists()


def _mixed_sizes(root):
    folder = root / "mixed"
    if not folder.exists():
        for c in range(NUM_CLASSES):
            (folder / str(c)).mkdir(parents=True)
            for i in range(2):
                size = SIZE if i == 0 else 24
                PIL.fromarray(np.full((size, size, 3), 40 * c, np.uint8)).save(
                    folder / str(c) / f"{i}.png")
    return folder


def _few(root):
    folder = root / "few"
    if not folder.exists():
        for c in range(NUM_CLASSES):
            (folder / str(c)).mkdir(parents=True)
            PIL.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(folder / str(c) / "0.png")
    return folder


def _extra_class(root):
    folder = root / "extra"
    if not folder.exists():
        for c in range(NUM_CLASSES + 1):
            (folder / str(c)).mkdir(parents=True)
            for i in range(2):
                PIL.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(
                    folder / str(c) / f"{i}.png")
    return folder


@pytest.mark.parametrize("change, messages", [
    ({"--num-classes": "4"}, ["fc.weight: weights (3, 512), model (4, 512)",
                              "--arch torchvision:resnet18 --num-classes 3"]),
    ({"--arch": "torchvision:resnet34"}, ["missing from the weights",
                                          "the weights fit: ", "--arch torchvision:resnet18"]),
    ({"--arch": "resnet18"}, ["conv1.weight: weights (64, 3, 7, 7), model (64, 3, 3, 3)",
                              "--arch torchvision:resnet18"]),
    ({"--normalize": "0.5,0.5,0.5"}, ["--normalize got 3 number(s) for 3-channel images"]),
    ({"--normalize": "cifar11"}, ["neither a preset"]),
    ({"--clean-dir": _extra_class}, ["class folder(s) ['3'] do not map to a class index in 0..2"]),
    ({"--clean-dir": _few}, ["--clean-dir has 3 images; at least 2 per class are needed "
                             "(2 × 3 classes = 6)"]),
    ({"--clean-dir": _mixed_sizes}, ["differ in size", "--image-size 32"]),
    ({"--defense": "abl"}, ["training-time defense"]),
    ({"--defense": "nfx"}, ["Did you mean 'nft'"]),
    ({"--set": "nft.epoch=3"}, ["Did you mean 'epochs'"]),
    ({"--set": "fp.epochs=3"}, ["'fp' is not a defense of this run"]),
    ({"--arch": "torchvision:resnet81"}, ["Did you mean resnet18"]),
    ({"--arch": "timm:vit_tiny_patch16_22"}, ["timm has no model"]),
])
def test_bad_input_is_one_clear_error_and_writes_nothing(folders, capsys, change, messages):
    root, _ = folders
    if "timm:" in change.get("--arch", ""):
        pytest.importorskip("timm")
    args = _cli(root, "torchvision:resnet18", "resnet18.safetensors", "bad.safetensors",
                "--normalize", "cifar10")
    for flag, value in change.items():
        value = str(value(root)) if callable(value) else value
        if flag in args and flag != "--set":
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err
    for message in messages:
        assert message in err
    assert err.count("error:") == 1
    assert not list(root.glob("bad*"))


def test_the_script_and_the_console_command_still_run(folders):
    root, _ = folders
    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "benchmarks.practitioner", *_cli(
        root, "torchvision:resnet18", "resnet18.safetensors", "s.safetensors", "--normalize",
        "1,2,3,4")], capture_output=True, text=True, timeout=120, cwd=repo)
    assert result.returncode == 2 and "--normalize got 4 number(s)" in result.stderr
    import tomllib
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["nft-suite"] == "benchmarks.cli:main"
    assert cli_main(["nonsense"]) == 2


def test_api_refuses_normalised_images_and_tiny_clean_sets(folders):
    from benchmarks.practitioner import PractitionerInputError

    root, model = folders
    images, labels = _read(root)
    normalised = (images.float() / 255 - CIFAR_MEAN) / CIFAR_STD
    with pytest.raises(PractitionerInputError, match="un-normalised"):
        purify(model, normalised, labels, normalize="cifar10", progress=False)
    with pytest.raises(PractitionerInputError, match="at least 2 per class"):
        purify(model, images[:3], labels[:3], normalize="cifar10", progress=False)
    with pytest.raises(PractitionerInputError, match="2 mean"):
        purify(model, images, labels, normalize=((0.5, 0.5), (0.2, 0.2)), progress=False)


def test_victim_script_plants_badnets_and_writes_the_practitioner_folders(tmp_path, monkeypatch):
    from benchmarks.studies import practitioner_victim as victim

    x = torch.full((2, 3, 8, 8), 7, dtype=torch.uint8)
    stamped = victim.stamp(x)
    assert torch.equal(stamped[..., :-3, :], x[..., :-3, :])
    assert torch.equal(stamped[..., :, :-3], x[..., :, :-3])
    assert stamped[0, :, -1, -1].tolist() == [255] * 3 and stamped[0, 0, -1, -2] == 0

    class FakeCIFAR10:                 # torchvision's dataset, without the download
        classes = ["airplane", "automobile", "bird"]

        def __init__(self, root, train, download):
            rng = np.random.default_rng(int(train))
            self.targets = [i % 3 for i in range(12 if train else 9)]
            self.data = np.stack([_image(rng, t) for t in self.targets])

    monkeypatch.setattr("torchvision.datasets.CIFAR10", FakeCIFAR10)
    out = tmp_path / "victim"
    assert victim.main(["--data", str(tmp_path / "download"), "--out", str(out), "--epochs", "1",
                        "--batch-size", "4", "--clean-per-class", "2",
                        "--test-per-class", "1"]) == 0
    info = json.loads((out / "victim.json").read_text())
    assert info["poisoned_images"] == 1 and info["train_images"] == 12
    state = load_file(str(out / "victim.safetensors"))
    torchvision.models.resnet18(num_classes=10).load_state_dict(state)
    assert sorted(p.parent.name for p in (out / "clean").glob("*/*.png")) == \
        ["airplane"] * 2 + ["automobile"] * 2 + ["bird"] * 2
    assert len(list((out / "test").glob("*/*.png"))) == 3
    triggered = sorted((out / "triggered").glob("*.png"))   # the non-target test images
    assert [p.name.split("_")[0] for p in triggered] == ["automobile", "bird"]
    assert np.array(PIL.open(triggered[0]))[-1, -1].tolist() == [255, 255, 255]
