"""Resumable training (core.train_state via fit's checkpoint_dir): a run interrupted after epoch
k and rerun gives bit for bit the weights and loss curve of an uninterrupted run, through fit and
through the runner's victim training."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import core.train_state as train_state
from core.classification import ClassificationAdapter
from core.data import TensorData
from core.training import TrainConfig, fit


class Toy(ClassificationAdapter):
    name = "toy"

    def __init__(self) -> None:
        super().__init__()
        self.num_classes = 3

    def load_splits(self, *args, **kwargs):  # pragma: no cover - not used
        raise NotImplementedError


class Interrupted(RuntimeError):
    pass


def _data(n: int = 96) -> TensorData:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, 4, generator=g)
    return TensorData(x, (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long())


def _model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(16, 3))


class Noise:
    """An augmentation drawing from the run's generator every step (no draw-ahead)."""

    def __call__(self, inputs, targets, generator):
        return inputs + 0.1 * torch.randn(inputs.shape, generator=generator), targets


class DrawAheadNoise(Noise):
    """The same, drawn ahead for every step (the loop's draw/apply path)."""

    def draw(self, n, generator):
        return torch.randn(n, 4, generator=generator)

    def apply(self, inputs, targets, drawn):
        return inputs + 0.1 * drawn, targets


CONFIGS = {
    "sgd_cosine": TrainConfig(epochs=5, batch_size=16, lr=0.1, progress=False),
    "airbench_recipe": TrainConfig(epochs=5, batch_size=16, lr=0.2, momentum=0.85, nesterov=True,
                                   weight_decay=1e-3, norm_lr_scale=8.0, lr_schedule="triangle",
                                   label_smoothing=0.2, lookahead_every=3, progress=False),
    "adam_warmup_clip": TrainConfig(epochs=5, batch_size=16, lr=1e-2, optimizer="adam",
                                    warmup_steps=7, grad_clip=1.0, progress=False),
}


def _interrupt_after_epoch(monkeypatch, epoch: int) -> None:
    real = train_state.save

    def save_then_die(directory, **kwargs):
        path = real(directory, **kwargs)
        if kwargs["epoch"] == epoch:
            raise Interrupted(f"killed after epoch {epoch}")
        return path
    monkeypatch.setattr(train_state, "save", save_then_die)


@pytest.mark.parametrize("augmentation", [Noise, DrawAheadNoise])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_an_interrupted_fit_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, name,
                                                                augmentation):
    config, adapter = CONFIGS[name], Toy()
    reference = _model()
    expected = fit(reference, adapter, _data(), config, "cpu", seed=4,
                   augmentation=augmentation())

    folder = tmp_path / "ckpt"
    with monkeypatch.context() as patch:
        _interrupt_after_epoch(patch, 2)
        with pytest.raises(Interrupted):
            fit(_model(), adapter, _data(), config, "cpu", seed=4,
                augmentation=augmentation(), checkpoint_dir=folder)
    state = json.loads((folder / train_state.STATE_FILE).read_text())
    assert state["epoch"] == 2 and state["step"] == 2 * (96 // 16)
    assert [p.name for p in folder.glob("*.safetensors")] == ["epoch-0002.safetensors"]

    resumed_model = _model()          # a fresh process would build the model from scratch
    resumed = fit(resumed_model, adapter, _data(), config, "cpu", seed=4,
                  augmentation=augmentation(), checkpoint_dir=folder)
    assert resumed["resumed_from_epoch"] == 2
    assert resumed["loss_curve"] == expected["loss_curve"]
    assert len(resumed["loss_curve"]) == resumed["steps"] == 5 * (96 // 16)
    for (key, want), (_, got) in zip(reference.state_dict().items(),
                                     resumed_model.state_dict().items()):
        assert torch.equal(want, got), key


def test_a_checkpointed_run_without_interruption_changes_nothing(tmp_path):
    config = CONFIGS["airbench_recipe"]
    plain, checked = _model(), _model()
    a = fit(plain, Toy(), _data(), config, "cpu", seed=0, augmentation=Noise())
    b = fit(checked, Toy(), _data(), config, "cpu", seed=0, augmentation=Noise(),
            checkpoint_dir=tmp_path / "ckpt")
    assert a["loss_curve"] == b["loss_curve"] and "resumed_from_epoch" not in b
    assert all(torch.equal(x, y) for x, y in zip(plain.state_dict().values(),
                                                 checked.state_dict().values()))
    # the last epoch's checkpoint is there; rerunning finds it and trains no further steps
    again = _model()
    c = fit(again, Toy(), _data(), config, "cpu", seed=0, augmentation=Noise(),
            checkpoint_dir=tmp_path / "ckpt")
    assert c["resumed_from_epoch"] == 5 and c["loss_curve"] == a["loss_curve"]
    assert all(torch.equal(x, y) for x, y in zip(plain.state_dict().values(),
                                                 again.state_dict().values()))


def test_a_checkpoint_of_another_run_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "ckpt"
    with monkeypatch.context() as patch:
        _interrupt_after_epoch(patch, 1)
        with pytest.raises(Interrupted):
            fit(_model(), Toy(), _data(), CONFIGS["sgd_cosine"], "cpu", seed=0,
                augmentation=Noise(), checkpoint_dir=folder)
    with pytest.raises(train_state.ResumeMismatchError, match="delete that folder"):
        fit(_model(), Toy(), _data(), CONFIGS["sgd_cosine"], "cpu", seed=1,
            augmentation=Noise(), checkpoint_dir=folder)


VOLATILE = {"created", "timings_s", "hardware", "git", "versions"}


def test_an_interrupted_victim_resumes_to_the_same_record(tmp_path, monkeypatch):
    """The runner: a victim killed after epoch 1 of 3, rerun with the same command, gives the
    record an uninterrupted run gives (apart from times and the resumption note)."""
    from benchmarks.runner.cli import main

    fast = ["--preset", "smoke", "--attacks", "blend", "--defenses", "nft", "--no-progress",
            "--set", "data.test_size=200", "--set", "data.clean_per_class=5",
            "--set", "train.epochs=3",
            "--set", "defense_options.nft.iterations=5",
            "--set", "defense_options.nft.batch_size=16"]
    assert main([*fast, "--out", str(tmp_path / "whole")]) == 0
    out = tmp_path / "resumed"
    with monkeypatch.context() as patch:
        _interrupt_after_epoch(patch, 1)
        assert main([*fast, "--out", str(out)]) == 1      # the cell fails: error record
    partial = list((out / "cache" / "models").glob("*.partial"))
    assert len(partial) == 1 and (partial[0] / train_state.STATE_FILE).is_file()
    record_path = "records/synthetic/synthetic/tiny_cnn/blend/nft/seed0.json"
    assert not (out / record_path).exists()               # only an error record so far
    assert main([*fast, "--out", str(out)]) == 0
    assert not list((out / "cache" / "models").glob("*.partial"))   # removed once kept
    whole = json.loads((tmp_path / "whole" / record_path).read_text())
    resumed = json.loads((out / record_path).read_text())
    assert resumed["model_cache"].pop("resumed_from_epoch") == 1
    for record in (whole, resumed):
        for key in VOLATILE | {"command"}:
            record.pop(key, None)
        record["config"].pop("data_root", None)
    assert resumed == whole
    assert whole["before"]["clean_acc"] > 50 and whole["before"]["asr"] > 80   # a real victim
